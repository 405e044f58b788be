import { describe, expect, it } from 'vitest';
import { queueOf, shardQueues } from '../../queues/bull.js';
import { keySlot, resolveConnection } from '../../queues/connection.js';
import { sessionId } from '../../queues/keys.js';

describe('resolveConnection', () => {
  it('one URL or ioredis options: one Redis, as before', () => {
    expect(resolveConnection('redis://127.0.0.1:6379/2')).toMatchObject({
      kind: 'single',
      options: { host: '127.0.0.1', port: 6379, db: 2, maxRetriesPerRequest: null },
    });
    expect(resolveConnection({ host: 'h', port: 1 })).toMatchObject({ kind: 'single' });
  });

  it('a list of URLs, a string of URLs separated by commas, or { cluster }: a Redis Cluster', () => {
    const expected = {
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      options: { redisOptions: { password: 'p@ss', maxRetriesPerRequest: null } },
    };
    const urls = ['redis://:p%40ss@10.0.0.1:7000', 'redis://10.0.0.2:7001'];
    expect(resolveConnection(urls)).toMatchObject(expected);
    expect(resolveConnection(urls.join(' , '))).toMatchObject(expected);
    expect(
      resolveConnection({
        cluster: [urls[0]!, { host: '10.0.0.2', port: 7001 }],
        options: { scaleReads: 'master' },
      }),
    ).toMatchObject({ ...expected, options: { ...expected.options, scaleReads: 'master' } });
  });

  it('names the field and never shows a password', () => {
    expect(() => resolveConnection([], 'transport.redis')).toThrow(
      /^transport\.redis: expected at least one cluster node/,
    );
    expect(() => resolveConnection(['redis://a:1', 'redis://:secret@b c:2'])).toThrow(
      /^redis\[1\]: expected a URL such as/,
    );
    expect(() => resolveConnection(['redis://a:1', 'redis://:secret@b c:2'])).not.toThrow(/secret/);
    expect(() => resolveConnection('redis://a:1/0,redis://b:2/3')).toThrow(
      /^redis\[1\]: Redis Cluster has only database 0/,
    );
    expect(() => resolveConnection({ cluster: [{ host: 'a' }] } as never)).toThrow(
      /^redis\[0\]: expected a redis:\/\/ URL or \{ host, port \}/,
    );
    expect(() => resolveConnection(42 as never)).toThrow(/^redis: expected a Redis URL/);
  });
});

describe('keySlot', () => {
  it('hashes the hash tag when there is one, as Redis Cluster does', () => {
    // Values from CLUSTER KEYSLOT (the cluster suite checks more against a real cluster).
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('hello')).toBe(866);
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('a:{sid}:lock')).toBe(keySlot('b:{sid}:session'));
  });
});

describe('queue shards', () => {
  it('one queue keeps its name; N queues are <queue>-0 ..., a session always on the same one', () => {
    expect(shardQueues('runs')).toEqual(['runs']);
    expect(shardQueues('runs', 3)).toEqual(['runs-0', 'runs-1', 'runs-2']);
    expect(() => shardQueues('runs', 0)).toThrow(/^queues: expected a whole number from 1 to 256/);
    const queues = shardQueues('runs', 4);
    const sid = 'f'.repeat(32);
    expect(queueOf(queues, sid)).toBe(queueOf(queues, sid));
    const used = new Set(
      Array.from({ length: 64 }, (_, i) =>
        queueOf(queues, sessionId({ room: 'r', participant: `p${i}` })),
      ),
    );
    expect(used.size).toBe(4);
  });
});
