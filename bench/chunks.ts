/**
 * 2. Chunk latency and throughput with 1, 100 and 1,000 concurrent streaming sessions, fleet
 * mode next to single-process, and next to `redis-benchmark` for the transport's commands.
 *
 * Per-chunk delay: every word the server streams is unique (`<session tag>.<index>`); the
 * ServerClock stamps each `thread.message.delta` as the server appends it to the run's SSE
 * stream, and the room stamps the same word as process() yields it. Delay = arrival - send, both
 * on this process's monotonic clock: it covers the server's SSE write, the worker (the SDK's
 * parsing, XADD), Redis, the room's XREAD and the AssistantLLM's queue. Sessions start spread
 * over up to a second. "Steady" counts only the words sent once every session was streaming.
 */
import { performance } from 'node:perf_hooks';
import type { AssistantLLM } from '../src/index.js';
import { cpuSnapshot, cpuUse, type CpuUse } from './cpu.js';
import { deltaText, drain, type BenchEnv } from './env.js';
import { transportCommands, xaddBenchmark, type RedisBenchRow } from './redis-benchmark.js';
import { round, roundSummary, sleep, summarize, type Summary } from './stats.js';
import { table } from './table.js';
import type { Benchmark, BenchResult } from './types.js';

/** The fixed pace: milliseconds before each streamed word, i.e. 50 words/s per session. */
export const CHUNK_PACE_MS = 20;
/** A slower pace (4 words/s, still above speech), to show what 1,000 sessions fit in here. */
const SLOW_PACE_MS = 250;
const PACES = [CHUNK_PACE_MS, SLOW_PACE_MS, 0];

type Mode = 'fleet' | 'single';

export interface LevelSpec {
  sessions: number;
  paceMs: number;
  words: number;
}

export interface LevelResult extends LevelSpec {
  mode: Mode;
  chunks: number;
  failedRuns: number;
  /** What the server offers with every session streaming: sessions x 1000 / pace. */
  offeredPerSecond: number | null;
  /** Words the server actually sent per second (central 80 %): below the offer when it is CPU-starved. */
  sentPerSecond: number;
  /** Chunks per second over the central 80 % of arrivals (10th to 90th percentile in time). */
  chunksPerSecond: number;
  delay: Summary;
  /** Delay of the words sent once every session was streaming. */
  steadyDelay: Summary;
  /** process() to the first chunk, per session: queue wait and run start under this load. */
  firstChunk: Summary;
  cpu: CpuUse;
}

function words(message: string): string {
  const [, , tag, count] = message.split(' ');
  return Array.from({ length: Number(count) }, (_, k) => `${tag}.${k}`).join(' ');
}

let levelCounter = 0;

export async function level(env: BenchEnv, mode: Mode, spec: LevelSpec): Promise<LevelResult> {
  const { sessions, paceMs, words: wordsPerRun } = spec;
  const id = `l${++levelCounter}${mode[0]}`;
  const llms: AssistantLLM[] = Array.from({ length: sessions }, (_, i) =>
    mode === 'fleet' ? env.fleetLLM(`bench-chunks-${id}`, `s${i}`) : env.localLLM(),
  );
  // Each session's first run creates its thread; not measured.
  await Promise.all(llms.map((llm) => drain(llm.process('warm up'))));

  const sent = new Map<string, number>();
  const stop = env.clock.onEvent((event, at) => {
    const text = deltaText(event);
    if (text !== undefined) sent.set(text.trim(), at);
  });
  const capacity = sessions * wordsPerRun;
  const sentAt = new Float64Array(capacity);
  const arrivals = new Float64Array(capacity);
  let count = 0;
  let failedRuns = 0;
  const startedAt = new Float64Array(sessions).fill(NaN);
  const firstAt = new Float64Array(sessions).fill(NaN);
  const spreadMs = Math.min(1000, sessions);
  const cpuBefore = await cpuSnapshot(env.worker.pid);
  await Promise.all(
    llms.map(async (llm, i) => {
      await sleep((spreadMs * i) / sessions);
      startedAt[i] = performance.now();
      try {
        const message = `bench-chunks ${paceMs} ${id}s${i} ${wordsPerRun}`;
        for await (const chunk of llm.process(message)) {
          const now = performance.now();
          const key = chunk.trim();
          const at = sent.get(key);
          if (at === undefined) throw new Error(`no send time for ${JSON.stringify(chunk)}`);
          sent.delete(key);
          sentAt[count] = at;
          arrivals[count] = now;
          count++;
          if (Number.isNaN(firstAt[i]!)) firstAt[i] = now;
        }
      } catch (error) {
        failedRuns++;
        env.log(`chunks: run failed: ${(error as Error).message}`);
      }
    }),
  );
  const cpuAfter = await cpuSnapshot(env.worker.pid);
  stop();
  await Promise.all(llms.map((llm) => llm.aclose()));

  const delays = new Float64Array(count);
  const steady: number[] = [];
  const allStreaming = Math.max(...firstAt);
  for (let k = 0; k < count; k++) {
    delays[k] = arrivals[k]! - sentAt[k]!;
    if (sentAt[k]! >= allStreaming) steady.push(delays[k]!);
  }
  // Rates over the central 80 % of the sends and arrivals, leaving out the ramp up and down.
  const lo = Math.floor(count * 0.1);
  const hi = Math.max(lo + 1, Math.ceil(count * 0.9) - 1);
  const rate = (times: Float64Array) => {
    const sorted = times.subarray(0, count).sort();
    return (hi - lo) / ((sorted[hi]! - sorted[lo]!) / 1000);
  };
  return {
    ...spec,
    mode,
    chunks: count,
    failedRuns,
    offeredPerSecond: paceMs > 0 ? (sessions * 1000) / paceMs : null,
    sentPerSecond: rate(sentAt),
    chunksPerSecond: rate(arrivals),
    delay: summarize(delays),
    steadyDelay: summarize(steady),
    firstChunk: summarize(Array.from(firstAt, (t, i) => t - startedAt[i]!)),
    cpu: cpuUse(cpuBefore, cpuAfter),
  };
}

/** CPU microseconds per delivered chunk: room+server / worker / redis. */
function perChunk(r: LevelResult): string {
  const us = (seconds: number) => ((seconds * 1e6) / r.chunks).toFixed(0);
  return `${us(r.cpu.room)} / ${us(r.cpu.worker)} / ${us(r.cpu.redis)}`;
}

function cores(r: LevelResult): string {
  const c = (seconds: number) => (seconds / r.cpu.seconds).toFixed(2);
  return `${c(r.cpu.room)} / ${c(r.cpu.worker)} / ${c(r.cpu.redis)}`;
}

function median(values: number[]): number {
  return summarize(values).p50;
}

export const chunks: Benchmark = {
  name: 'chunks',
  title: 'Chunk latency and throughput with concurrent sessions',
  scripts: PACES.map((pace) => ({
    message: new RegExp(`^bench-chunks ${pace} `),
    script: { tokenDelayMs: pace, steps: [{ text: (ctx) => words(ctx.message) }] },
  })),
  workerConcurrency: (quick) => (quick ? 300 : 1000) + 10,
  async run(env: BenchEnv): Promise<BenchResult> {
    const top = env.quick ? 300 : 1000;
    const n = env.quick ? 100 : 150;
    const specs: LevelSpec[] = [
      { sessions: 1, paceMs: CHUNK_PACE_MS, words: n },
      { sessions: 100, paceMs: CHUNK_PACE_MS, words: n },
      { sessions: top, paceMs: CHUNK_PACE_MS, words: n },
      { sessions: top, paceMs: SLOW_PACE_MS, words: env.quick ? 16 : 40 },
    ];

    env.log('chunks: redis-benchmark');
    const redisRows: RedisBenchRow[] = await transportCommands(env.names.prefix, top, env.quick);

    const results: LevelResult[] = [];
    for (const spec of specs) {
      for (const mode of ['fleet', 'single'] as const) {
        env.log(`chunks: ${spec.sessions} sessions, ${spec.paceMs} ms/word, ${mode}`);
        results.push(await level(env, mode, spec));
      }
    }
    // Capacity: no pace at all, so the server streams as fast as the pipeline takes it. Repeated,
    // each time right after redis-benchmark's XADD, so that each ratio is taken side by side.
    const burst: LevelSpec = env.quick
      ? { sessions: 50, paceMs: 0, words: 200 }
      : { sessions: 100, paceMs: 0, words: 300 };
    const repeats = env.quick ? 2 : 3;
    const capacity: Array<{ xadd: number; fleet: LevelResult; single: LevelResult }> = [];
    for (let r = 0; r < repeats; r++) {
      env.log(
        `chunks: capacity ${r + 1} of ${repeats}: XADD, then ${burst.sessions} sessions unpaced`,
      );
      const xadd = (await xaddBenchmark(env.names.prefix, env.quick)).requestsPerSecond;
      const fleet = await level(env, 'fleet', burst);
      const single = await level(env, 'single', burst);
      capacity.push({ xadd, fleet, single });
    }
    const ratios = capacity.map((c) => c.fleet.chunksPerSecond / c.xadd);
    const ratio = median(ratios);
    const medianXadd = median(capacity.map((c) => c.xadd));
    const medianFleet = median(capacity.map((c) => c.fleet.chunksPerSecond));
    const medianSingle = median(capacity.map((c) => c.single.chunksPerSecond));
    const headline = results.find(
      (r) => r.mode === 'fleet' && r.sessions === top && r.paceMs === CHUNK_PACE_MS,
    )!;

    const tables = [
      table(
        [
          'mode',
          'sessions',
          'ms/word',
          'offered/s',
          'sent/s',
          'delivered/s',
          'delay p50',
          'p95',
          'p99',
          'max',
          'steady p99',
          'first chunk p50',
          'p99',
          'cores: room+server / worker / redis',
          'CPU µs per chunk',
        ],
        results.map((r) => [
          r.mode,
          r.sessions,
          r.paceMs,
          r.offeredPerSecond,
          r.sentPerSecond,
          r.chunksPerSecond,
          r.delay.p50,
          r.delay.p95,
          r.delay.p99,
          r.delay.max,
          r.steadyDelay.p99,
          r.firstChunk.p50,
          r.firstChunk.p99,
          cores(r),
          perChunk(r),
        ]),
      ),
      table(
        [
          `capacity, ${burst.sessions} sessions x ${burst.words} words, no pace`,
          'redis-benchmark XADD/s',
          'fleet chunks/s',
          'fleet / XADD',
          'single-process chunks/s',
          'fleet cores: room+server / worker / redis',
          'fleet CPU µs per chunk',
        ],
        [
          ...capacity.map((c, r) => [
            `run ${r + 1}`,
            c.xadd,
            c.fleet.chunksPerSecond,
            `${((c.fleet.chunksPerSecond / c.xadd) * 100).toFixed(0)} %`,
            c.single.chunksPerSecond,
            cores(c.fleet),
            perChunk(c.fleet),
          ]),
          ['median', medianXadd, medianFleet, `${(ratio * 100).toFixed(0)} %`, medianSingle],
        ],
      ),
      table(
        ['redis-benchmark (before the levels)', 'clients', 'requests/s', 'p50 ms', 'p99 ms'],
        redisRows.map((r) => [r.name, r.clients, r.requestsPerSecond, r.p50Ms, r.p99Ms]),
      ),
    ];
    const json = (r: LevelResult) => ({
      ...r,
      sentPerSecond: round(r.sentPerSecond, 0),
      chunksPerSecond: round(r.chunksPerSecond, 0),
      delay: roundSummary(r.delay),
      steadyDelay: roundSummary(r.steadyDelay),
      firstChunk: roundSummary(r.firstChunk),
      cpu: {
        seconds: round(r.cpu.seconds, 2),
        room: round(r.cpu.room, 2),
        worker: round(r.cpu.worker, 2),
        redis: round(r.cpu.redis, 2),
      },
      cpuMicrosecondsPerChunk: perChunk(r),
    });
    return {
      tables,
      data: {
        paceMs: CHUNK_PACE_MS,
        levels: results.map(json),
        capacity: capacity.map((c) => ({
          xaddPerSecond: c.xadd,
          fleet: json(c.fleet),
          single: json(c.single),
        })),
        redisBenchmark: redisRows,
        fleetCapacityOverXadd: { median: round(ratio, 3), each: ratios.map((x) => round(x, 3)) },
      },
      targets: [
        {
          target: `${top} concurrent sessions at ${CHUNK_PACE_MS} ms/word: fleet p99 chunk delay ≤ 20 ms`,
          measured: `${headline.delay.p99.toFixed(1)} ms (steady ${headline.steadyDelay.p99.toFixed(1)} ms, ${headline.failedRuns} runs failed)`,
          met: headline.delay.p99 <= 20 && headline.failedRuns === 0 && top >= 1000,
        },
        {
          target: 'end-to-end chunk throughput ≥ 1/2 of redis-benchmark XADD (median of runs)',
          measured: `${Math.round(medianFleet)}/s vs ${Math.round(medianXadd)}/s (${(ratio * 100).toFixed(0)} %)`,
          met: ratio >= 0.5,
        },
      ],
      notes: [
        'chunk delay = arrival at the room - the server sending the same word; "steady" = words sent once every session was streaming; sessions start spread over min(1 s, sessions ms)',
        'offered/s: sessions x 1000 / pace; sent/s: what the local server managed to send (it shares this process and the 2 cores); delivered/s: chunks over the central 80 % of arrivals; first chunk: process() to the first chunk of each session (includes the queue wait under that load)',
        'cores: CPU seconds per second of each process during the level; room+server is this process, which also runs the local server; "CPU µs per chunk" divides each by the chunks delivered',
      ],
    };
  },
};
