/**
 * 3. Interrupt latency: a long reply is interrupted after its third chunk. Measured from the
 * interrupt() call to (a) the caller's stream ending with InterruptionError, (b) the cancel
 * request reaching the server (stamped by the ServerClock as the request is received), and
 * (c) interrupt() resolving, i.e. the run confirmed cancelled and the thread free again. Fleet
 * mode next to single-process, interleaved.
 */
import { performance } from 'node:perf_hooks';
import { InterruptionError, type AssistantLLM } from '../src/index.js';
import type { BenchEnv } from './env.js';
import { interleaved, roundSummary, summarize } from './stats.js';
import { table } from './table.js';
import type { Benchmark, BenchResult } from './types.js';

const MESSAGE = 'bench-interrupt';
const PACE_MS = 10;
const LONG_TEXT = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');
const STOP_AFTER = 3;

type Mode = 'single' | 'fleet';

interface Sample {
  streamEnd: number;
  cancelAtServer: number;
  threadFree: number;
}

export const interrupt: Benchmark = {
  name: 'interrupt',
  title: 'Interrupt latency',
  scripts: [{ message: MESSAGE, script: { tokenDelayMs: PACE_MS, steps: [{ text: LONG_TEXT }] } }],
  async run(env: BenchEnv): Promise<BenchResult> {
    const runs = env.quick ? 60 : 300;
    const warmup = env.quick ? 5 : 20;
    const llms: Record<Mode, AssistantLLM> = {
      single: env.localLLM(),
      fleet: env.fleetLLM('bench-interrupt', `p-${process.pid}`),
    };
    let onCancel: ((at: number) => void) | null = null;
    const stop = env.clock.onRequest((request, at) => {
      if (request.method === 'POST' && request.path.endsWith('/cancel')) onCancel?.(at);
    });

    const once = async (llm: AssistantLLM): Promise<Sample> => {
      const cancelled = new Promise<number>((resolve, reject) => {
        onCancel = resolve;
        setTimeout(() => reject(new Error('no cancel request within 10 s')), 10_000).unref();
      });
      let interruptedAt = NaN;
      let interrupting: Promise<number> | undefined;
      let chunks = 0;
      let streamEnd: number;
      try {
        for await (const _chunk of llm.process(MESSAGE)) {
          if (++chunks === STOP_AFTER) {
            interruptedAt = performance.now();
            interrupting = llm.interrupt().then(() => performance.now());
          }
        }
        throw new Error('the interrupted stream ended without an InterruptionError');
      } catch (error) {
        if (!(error instanceof InterruptionError)) throw error;
        streamEnd = performance.now() - interruptedAt;
      }
      const [cancelAt, freeAt] = await Promise.all([cancelled, interrupting!]);
      onCancel = null;
      return {
        streamEnd,
        cancelAtServer: cancelAt - interruptedAt,
        threadFree: freeAt - interruptedAt,
      };
    };

    const samples = await interleaved(
      ['single', 'fleet'] as const,
      { rounds: runs, warmup },
      (mode) => once(llms[mode]),
    );
    stop();
    await Promise.all([llms.single.aclose(), llms.fleet.aclose()]);

    const metric = (mode: Mode, key: keyof Sample) => summarize(samples[mode].map((s) => s[key]));
    const what: Array<[keyof Sample, string]> = [
      ['streamEnd', 'interrupt() → stream ends'],
      ['cancelAtServer', 'interrupt() → cancel request at server'],
      ['threadFree', 'interrupt() → resolved (thread free)'],
    ];
    const rows = what.flatMap(([key, label]) =>
      (['single', 'fleet'] as Mode[]).map((mode) => {
        const s = metric(mode, key);
        return [label, mode, s.n, s.p50, s.p95, s.p99, s.max];
      }),
    );
    const fleetEnd = metric('fleet', 'streamEnd');
    const fleetCancel = metric('fleet', 'cancelAtServer');
    return {
      tables: [
        table(
          [`interrupt after chunk ${STOP_AFTER} (ms)`, 'mode', 'runs', 'p50', 'p95', 'p99', 'max'],
          rows,
        ),
      ],
      data: {
        paceMs: PACE_MS,
        runs,
        ...Object.fromEntries(
          what.map(([key]) => [
            key,
            {
              single: roundSummary(metric('single', key)),
              fleet: roundSummary(metric('fleet', key)),
            },
          ]),
        ),
      },
      targets: [
        {
          target: 'fleet: interrupt() → stream end, p99 ≤ 5 ms',
          measured: `${fleetEnd.p99.toFixed(3)} ms`,
          met: fleetEnd.p99 <= 5,
        },
        {
          target: 'fleet: interrupt() → cancel request at the server, p99 ≤ 20 ms',
          measured: `${fleetCancel.p99.toFixed(2)} ms`,
          met: fleetCancel.p99 <= 20,
        },
      ],
    };
  },
};
