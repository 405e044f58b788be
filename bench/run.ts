/**
 * The benchmark suite: `npm run bench` (full) or `npm run bench -- --quick` (under two minutes
 * without capacity, which adds three to five).
 * Every benchmark runs in this one invocation against the local OpenAI-compatible server in this
 * process, with a real worker child process and the Redis on 127.0.0.1:6379; the tables go to
 * stdout and everything measured to bench/results/latest.json.
 *
 *   --quick          fewer runs and sessions (100 TTFT rounds, 1/100/300 sessions, ...)
 *   --only a,b       run only these benchmarks (ttft, chunks, interrupt, tools, memory, capacity,
 *                    resume; capacity starts its own redis-server, workers and room process,
 *                    resume its own workers, which it kills)
 *   --out FILE       JSON output (default bench/results/latest.json)
 */
import { Redis } from 'ioredis';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EmulatorServer } from '../src/testing.js';
import { capacity } from './capacity.js';
import { chunks } from './chunks.js';
import { removeFleet, uniqueNames } from '../test/support/fleet.js';
import { makeEnv, REDIS_URL, ROOT, startWorkerProcess } from './env.js';
import { interrupt } from './interrupt.js';
import { memory } from './memory.js';
import { resume } from './resume.js';
import { table } from './table.js';
import { tools } from './tools.js';
import { ttft } from './ttft.js';
import type { Benchmark, BenchResult, TargetCheck } from './types.js';

const ALL: Benchmark[] = [ttft, chunks, interrupt, tools, memory, capacity, resume];

async function machine(): Promise<Record<string, string | number>> {
  const redis = new Redis(REDIS_URL);
  const info = await redis.info('server');
  redis.disconnect();
  let benchmarkVersion = 'not found';
  try {
    benchmarkVersion = execFileSync('redis-benchmark', ['--version']).toString().trim();
  } catch {
    // reported as "not found"
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    redisBenchmark: benchmarkVersion,
    loadAverageAtStart: os.loadavg()[0]!.toFixed(2),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      out: { type: 'string', default: resolve(ROOT, 'bench/results/latest.json') },
    },
    strict: true,
  });
  const quick = values.quick === true;
  const only = (values.only ?? []).flatMap((v) => v.split(',')).filter(Boolean);
  for (const name of only) {
    if (!ALL.some((b) => b.name === name))
      throw new Error(`--only: unknown benchmark ${name}; one of ${ALL.map((b) => b.name)}`);
  }
  const selected = only.length ? ALL.filter((b) => only.includes(b.name)) : ALL;
  const started = Date.now();
  const host = await machine();
  console.log(
    `bench ${quick ? '--quick' : '(full)'}: ${selected.map((b) => b.name).join(', ')}\n` +
      `${host.cores} x ${host.cpu}, ${host.memoryGiB} GiB, ${host.os}, Node ${host.node}, Redis ${host.redis}\n`,
  );

  const emulator = new EmulatorServer({
    scripts: selected.flatMap((b) => b.scripts),
    tokenDelayMs: 20,
    // The bench's ServerClock replaces the two arrays' push: stamped, and nothing kept.
    recordEvents: true,
    recordRequests: true,
  });
  const baseURL = await emulator.listen();
  const names = uniqueNames('bench');
  const concurrency = Math.max(50, ...selected.map((b) => b.workerConcurrency?.(quick) ?? 0));
  const worker = await startWorkerProcess(names, baseURL, concurrency);
  const env = makeEnv(quick, emulator, baseURL, names, worker);
  env.log(
    `server ${baseURL}, worker pid ${worker.pid} (concurrency ${concurrency}), ${names.prefix}`,
  );

  const results: Record<string, BenchResult | { error: string }> = {};
  const targets: Array<TargetCheck & { benchmark: string }> = [];
  try {
    for (const bench of selected) {
      const t0 = Date.now();
      env.log(`${bench.name}: ${bench.title}`);
      try {
        const result = await bench.run(env);
        results[bench.name] = result;
        targets.push(...result.targets.map((t) => ({ benchmark: bench.name, ...t })));
        console.log(`\n## ${bench.title} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
        for (const t of result.tables) console.log(`${t}\n`);
        for (const note of result.notes ?? []) console.log(`- ${note}`);
      } catch (error) {
        const message = (error as Error).stack ?? String(error);
        results[bench.name] = { error: message };
        console.log(`\n## ${bench.title}: FAILED\n\n${message}\n`);
      }
    }
  } finally {
    const code = await worker.stop();
    await emulator.close();
    const deleted = await removeFleet(names);
    env.log(`worker exited with ${code}; deleted ${deleted} keys under ${names.prefix}:*`);
  }

  if (targets.length > 0) {
    console.log('\n## Targets\n');
    console.log(
      table(
        ['benchmark', 'target', 'measured', 'met'],
        targets.map((t) => [t.benchmark, t.target, t.measured, t.met ? 'yes' : 'NO']),
      ),
    );
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`\nfinished in ${seconds.toFixed(1)} s`);
  const out = resolve(values.out!);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
        quick,
        seconds,
        machine: { ...host, loadAverageAtEnd: os.loadavg()[0]!.toFixed(2) },
        targets,
        results: Object.fromEntries(
          Object.entries(results).map(([k, v]) => [
            k,
            'error' in v ? v : { ...v, tables: undefined },
          ]),
        ),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${out}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
