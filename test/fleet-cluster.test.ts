/**
 * Fleet mode on the local Redis Cluster (the `cluster` vitest project): the keys spread over the
 * primaries. Sessions land on different primaries, and so do room processes' inboxes; queue
 * shards put the run queue's keys in several slots; tool calls and cancels reach their worker
 * through its control inbox.
 */
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullPrefix, shardQueues } from '../queues/bull.js';
import { keySlot, resolveConnection } from '../queues/connection.js';
import { Keys, sessionId } from '../queues/keys.js';
import { ThreadLocks } from '../queues/thread-locks.js';
import { randomUUID } from 'node:crypto';
import { InterruptionError } from '../src/index.js';
import { captureLogger, collect, SCRIPTS } from './support/assistant.js';
import { primaryOf } from './support/cluster.js';
import { useEmulator } from './support/emulator.js';
import {
  CLUSTER_PORTS,
  fleetLLM,
  ON_CLUSTER,
  openRedis,
  removeFleet,
  scanKeys,
  startWorker,
  uniqueNames,
  type WorkerProcess,
} from './support/fleet.js';

const fx = useEmulator({ scripts: SCRIPTS, tokenDelayMs: 2, recordEvents: false }, 'none');

const SHARDS = 3;
const ROOMS = 10;
const SESSIONS = 12;

/**
 * The seed nodes of room process `i`: each order is a client of its own in this process (as
 * separate room processes would have), so each has its own inbox.
 */
function roomSeeds(i: number): string[] {
  const ports = CLUSTER_PORTS.slice(0, 3);
  const rotated = [...ports.slice(i % 3), ...ports.slice(0, i % 3)];
  return [
    ...rotated.map((port) => `redis://127.0.0.1:${port}`),
    ...Array<string>(Math.floor(i / 3)).fill(`redis://127.0.0.1:${ports[0]}`),
  ];
}

describe('fleet mode on a Redis Cluster', () => {
  const names = uniqueNames('spread');
  const keys = new Keys(names.prefix);
  let redis: Cluster;
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    expect(ON_CLUSTER).toBe(true);
    redis = openRedis() as Cluster;
    workers = await Promise.all([
      startWorker(names, fx.baseURL, ['--queues', String(SHARDS)]),
      startWorker(names, fx.baseURL, ['--queues', String(SHARDS)]),
    ]);
  }, 60_000);

  afterAll(async () => {
    expect(await Promise.all(workers.map((w) => w.stop()))).toEqual([0, 0]);
    for (const queue of shardQueues(names.queue, SHARDS)) {
      await removeFleet({ prefix: names.prefix, queue });
    }
    redis.disconnect();
  });

  it('sessions, inboxes and queue shards land on different primaries; runs, tool calls and cancels work across them', async () => {
    const sessions = Array.from({ length: SESSIONS }, (_, i) => {
      const session = { room: `spread-${i % ROOMS}`, participant: `p${i}` };
      const llm = fleetLLM('assistants', names, session, {
        transport: { redis: roomSeeds(i % ROOMS), ...names, queues: SHARDS, session },
      });
      llm.onToolCallCreated = async () => ({ session: i });
      return { llm, sid: sessionId(session) };
    });
    await Promise.all(
      sessions.map(async ({ llm }, i) => {
        expect(await collect(llm.process(`hello ${i}`))).toBe(`You said: hello ${i}`);
        expect(await collect(llm.process(`weather ${i}`))).toContain(`{"session":${i}}`);
        // A cancel goes to the run's control stream and a nudge to its worker's control inbox.
        let chunks = 0;
        const error = await (async () => {
          for await (const _chunk of llm.process(`slow story ${i}`)) {
            if (++chunks === 3) void llm.interrupt();
          }
        })().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InterruptionError);
      }),
    );

    // Our slot function agrees with the cluster's.
    for (const { sid } of sessions) {
      expect(keySlot(keys.session(sid))).toBe(await redis.cluster('KEYSLOT', keys.session(sid)));
    }
    const sessionPrimaries = new Set(
      await Promise.all(sessions.map(({ sid }) => primaryOf(redis, keys.session(sid)))),
    );
    expect(sessionPrimaries.size).toBe(3);

    // The inboxes themselves, not their fences (which share their hash tag).
    const inboxes = (await scanKeys(redis, `${names.prefix}:inbox:*`)).filter((key) =>
      /:inbox:\{[^}]+\}$/.test(key),
    );
    expect(inboxes).toHaveLength(ROOMS);
    const inboxPrimaries = new Set(await Promise.all(inboxes.map((key) => primaryOf(redis, key))));
    expect(inboxPrimaries.size).toBeGreaterThanOrEqual(2);

    // Each shard's BullMQ keys share one slot (BullMQ's scripts need it); shards differ.
    const connection = resolveConnection(roomSeeds(0));
    const shardSlots = new Set<number>();
    for (const queue of shardQueues(names.queue, SHARDS)) {
      const prefix = bullPrefix(connection, queue)!;
      const queueKeys = await scanKeys(redis, `${prefix}:${queue}:*`);
      expect(queueKeys.length).toBeGreaterThan(0);
      expect(new Set(queueKeys.map(keySlot)).size).toBe(1);
      shardSlots.add(keySlot(queueKeys[0]!));
    }
    expect(shardSlots.size).toBe(SHARDS);

    // Each worker has one control inbox, in its own slot.
    const controls = await scanKeys(redis, `${names.prefix}:worker:*:control`);
    expect(controls).toHaveLength(2);
    expect(controls.every((key) => keys.isWorkerControl(key))).toBe(true);
    await Promise.all(sessions.map(({ llm }) => llm.aclose()));
  }, 90_000);

  it('renews the thread locks of many sessions, one call per slot, and reports the one that another run holds', async () => {
    const logger = captureLogger();
    const locks = new ThreadLocks(redis, logger, { ttlMs: 3_000, renewEveryMs: 60_000 });
    try {
      const held = Array.from({ length: 30 }, (_, i) => ({
        key: keys.lock(sessionId({ room: 'locks', participant: `l${i}` })),
        runId: randomUUID(),
      }));
      for (const { key, runId } of held) await redis.set(key, runId, 'PX', 3_000);
      // One of them now names another run.
      await redis.set(held[0]!.key, randomUUID(), 'PX', 3_000);
      const lost: string[] = [];
      for (const { key, runId } of held) locks.hold(key, runId, Date.now(), () => lost.push(key));
      expect(new Set(held.map(({ key }) => keySlot(key))).size).toBeGreaterThan(1);
      await new Promise((r) => setTimeout(r, 1_500));
      await locks.renewNow();
      expect(lost).toEqual([held[0]!.key]);
      for (const { key } of held.slice(1)) expect(await redis.pttl(key)).toBeGreaterThan(2_000);
    } finally {
      locks.close();
    }
  });
});
