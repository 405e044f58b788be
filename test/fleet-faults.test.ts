/**
 * Fleet faults against real Redis and real worker processes: a worker killed mid-stream on a
 * plain (not background) Responses stream, which cannot be resumed, Redis restarted mid-run,
 * identities made of Redis-special characters, forged jobs, and a scan for secrets. Runs that
 * are resumed after a worker is killed, paused or stopped are in fleet-resume.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunError } from '../src/index.js';
import { captureLogger, collect, SCRIPTS, userMessages } from './support/assistant.js';
import { exited, logLine, logRecords, startCli } from './support/cli.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';
import {
  fleetLLM,
  openRedis,
  REDIS_URL,
  scanKeys,
  testQueue,
  startWorker,
  uniqueNames,
  type FleetNames,
} from './support/fleet.js';

const BOARD_SECRET = 'board-password-7f3a9c';
const ENDLESS = Array.from({ length: 300 }, (_, i) => `e${i}`).join(' ');
const STEADY = Array.from({ length: 40 }, (_, i) => `s${i}`).join(' ');

const fx = useEmulator(
  {
    scripts: [
      { message: 'endless', script: { tokenDelayMs: 100, steps: [{ text: ENDLESS }] } },
      { message: 'steady', script: { tokenDelayMs: 50, steps: [{ text: STEADY }] } },
      ...SCRIPTS,
    ],
  },
  'none',
);

describe('fleet faults', () => {
  describe.each([false])('the Responses API, background: %s', (background) => {
    it('a worker killed with SIGKILL mid-stream: a plain stream dies with its worker, the caller hears worker_lost, the conversation takes the next turn', async () => {
      const names = uniqueNames(`sigkill-responses-${background}`);
      const doomed = await startWorker(names, fx.baseURL);
      const llm = fleetLLM(
        'responses',
        names,
        { room: 'k', participant: `responses-victim-${Date.now()}` },
        { background },
      );
      const chunks: string[] = [];
      let rescuer: Promise<Awaited<ReturnType<typeof startWorker>>> | undefined;
      const error = await (async () => {
        for await (const chunk of llm.process('endless')) {
          chunks.push(chunk);
          if (chunks.length === 3) {
            doomed.child.kill('SIGKILL');
            rescuer = startWorker(names, fx.baseURL);
          }
        }
      })().then(
        () => null,
        (e: unknown) => e,
      );
      const backup = await rescuer!;
      try {
        expect(error).toBeInstanceOf(RunError);
        expect(error).toMatchObject({ code: 'worker_lost' });
        const responseId = (error as RunError).runId!;
        expect(responseId).toMatch(/^resp_/);
        // A streamed response ended with the dead worker's connection; a background one was
        // cancelled by the worker that took the run over.
        expect((await fx.client.responses.retrieve(responseId)).status).toBe('cancelled');
        expect(fx.emulator.requests.some((r) => r.path.endsWith(`${responseId}/cancel`))).toBe(
          background,
        );
        expect(await collect(llm.process('after the crash'))).toBe('You said: after the crash');
        expect(await userMessages(fx.client, 'responses', llm.threadId!)).toEqual([
          'endless',
          'after the crash',
        ]);
      } finally {
        await backup.stop();
        await doomed.stop();
        await llm.aclose();
      }
    }, 60_000);
  });

  describe('Redis restarted mid-run', () => {
    const port = 6390 + (process.pid % 50);
    const url = `redis://127.0.0.1:${port}`;
    const dir = mkdtempSync(join(tmpdir(), 'redis-restart-'));
    let redis: ChildProcess;

    const startRedis = async () => {
      // Append-only persistence, so that what was queued survives the restart (as in production).
      redis = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      );
      const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => 50 });
      probe.on('error', () => undefined);
      for (let i = 0; i < 100; i++) {
        if ((await probe.ping().catch(() => null)) === 'PONG') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      probe.disconnect();
    };

    beforeAll(startRedis);
    afterAll(async () => {
      redis.kill('SIGTERM');
      await exited(redis);
      rmSync(dir, { recursive: true, force: true });
    });

    it('clients and workers reconnect; the run in flight finishes and the queued one is not lost', async () => {
      const names: FleetNames = uniqueNames('restart');
      const worker = await startWorker(names, fx.baseURL, ['--redis', url, '--concurrency', '1']);
      try {
        const a = fleetLLM(
          'assistants',
          { ...names },
          { room: 'r', participant: 'a' },
          { transport: { redis: url, ...names, session: { room: 'r', participant: 'a' } } },
        );
        const b = fleetLLM(
          'assistants',
          { ...names },
          { room: 'r', participant: 'b' },
          { transport: { redis: url, ...names, session: { room: 'r', participant: 'b' } } },
        );
        const chunks: string[] = [];
        let restarted: Promise<void> | undefined;
        let queued: Promise<string> | undefined;
        const first = (async () => {
          for await (const chunk of a.process('steady')) {
            chunks.push(chunk);
            if (chunks.length === 5) {
              // With concurrency 1 this run waits in the queue while Redis goes away.
              queued = collect(b.process('queued during the restart'));
              restarted = (async () => {
                await new Promise((r) => setTimeout(r, 100));
                redis.kill('SIGKILL');
                await exited(redis);
                await startRedis();
              })();
            }
          }
        })().then(
          () => null,
          (e: unknown) => e,
        );
        const outcome = await first;
        await restarted;
        // Finished, or failed cleanly: never a hang, never a half-silent caller.
        if (outcome === null) expect(chunks.join('')).toBe(STEADY);
        else expect(outcome).toBeInstanceOf(RunError);
        expect(await queued).toBe('You said: queued during the restart');
      } finally {
        await worker.stop();
      }
    }, 60_000);
  });

  it('keeps sessions apart whatever their identities: Redis-special characters and 1 KB names', async () => {
    const names = uniqueNames('identities');
    const worker = await startWorker(names, fx.baseURL);
    try {
      const identities = [
        '*',
        '{a}',
        '{a}:b',
        'a b',
        'line\nbreak',
        'x'.repeat(1024),
        '}{:*? \n\t',
      ];
      const sessions = identities.map((participant) => ({
        participant,
        llm: fleetLLM('assistants', names, { room: 'r:{1}*', participant }),
      }));
      const replies = await Promise.all(
        sessions.map(({ participant, llm }) =>
          collect(llm.process(`I am ${participant.slice(0, 20)}`)),
        ),
      );
      replies.forEach((reply, i) =>
        expect(reply).toBe(`You said: I am ${identities[i]!.slice(0, 20)}`),
      );
      const threads = sessions.map(({ llm }) => llm.threadId);
      expect(new Set(threads).size).toBe(identities.length);
      const redis = openRedis();
      const keys = await redis.keys(`${names.prefix}:*`);
      redis.disconnect();
      // Keys name a digest of the session, never the raw identity.
      expect(
        keys.every((k) =>
          /^[\w.-]+:(\{[0-9a-f]{32}\}:[\w:-]+|reader:\{[\w-]+\}:wake|worker:\{[0-9a-f-]{36}\}:control|inbox:\{[0-9a-f-]{36}\}(:fence)?)$/.test(
            k,
          ),
        ),
      ).toBe(true);
    } finally {
      await worker.stop();
    }
  }, 60_000);

  it('refuses a hand-written job that would make the worker write into keys it does not own', async () => {
    const names = uniqueNames('malformed');
    const worker = await startWorker(names, fx.baseURL);
    const queue = testQueue(names.queue);
    const redis = openRedis();
    try {
      // Someone else's stream, named as the reply address of a forged job.
      const victim = `${names.prefix}:{${'a'.repeat(32)}}:run:x:control`;
      await redis.xadd(victim, '*', 'c', 'original');
      const good = { sid: 'b'.repeat(32), runId: randomUUID(), request: { message: 'hello' } };
      const forged = [
        { ...good, replyTo: victim },
        { ...good, replyTo: 'elsewhere:inbox:00000000-0000-0000-0000-000000000000' },
        { ...good, sid: '../x', replyTo: `${names.prefix}:inbox:{${randomUUID()}}` },
      ];
      const jobs = await Promise.all(forged.map((data) => queue.add('run', data)));
      await expect
        .poll(async () => Promise.all(jobs.map((j) => j.getState())), { timeout: 10_000 })
        .toEqual(['failed', 'failed', 'failed']);
      const reasons = await Promise.all(
        jobs.map(async (j) => (await queue.getJob(j.id!))!.failedReason),
      );
      expect(reasons[0]).toMatch(/^Malformed run job: replyTo: expected an inbox key/);
      expect(reasons[1]).toMatch(/replyTo/);
      expect(reasons[2]).toMatch(/^Malformed run job: sid: expected 32 hex digits/);
      expect(await redis.xlen(victim)).toBe(1);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
      await worker.stop();
    }
  }, 60_000);

  it('writes no secret (API key, board credentials) into Redis or the logs', async () => {
    const names = uniqueNames('secrets');
    const worker = await startWorker(names, fx.baseURL, ['--log-level', 'debug']);
    const board = await startCli(
      ['board', '--port', '0', '--queue', names.queue],
      logLine('board listening', 'url'),
      {
        REDIS_URL,
        BOARD_USER: 'board-admin',
        BOARD_PASSWORD: BOARD_SECRET,
      },
    );
    const auth = `Basic ${Buffer.from(`board-admin:${BOARD_SECRET}`).toString('base64')}`;
    expect(
      (await fetch(`${board.match[1]}api/queues`, { headers: { authorization: auth } })).status,
    ).toBe(200);
    expect(
      (
        await fetch(`${board.match[1]}api/queues`, {
          headers: { authorization: 'Basic bm9ib2R5Ondyb25n' },
        })
      ).status,
    ).toBe(401);
    const roomLog = captureLogger();
    const llm = fleetLLM(
      'assistants',
      names,
      { room: 'vault', participant: 'alice' },
      {
        logger: roomLog,
      },
    );
    llm.onToolCallCreated = () => 'ok';
    await collect(llm.process('hello'));
    await collect(llm.process('hello again'));
    // A handler that throws makes the room log (with the call's details).
    llm.onToolCallCreated = () => {
      throw new Error('handler broke');
    };
    await collect(llm.process('weather please'));
    await worker.stop();
    board.child.kill('SIGTERM');
    await exited(board.child);
    const redis = openRedis();
    const found: string[] = [];
    // Every key in the database, not only this test's.
    const keys = await scanKeys(redis, '*');
    expect(keys.some((k) => k.startsWith(`${names.prefix}:`))).toBe(true);
    {
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string'
            ? await redis.get(key)
            : type === 'hash'
              ? JSON.stringify(await redis.hgetall(key))
              : type === 'stream'
                ? JSON.stringify(await redis.xrange(key, '-', '+'))
                : type === 'list'
                  ? JSON.stringify(await redis.lrange(key, 0, -1))
                  : type === 'zset'
                    ? JSON.stringify(await redis.zrange(key, '0', '-1'))
                    : type === 'set'
                      ? JSON.stringify(await redis.smembers(key))
                      : '';
        if ([TEST_API_KEY, BOARD_SECRET].some((secret) => `${key} ${value}`.includes(secret)))
          found.push(key);
      }
    }
    redis.disconnect();
    expect(found).toEqual([]);
    expect(roomLog.lines.some((l) => l.message === 'tool handler threw')).toBe(true);
    for (const output of [worker.output(), board.output(), JSON.stringify(roomLog.lines)]) {
      expect(output).not.toContain(TEST_API_KEY);
      expect(output).not.toContain(BOARD_SECRET);
    }
    // What was scanned is the services' pino output: every line a JSON record, the worker's at
    // debug level from start to stop.
    for (const service of [worker, board]) {
      const lines = service.output().trimEnd().split('\n');
      expect(logRecords(service.output())).toHaveLength(lines.length);
    }
    const workerLog = logRecords(worker.output());
    expect(workerLog.map((r) => r.msg)).toEqual(
      expect.arrayContaining([
        'worker ready',
        'worker stopped; unfinished runs handed back to the queue',
      ]),
    );
    expect(workerLog.every((r) => r.name === 'assistant-host worker')).toBe(true);
  }, 60_000);
});
