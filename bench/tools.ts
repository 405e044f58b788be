/**
 * 5. Tool-call round trip through the room. The server asks for one function call; the room's
 * onToolCallCreated answers at once. Round trip = from the server sending
 * `thread.run.requires_action` to the server receiving the submit_tool_outputs request, both
 * stamped by the ServerClock. Single-process: SSE → AssistantLLM → handler → HTTP. Fleet:
 * SSE → worker → XADD → room's XREAD → handler → XADD on the control stream → worker's XREAD →
 * HTTP. The whole turn (process() to the end of the reply) is timed too.
 */
import { performance } from 'node:perf_hooks';
import type { AssistantLLM } from '../src/index.js';
import type { BenchEnv } from './env.js';
import { interleaved, round, roundSummary, summarize } from './stats.js';
import { table } from './table.js';
import type { Benchmark, BenchResult } from './types.js';

const MESSAGE = 'bench-tools';
const PACE_MS = 5;

type Mode = 'single' | 'fleet';

interface Sample {
  roundTrip: number;
  turn: number;
}

export const tools: Benchmark = {
  name: 'tools',
  title: 'Tool-call round trip through the room',
  scripts: [
    {
      message: MESSAGE,
      script: {
        tokenDelayMs: PACE_MS,
        steps: [
          { functionCalls: [{ name: 'bench_lookup', arguments: { id: 42 } }] },
          { text: (ctx) => `Found ${ctx.toolOutputs[0]?.output ?? 'nothing'}` },
        ],
      },
    },
  ],
  async run(env: BenchEnv): Promise<BenchResult> {
    const runs = env.quick ? 60 : 300;
    const warmup = env.quick ? 5 : 20;
    const llms: Record<Mode, AssistantLLM> = {
      single: env.localLLM(),
      fleet: env.fleetLLM('bench-tools', `p-${process.pid}`),
    };
    for (const llm of Object.values(llms)) llm.onToolCallCreated = () => ({ value: 'ok' });
    let asked = NaN;
    let answered = NaN;
    const stopEvents = env.clock.onEvent((event, at) => {
      if (event.event === 'thread.run.requires_action') asked = at;
    });
    const stopRequests = env.clock.onRequest((request, at) => {
      if (request.path.endsWith('/submit_tool_outputs')) answered = at;
    });

    const once = async (llm: AssistantLLM): Promise<Sample> => {
      asked = answered = NaN;
      const t0 = performance.now();
      let text = '';
      for await (const chunk of llm.process(MESSAGE)) text += chunk;
      const turn = performance.now() - t0;
      if (text !== 'Found {"value":"ok"}')
        throw new Error(`unexpected reply ${JSON.stringify(text)}`);
      return { roundTrip: answered - asked, turn };
    };

    const samples = await interleaved(
      ['single', 'fleet'] as const,
      { rounds: runs, warmup },
      (mode) => once(llms[mode]),
    );
    stopEvents();
    stopRequests();
    await Promise.all([llms.single.aclose(), llms.fleet.aclose()]);

    const s = (mode: Mode, key: keyof Sample) => summarize(samples[mode].map((x) => x[key]));
    const rt = { single: s('single', 'roundTrip'), fleet: s('fleet', 'roundTrip') };
    const turn = { single: s('single', 'turn'), fleet: s('fleet', 'turn') };
    const added = { p50: rt.fleet.p50 - rt.single.p50, p99: rt.fleet.p99 - rt.single.p99 };
    const row = (label: string, x: ReturnType<typeof summarize>) => [
      label,
      x.n,
      x.p50,
      x.p95,
      x.p99,
      x.max,
    ];
    return {
      tables: [
        table(
          ['tool call (ms)', 'runs', 'p50', 'p95', 'p99', 'max'],
          [
            row('round trip at the server, single process', rt.single),
            row('round trip at the server, fleet', rt.fleet),
            row('whole turn, single process', turn.single),
            row('whole turn, fleet', turn.fleet),
          ],
        ),
      ],
      data: {
        paceMs: PACE_MS,
        runs,
        roundTrip: { single: roundSummary(rt.single), fleet: roundSummary(rt.fleet) },
        turn: { single: roundSummary(turn.single), fleet: roundSummary(turn.fleet) },
        addedByFleet: { p50: round(added.p50), p99: round(added.p99) },
      },
      targets: [],
      notes: [
        `fleet adds ${added.p50.toFixed(2)} ms at p50 and ${added.p99.toFixed(2)} ms at p99 to a tool call's round trip (no target set)`,
      ],
    };
  },
};
