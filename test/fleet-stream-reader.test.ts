import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisOptions } from '../queues/connection.js';
import { StreamReader } from '../queues/stream-reader.js';
import { REDIS_URL } from './support/fleet.js';
import { useRedis } from './support/redis.js';

const db = useRedis('reader');
const { names, keys } = db;

/** Collects the entries' values (each entry is written as `e <n>`). */
function collector() {
  const seen: number[] = [];
  return { seen, onEntry: (_id: string, fields: string[]) => seen.push(Number(fields[1])) };
}

/** The reader's error reports, for tests where none is expected. */
function errors() {
  const reported: string[] = [];
  return { reported, onError: (error: Error) => reported.push(error.message) };
}

describe('StreamReader', () => {
  it('a subscriber that attaches late gets every entry from the start, in order', async () => {
    const key = `${names.prefix}:{late}:events`;
    for (let i = 1; i <= 100; i++) await db.redis.xadd(key, '*', 'e', String(i));
    const { reported, onError } = errors();
    const reader = new StreamReader(new Redis(REDIS_URL), redisOptions(REDIS_URL), keys, onError);
    const { seen, onEntry } = collector();
    reader.subscribe(key, onEntry);
    await expect.poll(() => seen.length).toBe(100);
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await reader.close();
    expect(reported).toEqual([]);
  });

  it('reads many streams over one connection and loses nothing when that connection is killed', async () => {
    const commands = new Redis(REDIS_URL);
    const reader = new StreamReader(commands, redisOptions(REDIS_URL), keys, () => undefined, 200);
    const streams = Array.from({ length: 30 }, (_, i) => `${names.prefix}:{s${i}}:events`);
    const received = streams.map(() => collector());
    streams.forEach((key, i) => reader.subscribe(key, received[i]!.onEntry));
    const perStream = 200;
    let killed = 0;
    const produce = (async () => {
      for (let n = 1; n <= perStream; n++) {
        const pipeline = db.redis.pipeline();
        for (const key of streams) pipeline.xadd(key, '*', 'e', String(n));
        await pipeline.exec();
        if (n % 50 === 0) {
          // Drop the reader's connection, as a network blip would.
          let id: string | undefined;
          for (let attempt = 0; attempt < 100 && !id; attempt++) {
            const list = String(await db.redis.client('LIST'));
            id = list
              .split('\n')
              .find((line) => line.includes(`name=${reader.connectionName}`))
              ?.match(/\bid=(\d+)/)?.[1];
            if (!id) await new Promise((r) => setTimeout(r, 20)); // still reconnecting
          }
          if (id) {
            await db.redis.client('KILL', 'ID', id);
            killed++;
          }
        }
      }
    })();
    await produce;
    await expect
      .poll(() => received.every((r) => r.seen.length === perStream), { timeout: 10_000 })
      .toBe(true);
    expect(killed).toBe(4);
    for (const r of received)
      expect(r.seen).toEqual(Array.from({ length: perStream }, (_, i) => i + 1));
    await reader.close();
    commands.disconnect();
  });

  it('closes while its connection is down and reconnecting', async () => {
    // A slow reconnect keeps the reader's XREAD queued offline when close() comes.
    const connect = { ...redisOptions(REDIS_URL), retryStrategy: () => 2_000 };
    const reader = new StreamReader(new Redis(REDIS_URL), connect, keys, () => undefined, 200);
    const { seen, onEntry } = collector();
    reader.subscribe(`${names.prefix}:{down}:events`, onEntry);
    await db.redis.xadd(`${names.prefix}:{down}:events`, '*', 'e', '1');
    await expect.poll(() => seen.length).toBe(1);
    const list = String(await db.redis.client('LIST'));
    const id = list
      .split('\n')
      .find((line) => line.includes(`name=${reader.connectionName}`))
      ?.match(/\bid=(\d+)/)?.[1];
    expect(id).toBeDefined();
    await db.redis.client('KILL', 'ID', id!);
    await new Promise((r) => setTimeout(r, 100));
    const outcome = await Promise.race([
      reader.close().then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000)),
    ]);
    expect(outcome).toBe('closed');
  });

  it('stops delivering after unsubscribe', async () => {
    const key = `${names.prefix}:{unsub}:events`;
    const reader = new StreamReader(
      new Redis(REDIS_URL),
      redisOptions(REDIS_URL),
      keys,
      errors().onError,
    );
    const { seen, onEntry } = collector();
    const unsubscribe = reader.subscribe(key, onEntry);
    await db.redis.xadd(key, '*', 'e', '1');
    await expect.poll(() => seen.length).toBe(1);
    unsubscribe();
    await db.redis.xadd(key, '*', 'e', '2');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([1]);
    expect(reader.size).toBe(0);
    await reader.close();
  });

  it('a subscriber that throws is reported, and the reader goes on for every stream', async () => {
    const broken = `${names.prefix}:{broken}:events`;
    const healthy = `${names.prefix}:{healthy}:events`;
    const { reported, onError } = errors();
    const reader = new StreamReader(new Redis(REDIS_URL), redisOptions(REDIS_URL), keys, onError);
    const thrown: number[] = [];
    reader.subscribe(broken, (_id, fields) => {
      thrown.push(Number(fields[1]));
      throw new Error(`subscriber failed on ${fields[1]}`);
    });
    const { seen, onEntry } = collector();
    reader.subscribe(healthy, onEntry);
    for (let n = 1; n <= 3; n++) {
      await db.redis.xadd(broken, '*', 'e', String(n));
      await db.redis.xadd(healthy, '*', 'e', String(n));
    }
    await expect.poll(() => seen.length).toBe(3);
    await expect.poll(() => thrown.length).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    expect(reported).toEqual([
      'subscriber failed on 1',
      'subscriber failed on 2',
      'subscriber failed on 3',
    ]);
    await reader.close();
  });
});
