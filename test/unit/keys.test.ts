/** Session ids, the key layout and the checks a worker makes on a job: no Redis needed. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redisOptions } from '../../queues/connection.js';
import { jobDataProblem, type RunJobData } from '../../queues/job.js';
import { isUuid, Keys, sessionId } from '../../queues/keys.js';

describe('sessionId', () => {
  it('is 32 hex digits, the same in every process for the same room and participant', () => {
    const id = sessionId({ room: 'lobby', participant: 'alice' });
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(sessionId({ room: 'lobby', participant: 'alice' })).toBe(id);
  });

  it('keeps apart identities that only differ in where the room ends', () => {
    const ids = [
      sessionId({ room: 'a:b', participant: 'c' }),
      sessionId({ room: 'a', participant: 'b:c' }),
      sessionId({ room: 'a\u0000b', participant: 'c' }),
      sessionId({ room: 'a', participant: '\u0000b' + 'c' }),
      sessionId({ room: '', participant: 'abc' }),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('Keys', () => {
  const keys = new Keys('ast');
  const sid = sessionId({ room: 'r', participant: 'p' });
  const runId = randomUUID();

  it("puts every key of a session under the session's hash tag", () => {
    const sessionKeys = [
      keys.session(sid),
      keys.lock(sid),
      keys.attempt(sid, runId),
      keys.control(sid, runId),
      keys.upstream(sid, runId),
    ];
    for (const key of sessionKeys) expect(key.startsWith(`ast:{${sid}}:`)).toBe(true);
    expect(new Set(sessionKeys).size).toBe(sessionKeys.length);
  });

  it('takes only its own inboxes as a reply address', () => {
    const inbox = keys.inbox(randomUUID());
    expect(keys.isInbox(inbox)).toBe(true);
    expect(new Keys('other').isInbox(inbox)).toBe(false);
    expect(keys.isInbox(`ast:inbox:{not-a-uuid}`)).toBe(false);
    // The hash tag is part of the address: it keeps the inbox and its fence in one slot.
    expect(keys.isInbox(`ast:inbox:${randomUUID()}`)).toBe(false);
    expect(keys.fence(inbox)).toBe(`${inbox}:fence`);
    expect(keys.isInbox(keys.control(sid, runId))).toBe(false);
    expect(keys.isInbox(`${inbox}:x`)).toBe(false);
    expect(keys.isInbox(42)).toBe(false);
  });

  it('treats the prefix as literal text, not a pattern', () => {
    const dotted = new Keys('a.b');
    expect(dotted.isInbox(dotted.inbox(randomUUID()))).toBe(true);
    expect(dotted.isInbox(`aXb:inbox:{${randomUUID()}}`)).toBe(false);
  });

  it('refuses a prefix that could break the layout, naming the field', () => {
    for (const bad of ['', 'a:b', 'a{b}', 'a b', 'x'.repeat(65)]) {
      expect(() => new Keys(bad)).toThrow(/^prefix: expected 1 to 64 letters/);
    }
  });

  it('knows a run id by its shape: a lowercase UUID', () => {
    expect(isUuid(randomUUID())).toBe(true);
    expect(isUuid(randomUUID().toUpperCase())).toBe(false);
    expect(isUuid(`${randomUUID()}\n`)).toBe(false);
    expect(isUuid(undefined)).toBe(false);
  });
});

describe('jobDataProblem', () => {
  const keys = new Keys('ast');
  const good: Partial<RunJobData> = {
    sid: 'a'.repeat(32),
    runId: randomUUID(),
    replyTo: keys.inbox(randomUUID()),
    request: { message: 'hello' },
  };

  it('accepts a job as a room writes it', () => {
    expect(jobDataProblem(good, keys)).toBeNull();
  });

  it('names the field that is wrong and what was expected', () => {
    expect(jobDataProblem({ ...good, sid: '../x' }, keys)).toMatch(
      /^sid: expected 32 hex digits \(a session id\), got "..\/x"$/,
    );
    expect(jobDataProblem({ ...good, runId: 'r1' }, keys)).toMatch(/^runId: expected a UUID/);
    expect(jobDataProblem({ ...good, replyTo: keys.lock(good.sid!) }, keys)).toMatch(
      /^replyTo: expected an inbox key ast:inbox:\{<uuid>\}/,
    );
    expect(
      jobDataProblem(
        { ...good, request: { message: 7 } as unknown as RunJobData['request'] },
        keys,
      ),
    ).toBe('request.message: expected a string');
  });
});

describe('redisOptions', () => {
  it('reads host, port, database, credentials and TLS from a URL', () => {
    expect(redisOptions('rediss://user:p%40ss@example.com:6380/3')).toMatchObject({
      host: 'example.com',
      port: 6380,
      db: 3,
      username: 'user',
      password: 'p@ss',
      tls: {},
      maxRetriesPerRequest: null,
    });
    expect(redisOptions('redis://127.0.0.1')).toMatchObject({ host: '127.0.0.1', port: 6379 });
  });

  it('keeps ioredis options, and refuses what is not a Redis URL, naming the field', () => {
    expect(redisOptions({ host: 'h', port: 1 })).toMatchObject({ host: 'h', port: 1 });
    expect(() => redisOptions('127.0.0.1:6379')).toThrow(/^redis: expected a URL such as/);
    expect(() => redisOptions('not a url')).toThrow(/^redis: expected a URL such as redis:\/\//);
    expect(() => redisOptions('http://127.0.0.1')).toThrow(/^redis: expected a redis:\/\//);
  });
});
