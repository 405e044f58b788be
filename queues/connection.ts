/** Redis connection settings shared by rooms and workers. */
import type { RedisOptions } from 'ioredis';

/** A Redis URL (redis://, rediss://) or ioredis options. */
export type RedisConnection = string | RedisOptions;

/** ioredis options from a URL or options; BullMQ needs maxRetriesPerRequest: null. */
export function redisOptions(connection: RedisConnection): RedisOptions {
  const base: RedisOptions =
    typeof connection === 'string' ? parseRedisUrl(connection) : { ...connection };
  return { ...base, maxRetriesPerRequest: null, enableReadyCheck: true };
}

function parseRedisUrl(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(
      `redis: expected a URL such as redis://127.0.0.1:6379, got ${JSON.stringify(url)}`,
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`redis: expected a redis:// or rediss:// URL, got ${parsed.protocol}`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(Number.isInteger(db) ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
