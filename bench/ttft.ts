/**
 * 1. Time to first token, one run at a time: the bare `openai` SDK stream, a single-process
 * AssistantLLM and a fleet-mode AssistantLLM (Redis on loopback, one worker process), all on
 * the same local server and the same script. Modes are interleaved in a random order in every
 * round, so the machine's noise falls on all three alike.
 */
import OpenAI from 'openai';
import { performance } from 'node:perf_hooks';
import { EmulatorServer } from '../src/testing.js';
import type { AssistantLLM } from '../src/index.js';
import { API_KEY, type BenchEnv } from './env.js';
import {
  interleaved,
  round,
  roundSummary,
  shuffle,
  sleep,
  summarize,
  type Summary,
} from './stats.js';
import { table } from './table.js';
import type { Benchmark, BenchResult } from './types.js';

const MESSAGE = 'bench-ttft';
/** Milliseconds before each streamed word: the server's fixed pace. */
export const TTFT_PACE_MS = 5;
const TEXT = 'alpha beta gamma';
/** Idle time between two runs (any mode), as between two turns of a conversation. */
const GAP_MS = 5;

type Mode = 'sdk' | 'single' | 'fleet';
const MODES: Mode[] = ['sdk', 'single', 'fleet'];
const LABEL: Record<Mode, string> = {
  sdk: 'bare openai SDK stream',
  single: 'AssistantLLM, single process',
  fleet: 'AssistantLLM, fleet (Redis + worker process)',
};

interface Sample {
  ttft: number;
  total: number;
}

async function timeStream(stream: AsyncIterable<string>): Promise<Sample> {
  const t0 = performance.now();
  let ttft = NaN;
  for await (const _chunk of stream) {
    if (Number.isNaN(ttft)) ttft = performance.now() - t0;
  }
  return { ttft, total: performance.now() - t0 };
}

export const ttft: Benchmark = {
  name: 'ttft',
  title: 'Added time to first token',
  scripts: [{ message: MESSAGE, script: { tokenDelayMs: TTFT_PACE_MS, steps: [{ text: TEXT }] } }],
  async run(env: BenchEnv): Promise<BenchResult> {
    const runs = env.quick ? 100 : 500;
    const warmup = env.quick ? 10 : 30;
    const client = new OpenAI({ apiKey: API_KEY, baseURL: env.baseURL, maxRetries: 0 });
    const thread = await client.beta.threads.create({});
    const single = env.localLLM();
    const fleet = env.fleetLLM('bench-ttft', `p-${process.pid}`);

    const sdkRun = async (): Promise<Sample> => {
      const t0 = performance.now();
      let ttftMs = NaN;
      const stream = client.beta.threads.runs.stream(thread.id, {
        assistant_id: EmulatorServer.defaultAssistantId,
        additional_messages: [{ role: 'user', content: MESSAGE }],
      });
      for await (const event of stream) {
        if (event.event === 'thread.message.delta' && Number.isNaN(ttftMs))
          ttftMs = performance.now() - t0;
      }
      return { ttft: ttftMs, total: performance.now() - t0 };
    };
    const llmRun = (llm: AssistantLLM) => () => timeStream(llm.process(MESSAGE));
    const runners: Record<Mode, () => Promise<Sample>> = {
      sdk: sdkRun,
      single: llmRun(single),
      fleet: llmRun(fleet),
    };
    const samples = await interleaved(
      MODES,
      { rounds: runs, warmup, gapMs: GAP_MS },
      (mode) => runners[mode](),
      (done) => {
        if (done % 100 === 0) env.log(`ttft: ${done} of ${runs} rounds`);
      },
    );

    // Back to back: the next message sent the moment the previous reply ended (no gap).
    const b2bRuns = env.quick ? 30 : 100;
    const backToBack: Record<'single' | 'fleet', Sample[]> = { single: [], fleet: [] };
    for (let i = 0; i < b2bRuns; i++) {
      for (const mode of shuffle(['single', 'fleet'] as const)) {
        backToBack[mode].push(await runners[mode]());
        backToBack[mode].push(await runners[mode]());
        await sleep(GAP_MS);
      }
    }
    await Promise.all([single.aclose(), fleet.aclose()]);

    const ttfts = Object.fromEntries(
      MODES.map((m) => [m, summarize(samples[m].map((s) => s.ttft))]),
    ) as Record<Mode, Summary>;
    const totals = Object.fromEntries(
      MODES.map((m) => [m, summarize(samples[m].map((s) => s.total))]),
    ) as Record<Mode, Summary>;
    // Only the second run of each back-to-back pair started right after a run ended.
    const b2b = {
      single: summarize(backToBack.single.filter((_, i) => i % 2 === 1).map((s) => s.ttft)),
      fleet: summarize(backToBack.fleet.filter((_, i) => i % 2 === 1).map((s) => s.ttft)),
    };

    const added = {
      p50: ttfts.fleet.p50 - ttfts.single.p50,
      p95: ttfts.fleet.p95 - ttfts.single.p95,
      p99: ttfts.fleet.p99 - ttfts.single.p99,
    };
    const rows = MODES.map((m) => [
      LABEL[m],
      ttfts[m].n,
      ttfts[m].p50,
      ttfts[m].p95,
      ttfts[m].p99,
      ttfts[m].max,
      ttfts[m].p50 - ttfts.single.p50,
      ttfts[m].p99 - ttfts.single.p99,
      totals[m].p50,
    ]);
    const tables = [
      table(
        [
          `TTFT (ms), pace ${TTFT_PACE_MS} ms/word, ${GAP_MS} ms between runs`,
          'runs',
          'p50',
          'p95',
          'p99',
          'max',
          'p50 vs single',
          'p99 vs single',
          'whole run p50',
        ],
        rows,
      ),
      table(
        ['TTFT (ms), next message sent as the reply ends', 'runs', 'p50', 'p95', 'p99', 'max'],
        (['single', 'fleet'] as const).map((m) => [
          LABEL[m],
          b2b[m].n,
          b2b[m].p50,
          b2b[m].p95,
          b2b[m].p99,
          b2b[m].max,
        ]),
      ),
    ];
    return {
      tables,
      data: {
        paceMs: TTFT_PACE_MS,
        gapMs: GAP_MS,
        runs,
        ttft: Object.fromEntries(MODES.map((m) => [m, roundSummary(ttfts[m])])),
        wholeRun: Object.fromEntries(MODES.map((m) => [m, roundSummary(totals[m])])),
        addedByFleet: { p50: round(added.p50), p95: round(added.p95), p99: round(added.p99) },
        addedBySingleOverSdk: {
          p50: round(ttfts.single.p50 - ttfts.sdk.p50),
          p99: round(ttfts.single.p99 - ttfts.sdk.p99),
        },
        backToBack: {
          runs: b2bRuns,
          single: roundSummary(b2b.single),
          fleet: roundSummary(b2b.fleet),
        },
      },
      targets: [
        {
          target: 'fleet adds ≤ 2 ms to TTFT at p50 (over single-process)',
          measured: `${added.p50.toFixed(2)} ms`,
          met: added.p50 <= 2,
        },
        {
          target: 'fleet adds ≤ 10 ms to TTFT at p99 (over single-process)',
          measured: `${added.p99.toFixed(2)} ms`,
          met: added.p99 <= 10,
        },
      ],
    };
  },
};
