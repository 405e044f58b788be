/**
 * ThreadLocks against the real Redis: every lock a worker holds is renewed by one script call
 * per tick, a lock taken away or left to lapse is reported to its run, and a release never
 * frees another run's lock.
 */
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ThreadLocks, type LockLoss } from '../queues/thread-locks.js';
import { captureLogger } from './support/assistant.js';
import { REDIS_URL } from './support/fleet.js';
import { useRedis } from './support/redis.js';

const db = useRedis('locks');
const { keys } = db;

const TTL_MS = 600;
const EVERY_MS = 150;

/** Takes `count` locks as begin-run.lua would: one per session, owned by its run id. */
async function takeLocks(count: number): Promise<Array<{ key: string; runId: string }>> {
  const taken = Array.from({ length: count }, () => ({
    key: keys.lock(randomUUID().replaceAll('-', '')),
    runId: randomUUID(),
  }));
  for (const { key, runId } of taken) await db.redis.set(key, runId, 'PX', TTL_MS);
  return taken;
}

describe('ThreadLocks', () => {
  it('keeps every held lock alive with one renewal call per tick for all of them', async () => {
    const commands = new Redis(REDIS_URL);
    const sent = vi.spyOn(commands, 'sendCommand');
    const locks = new ThreadLocks(commands, captureLogger(), {
      ttlMs: TTL_MS,
      renewEveryMs: EVERY_MS,
    });
    const taken = await takeLocks(20);
    const lost: string[] = [];
    const held = taken.map(({ key, runId }) =>
      locks.hold(key, runId, Date.now(), () => lost.push(runId)),
    );
    try {
      // Three lifetimes of a lock: without renewal every one would be gone.
      await new Promise((r) => setTimeout(r, TTL_MS * 3));
      const owners = await Promise.all(taken.map(({ key }) => db.redis.get(key)));
      expect(owners).toEqual(taken.map(({ runId }) => runId));
      expect(lost).toEqual([]);
      const renewals = sent.mock.calls
        .map(([command]) => command)
        .filter((c) => c.name === 'evalsha' || c.name === 'eval');
      expect(renewals.length).toBeGreaterThanOrEqual(TTL_MS / EVERY_MS);
      // Each call names all 20 locks: the count of calls does not grow with the runs.
      for (const command of renewals) {
        const args = command.args.map(String);
        expect(args[1]).toBe('20');
        expect(args.slice(2, 22)).toEqual(taken.map(({ key }) => key));
      }
    } finally {
      await Promise.all(held.map((h) => h.release()));
      locks.close();
      commands.disconnect();
    }
  });

  it('takes back a lock that lapsed but nobody took, and the run goes on', async () => {
    const commands = new Redis(REDIS_URL);
    const locks = new ThreadLocks(commands, captureLogger(), {
      ttlMs: 60_000,
      renewEveryMs: 60_000,
    });
    const [lapsed] = await takeLocks(1);
    const lost: LockLoss[] = [];
    const held = locks.hold(lapsed!.key, lapsed!.runId, Date.now(), (why) => lost.push(why));
    try {
      // As if this process had been too slow to renew it in time.
      await db.redis.del(lapsed!.key);
      await locks.renewNow();
      expect(lost).toEqual([]);
      expect(await db.redis.get(lapsed!.key)).toBe(lapsed!.runId);
      expect(await db.redis.pttl(lapsed!.key)).toBeGreaterThan(50_000);
      // Released as usual afterwards.
      await held.release();
      expect(await db.redis.exists(lapsed!.key)).toBe(0);
    } finally {
      locks.close();
      commands.disconnect();
    }
  });

  it('reports a lock that names another run as taken, once, and goes on renewing the others', async () => {
    const commands = new Redis(REDIS_URL);
    const logger = captureLogger();
    const locks = new ThreadLocks(commands, logger, { ttlMs: TTL_MS, renewEveryMs: EVERY_MS });
    const [victim, other] = await takeLocks(2);
    const lost: Array<[string, LockLoss, string | null]> = [];
    const heldVictim = locks.hold(victim!.key, victim!.runId, Date.now(), (why, holder) =>
      lost.push([victim!.runId, why, holder]),
    );
    const heldOther = locks.hold(other!.key, other!.runId, Date.now(), (why, holder) =>
      lost.push([other!.runId, why, holder]),
    );
    try {
      await db.redis.set(victim!.key, 'someone-else', 'PX', 60_000);
      await expect.poll(() => lost.length).toBe(1);
      // The holder is named, so a run can tell a takeover of itself from another run.
      expect(lost).toEqual([[victim!.runId, 'taken', 'someone-else']]);
      await new Promise((r) => setTimeout(r, TTL_MS * 2));
      expect(lost).toHaveLength(1);
      expect(await db.redis.get(other!.key)).toBe(other!.runId);
      // Releasing the lost lock leaves the new owner's lock alone.
      await heldVictim.release();
      expect(await db.redis.get(victim!.key)).toBe('someone-else');
      // Releasing a lock still held frees it at once.
      await heldOther.release();
      expect(await db.redis.exists(other!.key)).toBe(0);
      expect(locks.size).toBe(0);
      expect(logger.lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message: 'lost a thread lock; its run stops',
          fields: { owner: victim!.runId, why: 'taken' },
        }),
      );
    } finally {
      locks.close();
      commands.disconnect();
    }
  });

  it('reports locks as lapsed once renewals have failed for as long as a lock lives, not before', async () => {
    // A connection that cannot reach Redis: every renewal fails at once.
    const unreachable = new Redis({
      host: '127.0.0.1',
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    unreachable.on('error', () => undefined); // the renewals' failures are what this test reads
    const logger = captureLogger();
    const locks = new ThreadLocks(unreachable, logger, { ttlMs: TTL_MS, renewEveryMs: EVERY_MS });
    const takenAt = Date.now();
    const lost: Array<{ why: LockLoss; at: number }> = [];
    locks.hold(keys.lock('unreachable'), randomUUID(), takenAt, (why) =>
      lost.push({ why, at: Date.now() }),
    );
    try {
      await expect.poll(() => lost.length, { timeout: 5_000 }).toBe(1);
      expect(lost[0]!.why).toBe('lapsed');
      expect(lost[0]!.at - takenAt).toBeGreaterThanOrEqual(TTL_MS);
      const failures = logger.lines.filter(
        (l) => l.message === 'could not renew the thread locks; retrying',
      );
      expect(failures.length).toBeGreaterThanOrEqual(2);
      expect(locks.size).toBe(0);
    } finally {
      locks.close();
      unreachable.disconnect();
    }
  });
});
