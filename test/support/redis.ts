/** A test file's own corner of the shared Redis: unique names, their keys, one connection. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { Keys } from '../../queues/keys.js';
import { REDIS_URL, removeKeys, uniqueNames, type FleetNames } from './fleet.js';

export interface RedisFixture {
  names: FleetNames;
  keys: Keys;
  /** Open from the file's first beforeAll to its last afterAll. */
  redis: Redis;
}

/** Names and a connection for this file; every key under its prefix is deleted after its tests. */
export function useRedis(label: string): RedisFixture {
  const names = uniqueNames(label);
  const fixture = { names, keys: new Keys(names.prefix) } as RedisFixture;
  beforeAll(() => {
    fixture.redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    fixture.redis?.disconnect();
    await removeKeys(names.prefix);
  });
  return fixture;
}
