/**
 * `redis-benchmark` (Debian's redis-tools) on the same Redis, in the same run, for the commands
 * the fleet transport sends per chunk: the worker's XADD of an event, and the room's XREAD.
 */
import { Redis } from 'ioredis';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REDIS_URL } from './env.js';

const run = promisify(execFile);

export interface RedisBenchRow {
  name: string;
  command: string;
  clients: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export async function redisBenchmark(
  name: string,
  args: string[],
  { requests, clients }: { requests: number; clients: number },
): Promise<RedisBenchRow> {
  const url = new URL(REDIS_URL);
  const { stdout } = await run(
    'redis-benchmark',
    [
      '-h',
      url.hostname,
      '-p',
      url.port || '6379',
      '-n',
      String(requests),
      '-c',
      String(clients),
      '--csv',
      ...args,
    ],
    { maxBuffer: 16 * 2 ** 20 },
  );
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const m = /"([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)"$/.exec(
    line,
  );
  if (!m) throw new Error(`redis-benchmark: unexpected output ${stdout}`);
  const shown =
    args.length > 8 ? `${args.slice(0, 6).join(' ')} … (${args.length} arguments)` : args.join(' ');
  return {
    name,
    command: shown,
    clients,
    requestsPerSecond: Number(m[1]),
    p50Ms: Number(m[4]),
    p99Ms: Number(m[6]),
  };
}

/** A chunk's XADD as the worker sends it: MAXLEN ~ 100 000, a text.delta of the bench's size. */
function xaddArgs(key: string): string[] {
  const payload = JSON.stringify({ type: 'text.delta', text: 'c1000f999.149 ', seq: 150 });
  return [key, 'MAXLEN', '~', '100000', '*', 'e', payload];
}

/** redis-benchmark's XADD of a chunk event with its default 50 clients. */
export async function xaddBenchmark(prefix: string, quick: boolean): Promise<RedisBenchRow> {
  const key = `${prefix}:rb:{xadd}:events`;
  const redis = new Redis(REDIS_URL);
  try {
    return await redisBenchmark('XADD (event)', ['XADD', ...xaddArgs(key)], {
      requests: quick ? 50_000 : 100_000,
      clients: 50,
    });
  } finally {
    await redis.del(key);
    redis.disconnect();
  }
}

/**
 * The transport's commands: XADD of a chunk event as the worker sends it (MAXLEN ~ 100 000, a
 * text.delta payload of the bench's size), with redis-benchmark's default 50 clients and with
 * one; XREAD of one entry from one stream; and the room reader's multiplexed XREAD naming
 * `streams` streams (plus its wake stream) with nothing new, i.e. the fixed cost of one read
 * cycle at that many sessions.
 */
export async function transportCommands(
  prefix: string,
  streams: number,
  quick: boolean,
): Promise<RedisBenchRow[]> {
  const n = quick ? 50_000 : 200_000;
  const key = `${prefix}:rb:{x}:events`;
  const xadd = xaddArgs(key);
  const redis = new Redis(REDIS_URL);
  try {
    const rows: RedisBenchRow[] = [];
    rows.push(
      await redisBenchmark('XADD (event)', ['XADD', ...xadd], { requests: n, clients: 50 }),
    );
    rows.push(
      await redisBenchmark('XADD (event), 1 client', ['XADD', ...xadd], {
        requests: n / 4,
        clients: 1,
      }),
    );
    // The id before the newest: the XREAD below returns exactly one entry.
    const id = (await redis.xrevrange(key, '+', '-', 'COUNT', 2))[1]![0];
    rows.push(
      await redisBenchmark(
        'XREAD 1 stream, 1 entry',
        ['XREAD', 'COUNT', '1000', 'STREAMS', key, id],
        { requests: n, clients: 50 },
      ),
    );
    // The reader's read cycle at `streams` sessions: every stream named, none with news.
    const keys = Array.from({ length: streams }, (_, i) => `${prefix}:rb:{s${i}}:events`);
    const pipeline = redis.pipeline();
    for (const k of keys) pipeline.xadd(k, '*', 'e', xadd.at(-1)!);
    const ids = ((await pipeline.exec()) ?? []).map(([, v]) => String(v));
    rows.push(
      await redisBenchmark(
        `XREAD ${streams} streams, none new`,
        ['XREAD', 'COUNT', '1000', 'STREAMS', key, ...keys, '$', ...ids],
        { requests: quick ? 2_000 : 5_000, clients: 1 },
      ),
    );
    await redis.del(key, ...keys);
    return rows;
  } finally {
    redis.disconnect();
  }
}
