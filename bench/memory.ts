/**
 * 4. Memory. (a) Heap per idle session actor: 10,000 passive actors in one ActorHost, measured
 * in a child process with --expose-gc (bench/memory-actors.ts), with a breakdown of what one
 * holds, and per activated actor. (b) Heap per active run in a worker: a RunWorker alone in a
 * child process (bench/memory-worker.ts) on its own queue, measured idle and with N runs in
 * flight (each has streamed its first word and goes on streaming), then after they ended.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InterruptionError } from '../src/index.js';
import { fleetLLM, removeFleet } from '../test/support/fleet.js';
import { API_KEY, drain, REDIS_URL, ROOT, type BenchEnv, type Names } from './env.js';
import { round } from './stats.js';
import { table } from './table.js';
import type { Benchmark, BenchResult } from './types.js';

const run = promisify(execFile);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const MESSAGE = 'bench-memory';

interface ActorFigures {
  sessions: number;
  idleBytesPerActor: number;
  idleTotalBytes: number;
  activated: number;
  activeBytesPerActor: number;
  breakdownBytes: Record<string, number>;
}

interface HeapReport {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
  running: number;
}

async function idleActors(count: number, names: Names): Promise<ActorFigures> {
  const { stdout } = await run(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      here('./memory-actors.ts'),
      String(count),
      REDIS_URL,
      names.prefix,
      names.queue,
    ],
    { cwd: ROOT, maxBuffer: 2 ** 20, timeout: 120_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ActorFigures;
}

class WorkerChild {
  private waiting: ((report: HeapReport) => void) | null = null;
  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: { type: string } & HeapReport) => {
      if (message.type === 'heap') this.waiting?.(message);
    });
  }

  static async start(names: Names, baseURL: string, concurrency: number): Promise<WorkerChild> {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', here('./memory-worker.ts')],
      {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: {
          ...process.env,
          REDIS_URL,
          OPENAI_API_KEY: API_KEY,
          OPENAI_BASE_URL: baseURL,
          ASSISTANT_PREFIX: names.prefix,
          ASSISTANT_QUEUE: names.queue,
          WORKER_CONCURRENCY: String(concurrency),
        },
      },
    );
    process.once('exit', () => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`memory worker exited with ${code}`)));
    });
    return new WorkerChild(child);
  }

  measure(): Promise<HeapReport> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.child.send({ type: 'measure' });
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'close' });
    await exited;
  }
}

async function activeRuns(env: BenchEnv, count: number) {
  const names: Names = { prefix: `${env.names.prefix}-mem`, queue: `${env.names.queue}-mem` };
  const worker = await WorkerChild.start(names, env.baseURL, count + 10);
  try {
    const llms = Array.from({ length: count }, (_, i) =>
      fleetLLM('assistants', names, { room: 'bench-mem', participant: `m${i}` }),
    );
    // Threads created and the worker's code paths warm, twice, so the baseline has them.
    for (let round = 0; round < 2; round++)
      await Promise.all(llms.map((llm) => drain(llm.process('warm up'))));
    const idle = await worker.measure();

    let started = 0;
    let allStarted!: () => void;
    const streaming = new Promise<void>((resolve, reject) => {
      allStarted = resolve;
      setTimeout(
        () => reject(new Error(`${started} of ${count} runs streaming after 60 s`)),
        60_000,
      ).unref();
    });
    const streams = llms.map(async (llm) => {
      let first = true;
      try {
        for await (const _chunk of llm.process(MESSAGE)) {
          if (first && ++started === count) allStarted();
          first = false;
        }
      } catch (error) {
        if (!(error instanceof InterruptionError)) throw error;
      }
    });
    await streaming;
    const active = await worker.measure();
    await Promise.all(llms.map((llm) => llm.interrupt()));
    await Promise.all(streams);
    // Let the worker finish its bookkeeping for the cancelled runs.
    let after = await worker.measure();
    for (let i = 0; i < 50 && after.running > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await worker.measure();
    }
    await Promise.all(llms.map((llm) => llm.aclose()));
    return { runs: count, idle, active, after };
  } finally {
    await worker.close();
    await removeFleet(names);
  }
}

export const memory: Benchmark = {
  name: 'memory',
  title: 'Memory per idle session actor and per active run',
  scripts: [
    {
      message: MESSAGE,
      script: {
        // Slow enough that every run is still streaming when the heap is measured.
        tokenDelayMs: 250,
        steps: [{ text: Array.from({ length: 400 }, (_, i) => `w${i}`).join(' ') }],
      },
    },
  ],
  async run(env: BenchEnv): Promise<BenchResult> {
    const sessions = 10_000;
    const runs = env.quick ? 200 : 1000;
    env.log(`memory: ${sessions} idle actors`);
    const actors = await idleActors(sessions, env.names);
    env.log(`memory: ${runs} active runs in a worker`);
    const w = await activeRuns(env, runs);
    const perRun = (w.active.heapUsed - w.idle.heapUsed) / runs;
    const perRunOffHeap = (w.active.external - w.idle.external) / runs;
    const perRunRss = (w.active.rss - w.idle.rss) / runs;
    const kb = (bytes: number) => round(bytes / 1024, 2);
    const b = actors.breakdownBytes;
    return {
      tables: [
        table(
          ['heap (KB)', 'count', 'per item', 'total MB'],
          [
            [
              'idle session actor in an ActorHost',
              actors.sessions,
              kb(actors.idleBytesPerActor),
              round(actors.idleTotalBytes / 2 ** 20, 1),
            ],
            ['  of which: identity { room, participant }', null, kb(b.identity!), null],
            ['  identity + session id', null, kb(b.identityAndSid!), null],
            ['  SessionActor (with identity, sid)', null, kb(b.sessionActor!), null],
            ['  SessionActor + ActorLLM', null, kb(b.actorLLM!), null],
            [
              'activated actor (AssistantLLM, fleet transport, no run)',
              actors.activated,
              kb(actors.activeBytesPerActor),
              null,
            ],
            [
              'active run in a worker (heap)',
              runs,
              kb(perRun),
              round((w.active.heapUsed - w.idle.heapUsed) / 2 ** 20, 1),
            ],
            ['active run in a worker (off-heap: external)', runs, kb(perRunOffHeap), null],
            ['active run in a worker (RSS)', runs, kb(perRunRss), null],
          ],
        ),
      ],
      data: {
        actors,
        worker: {
          runs,
          idle: w.idle,
          active: w.active,
          afterRunsEnded: w.after,
          heapBytesPerActiveRun: Math.round(perRun),
          externalBytesPerActiveRun: Math.round(perRunOffHeap),
          rssBytesPerActiveRun: Math.round(perRunRss),
        },
      },
      targets: [
        {
          target: `heap per idle session actor ≤ 4 KB (${sessions.toLocaleString('en-US')} in one host)`,
          measured: `${(actors.idleBytesPerActor / 1024).toFixed(2)} KB`,
          met: actors.idleBytesPerActor <= 4096,
        },
      ],
      notes: [
        `worker heap: idle ${(w.idle.heapUsed / 2 ** 20).toFixed(1)} MB, ${runs} runs in flight ${(w.active.heapUsed / 2 ** 20).toFixed(1)} MB, after they ended ${(w.after.heapUsed / 2 ** 20).toFixed(1)} MB`,
      ],
    };
  },
};
