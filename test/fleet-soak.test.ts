/**
 * A bounded soak (test/support/soak.ts) on each API: sessions take turns with random interrupts,
 * tool calls and long replies against 2 workers; one worker is killed and replaced. Every turn
 * must be accounted for, none may fail because of the kill, no word may reach a caller twice or
 * go missing, no thread may hold a message twice, and no key may be left without an expiry.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { useEmulator } from './support/emulator.js';
import { keysWithTtl, removeFleet, uniqueNames, type FleetNames } from './support/fleet.js';
import { soak, SOAK_SCRIPTS, summary, type SoakFault, type SoakReport } from './support/soak.js';

const SCALE = {
  assistants: {
    sessions: Number(process.env.SOAK_SESSIONS ?? 200),
    turns: Number(process.env.SOAK_TURNS ?? 20),
  },
  responses: {
    sessions: Number(process.env.SOAK_SESSIONS ?? 100),
    turns: Number(process.env.SOAK_TURNS ?? 10),
  },
};

/**
 * The faults the soak injects: a worker killed mid-soak (its runs resume on the other). The soak
 * pauses no worker: one stopped after its last ownership check and before its request's bytes
 * leave (under a millisecond) sends that request when it wakes, and neither API has an
 * idempotent create, so the user's message can reach the thread twice (README, Crash recovery).
 * test/fleet-resume.test.ts pauses workers at chosen moments, and bench/resume.ts measures the
 * soak with a pause.
 */
const FAULTS: Record<'assistants' | 'responses', SoakFault[]> = {
  assistants: [{ at: 0.3, kind: 'kill' }],
  responses: [{ at: 0.3, kind: 'kill' }],
};

const fx = useEmulator(
  { recordEvents: false, recordRequests: false, scripts: SOAK_SCRIPTS },
  'none',
);

const fleets: FleetNames[] = [];
afterAll(async () => {
  for (const names of fleets) await removeFleet(names);
});

describe.each(['assistants', 'responses'] as const)('soak on the %s API', (api) => {
  const { sessions, turns } = SCALE[api];
  it(`${sessions} sessions x ${turns} turns, a worker killed: every turn accounted for, none lost to the faults, no duplicates, no leaked keys`, async () => {
    const names = uniqueNames(`soak-${api}`);
    fleets.push(names);
    let report: SoakReport | undefined;
    try {
      report = await soak({
        api,
        baseURL: fx.baseURL,
        client: fx.client,
        names,
        sessions,
        turns,
        start: { readyTimeoutMs: 90_000 },
        faults: FAULTS[api],
      });
      console.log(`soak (${api}): ${summary(report)}`);
      for (const line of report.faultFailures) console.log(`soak (${api}): ${line}`);
      expect(report.examples).toEqual([]);
      expect(report.completed + report.interrupted + report.failedByKill + report.failedOther).toBe(
        report.turns,
      );
      expect(report.faults.map((f) => f.kind)).toEqual(FAULTS[api].map((f) => f.kind));
      expect(report.failedOther).toBe(0);
      // A kill costs no turn, whenever it comes: a run killed before its upstream id reached the
      // worker is found and followed too (README, Crash recovery).
      expect(report.failedByKill).toBe(0);
      expect(report.duplicated).toBe(0);
      expect(report.lost).toBe(0);
      expect(report.outOfOrder).toBe(0);
      expect(report.duplicateMessages).toBe(0);
      expect(report.messages).toBeLessThanOrEqual(report.turns);
    } finally {
      await Promise.all((report?.sessions ?? []).map((llm) => llm.aclose()));
      for (const worker of report?.workers ?? []) await worker.stop();
    }
    const keys = await keysWithTtl(names.prefix);
    expect(keys.filter((k) => k.ttl === -1)).toEqual([]);
  }, 600_000);
});
