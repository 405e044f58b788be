/**
 * 6. Resume after a worker dies (issue 15). Two figures, on the Responses API (fleet mode:
 * background responses, resumed by sequence number) and on the Assistants API (the new worker
 * follows the run to its end and delivers the rest at once):
 *
 * - Kill → next chunk at the caller: sessions stream a long reply through 2 workers of their
 *   own; once each has 3 chunks, the busiest worker is SIGKILLed (and a replacement started).
 *   For every session whose run was taken over (its attempt counter in Redis is 2), the time
 *   from the kill to its next chunk, and the longest silence the caller heard in that turn.
 * - The soak (test/support/soak.ts) with a worker killed and another paused past detection:
 *   turns failed because of a fault, words duplicated and lost.
 *
 * The workers here are this benchmark's own (it kills them), not the suite's shared one.
 */
import { performance } from 'node:perf_hooks';
import type { AssistantLLM } from '../src/index.js';
import { startEmulator } from '../test/support/emulator.js';
import {
  fleetLLM,
  removeFleet,
  startWorker,
  uniqueNames,
  type FleetNames,
  type WorkerProcess,
} from '../test/support/fleet.js';
import { attempts, busyWorkers } from '../test/support/resume.js';
import { soak, SOAK_SCRIPTS, summary, type SoakReport } from '../test/support/soak.js';
import type { Api } from '../test/support/assistant.js';
import type { BenchEnv } from './env.js';
import { roundSummary, summarize } from './stats.js';
import { table } from './table.js';
import type { Benchmark, BenchResult } from './types.js';

const MESSAGE = 'bench-resume';
const PACE_MS = 25;
const WORDS = Array.from({ length: 160 }, (_, i) => `r${i}`);
const REPLY = WORDS.join(' ');
const KILL_AFTER = 3;
const APIS: Api[] = ['responses', 'assistants'];
/** A busy machine may take long to start a worker through tsx; output kept short. */
const START = { readyTimeoutMs: 60_000, keepOutput: 200_000 };

interface TurnSample {
  /** Kill → the next chunk this session received (ms). */
  nextChunk: number;
  /** The longest gap between two chunks of the turn (ms): the pause the caller heard. */
  longestSilence: number;
  exact: boolean;
  failed: boolean;
}

interface RoundResult {
  samples: TurnSample[];
  /** Sessions whose run stayed on the surviving worker (no sample). */
  untouched: number;
}

/** One round: `sessions` turns through `workers`, the busiest worker killed mid-stream. */
async function killRound(
  api: Api,
  names: FleetNames,
  baseURL: string,
  workers: WorkerProcess[],
  sessions: number,
  round: number,
): Promise<RoundResult> {
  const identities = Array.from({ length: sessions }, (_, i) => ({
    room: `bench-resume-${api}`,
    participant: `r${round}-s${i}-${process.pid}`,
  }));
  const llms: AssistantLLM[] = identities.map((identity) =>
    fleetLLM(api, names, identity, api === 'responses' ? { background: true } : {}),
  );
  let killedAt = NaN;
  let armed = 0;
  let fire!: () => void;
  const allArmed = new Promise<void>((resolve) => (fire = resolve));
  const turns = llms.map(async (llm) => {
    const arrivals: number[] = [];
    let text = '';
    let failed = false;
    try {
      for await (const chunk of llm.process(`${MESSAGE} ${round}`)) {
        arrivals.push(performance.now());
        text += chunk;
        if (arrivals.length === KILL_AFTER && ++armed === sessions) fire();
      }
    } catch {
      failed = true;
    }
    const after = arrivals.find((t) => t > killedAt);
    let longestSilence = 0;
    for (let i = 1; i < arrivals.length; i++)
      longestSilence = Math.max(longestSilence, arrivals[i]! - arrivals[i - 1]!);
    return {
      nextChunk: after === undefined ? NaN : after - killedAt,
      longestSilence,
      exact: text === REPLY,
      failed,
    };
  });
  await allArmed;
  const busy = await busyWorkers(workers);
  const victim = busy[0]?.worker ?? workers[0]!;
  victim.child.kill('SIGKILL');
  killedAt = performance.now();
  workers.splice(workers.indexOf(victim), 1);
  const replacement = startWorker(names, baseURL, [], {}, START);
  const results = await Promise.all(turns);
  workers.push(await replacement);
  await Promise.all(llms.map((llm) => llm.aclose()));
  const samples: TurnSample[] = [];
  let untouched = 0;
  for (const [i, identity] of identities.entries()) {
    const counters = Object.values(await attempts(names, identity));
    if (counters.some((n) => n > 1)) samples.push(results[i]!);
    else untouched++;
  }
  return { samples, untouched };
}

export const resume: Benchmark = {
  name: 'resume',
  title: 'Resume after a worker dies',
  scripts: [
    { message: MESSAGE, script: { tokenDelayMs: PACE_MS, steps: [{ text: REPLY }] } },
    ...SOAK_SCRIPTS,
  ],
  async run(env: BenchEnv): Promise<BenchResult> {
    const rounds = env.quick ? 4 : 12;
    const sessions = env.quick ? 4 : 8;
    const soakScale = env.quick ? { sessions: 30, turns: 6 } : { sessions: 100, turns: 10 };
    // The soak's events are many and not needed: its own emulator records nothing.
    const soakServer = await startEmulator({
      scripts: SOAK_SCRIPTS,
      recordEvents: false,
      recordRequests: false,
    });

    const kill: Record<Api, TurnSample[]> = { responses: [], assistants: [] };
    const untouched: Record<Api, number> = { responses: 0, assistants: 0 };
    const soaks: Partial<Record<Api, SoakReport>> = {};
    try {
      for (const api of APIS) {
        const names = uniqueNames(`bench-resume-${api}`);
        const workers = await Promise.all([
          startWorker(names, env.baseURL, [], {}, START),
          startWorker(names, env.baseURL, [], {}, START),
        ]);
        try {
          for (let round = 0; round < rounds; round++) {
            const result = await killRound(api, names, env.baseURL, workers, sessions, round);
            kill[api].push(...result.samples);
            untouched[api] += result.untouched;
            env.log(
              `resume ${api}: round ${round + 1}/${rounds}, ${result.samples.length} taken over`,
            );
          }
        } finally {
          for (const worker of workers) await worker.stop();
          await removeFleet(names);
        }
      }
      for (const api of APIS) {
        const names = uniqueNames(`bench-soak-${api}`);
        const report = await soak({
          api,
          baseURL: soakServer.baseURL,
          client: soakServer.client,
          names,
          ...soakScale,
          start: START,
          faults: [
            { at: 0.3, kind: 'kill' },
            { at: 0.6, kind: 'pause', ms: 5_000 },
          ],
          log: (line) => env.log(`soak ${api}: ${line}`),
        });
        soaks[api] = report;
        await Promise.all(report.sessions.map((llm) => llm.aclose()));
        for (const worker of report.workers) await worker.stop();
        await removeFleet(names);
      }
    } finally {
      await soakServer.emulator.close();
    }

    const next = (api: Api) => summarize(kill[api].map((s) => s.nextChunk).filter(Number.isFinite));
    const silence = (api: Api) => summarize(kill[api].map((s) => s.longestSilence));
    const rows = APIS.flatMap((api) =>
      (
        [
          ['kill → next chunk', next(api)],
          ['longest silence in the turn', silence(api)],
        ] as const
      ).map(([label, s]) => [
        label,
        api,
        s.n,
        s.p50,
        s.p95,
        s.p99,
        s.max,
        kill[api].filter((x) => x.failed).length,
        kill[api].filter((x) => !x.failed && !x.exact).length,
      ]),
    );
    const soakRows = APIS.map((api) => {
      const r = soaks[api]!;
      return [
        api,
        r.turns,
        r.completed,
        r.interrupted,
        r.failedByKill,
        r.failedOther,
        r.duplicated,
        r.lost,
        r.duplicateMessages,
        r.seconds,
      ];
    });
    const responsesNext = next('responses');
    const failedByKill = APIS.reduce((n, api) => n + soaks[api]!.failedByKill, 0);
    const duplicated = APIS.reduce((n, api) => n + soaks[api]!.duplicated, 0);
    const lost = APIS.reduce((n, api) => n + soaks[api]!.lost, 0);
    return {
      tables: [
        table(
          [
            `SIGKILL after chunk ${KILL_AFTER}, ${PACE_MS} ms/word (ms)`,
            'api',
            'turns taken over',
            'p50',
            'p95',
            'p99',
            'max',
            'failed',
            'text not exact',
          ],
          rows,
        ),
        table(
          [
            'soak (kill + 5 s pause)',
            'turns',
            'completed',
            'interrupted',
            'failed by a fault',
            'failed otherwise',
            'words duplicated',
            'words lost',
            'messages twice',
            'seconds',
          ],
          soakRows,
        ),
      ],
      data: {
        paceMs: PACE_MS,
        rounds,
        sessionsPerRound: sessions,
        untouched,
        kill: Object.fromEntries(
          APIS.map((api) => [
            api,
            {
              nextChunk: roundSummary(next(api)),
              longestSilence: roundSummary(silence(api)),
              failed: kill[api].filter((x) => x.failed).length,
              notExact: kill[api].filter((x) => !x.failed && !x.exact).length,
            },
          ]),
        ),
        soak: Object.fromEntries(
          APIS.map((api) => {
            const { workers: _w, sessions: _s, ...rest } = soaks[api]!;
            return [api, { ...rest, summary: summary(soaks[api]!) }];
          }),
        ),
      },
      targets: [
        {
          target: 'responses: kill → next chunk at the caller, p99 ≤ 2 s',
          measured: `${responsesNext.p99.toFixed(0)} ms (p50 ${responsesNext.p50.toFixed(0)} ms, ${responsesNext.n} turns)`,
          met: responsesNext.p99 <= 2_000,
        },
        {
          target: 'soak: turns failed because of a kill or pause (responses) = 0',
          measured: String(soaks.responses!.failedByKill),
          met: soaks.responses!.failedByKill === 0,
        },
        {
          target: 'soak: words duplicated = 0, lost = 0 (both APIs)',
          measured: `${duplicated} duplicated, ${lost} lost (${failedByKill} turns failed by a fault)`,
          met: duplicated === 0 && lost === 0,
        },
      ],
      notes: [
        `Kill rounds: ${rounds} per API, ${sessions} sessions each; sessions whose run stayed on the surviving worker give no sample (responses ${untouched.responses}, assistants ${untouched.assistants}).`,
        'Assistants: no stream resume; the new worker follows the run to its end, so the next chunk is the rest of the reply, at its end.',
        ...APIS.map((api) => `soak ${api}: ${summary(soaks[api]!)}`),
        ...APIS.flatMap((api) => soaks[api]!.faultFailures.map((f) => `soak ${api}: ${f}`)),
        ...APIS.flatMap((api) => soaks[api]!.examples.map((f) => `soak ${api}: ${f}`)),
      ],
    };
  },
};
