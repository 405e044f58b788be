/**
 * The worker's own guarantees, with a RunWorker in this process against the real Redis, BullMQ
 * and the emulator: a takeover that cannot tell whether the lost attempt reached the server ends
 * the run as lost and never sends the message again; a run whose thread lock is lost stops
 * publishing, ends upstream and says so.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend, type BackendConfig } from '../src/backends/config.js';
import type { RunEvent } from '../src/events.js';
import { EmulatorServer } from '../src/testing.js';
import type { RunJobData } from '../queues/job.js';
import { Keys, sessionId } from '../queues/keys.js';
import { beginRun } from '../queues/run-start.js';
import { RunWorker } from '../queues/run-worker.js';
import { inboxCodec } from '../queues/stream-codec.js';
import { APIS, captureLogger, type Api } from './support/assistant.js';
import { startEmulator, TEST_API_KEY, type EmulatorFixture } from './support/emulator.js';
import { REDIS_URL, uniqueNames, type FleetNames } from './support/fleet.js';

let fx: EmulatorFixture;
let redis: Redis;

/** 120 tokens, one every 50 ms: a run that streams for about six seconds. */
const STEADY = Array.from({ length: 120 }, (_, i) => `s${i}`).join(' ');

beforeAll(async () => {
  fx = await startEmulator({
    scripts: [{ message: 'steady', script: { tokenDelayMs: 50, steps: [{ text: STEADY }] } }],
  });
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  redis.disconnect();
  await fx.emulator.close();
});

const LIMITS = { toolOutputTimeoutMs: 10_000, streamIdleTimeoutMs: 10_000 };

function backendConfig(api: Api): BackendConfig {
  return api === 'assistants'
    ? { api, assistantId: EmulatorServer.defaultAssistantId, limits: LIMITS }
    : { api, model: 'emulator-1', instructions: 'You are a test assistant.', limits: LIMITS };
}

/** What the backend's findStarted asks the server for, per protocol. */
const LOOKUP: Record<Api, RegExp> = {
  assistants: /\/threads\/[^/]+\/runs(\?|$)/,
  responses: /\/conversations\/[^/]+\/items(\?|$)/,
};

/** An OpenAI client whose GETs matching `failing` never reach the server (a dropped connection). */
function clientFailing(failing: RegExp): OpenAI {
  return new OpenAI({
    apiKey: TEST_API_KEY,
    baseURL: fx.baseURL,
    maxRetries: 0,
    fetch: async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if ((init?.method ?? 'GET') === 'GET' && failing.test(new URL(url).pathname + '?')) {
        throw new TypeError('fetch failed: connection reset (injected)');
      }
      return fetch(input, init);
    },
  });
}

/** A room's inbox, created as the room does, so that a worker's NOMKSTREAM writes land. */
async function openInbox(keys: Keys): Promise<string> {
  const inbox = keys.inbox(randomUUID());
  await redis.xadd(inbox, '*', 'hello', 'test');
  await redis.expire(inbox, 600);
  return inbox;
}

async function inboxEvents(inbox: string, runId: string): Promise<RunEvent[]> {
  const entries = await redis.xrange(inbox, '-', '+');
  return entries.flatMap(([, fields]) => {
    const entry = inboxCodec.decode(fields);
    return entry?.runId === runId ? [entry.event] : [];
  });
}

async function userMessages(api: Api, threadId: string): Promise<string[]> {
  if (api === 'assistants') {
    const list = await fx.client.beta.threads.messages.list(threadId, { order: 'asc' });
    return list.data
      .filter((m) => m.role === 'user')
      .map((m) => (m.content[0]?.type === 'text' ? m.content[0].text.value : ''));
  }
  const items = await fx.client.conversations.items.list(threadId, { order: 'asc' });
  return items.data.flatMap((item) =>
    item.type === 'message' && item.role === 'user'
      ? [item.content.map((c) => ('text' in c ? c.text : '')).join('')]
      : [],
  );
}

async function cleanUp(names: FleetNames): Promise<void> {
  const queue = new Queue(names.queue, { connection: { url: REDIS_URL } });
  await queue.obliterate({ force: true });
  await queue.close();
  const found = await redis.keys(`${names.prefix}:*`);
  if (found.length > 0) await redis.del(...found);
}

describe.each(APIS)('run worker on the %s API', (api) => {
  it('a takeover whose "did it reach the server?" lookup fails ends the run as lost and never sends the message again', async () => {
    const names = uniqueNames(`lookup-${api}`);
    const keys = new Keys(names.prefix);
    const session = { room: 'takeover', participant: randomUUID() };
    const sid = sessionId(session);
    const runId = randomUUID();
    const config = backendConfig(api);
    const message = `hello from attempt one ${runId.slice(0, 8)}`;

    // The lost first attempt, as a worker that died would leave it: beginRun marked the run as
    // begun, the run reached the server and ended there, and the worker died before it could
    // record the upstream id; its thread lock has lapsed since.
    const seeded = await fx.client.beta.threads.create({});
    const first = await beginRun(redis, keys, sid, runId, false);
    expect(first).toMatchObject({ begun: true, attempt: 1, marker: null });
    const lost = createBackend(config, fx.client, captureLogger()).startRun({
      message,
      tag: runId,
      ...(api === 'assistants' ? { threadId: seeded.id } : {}),
    });
    let threadId: string | undefined;
    for await (const event of lost) {
      if (event.type === 'thread.created' || event.type === 'run.started')
        threadId = event.threadId;
    }
    expect(threadId).toBeDefined();
    expect(await userMessages(api, threadId!)).toEqual([message]);
    await redis.del(keys.lock(sid));

    const inbox = await openInbox(keys);
    const queue = new Queue(names.queue, { connection: { url: REDIS_URL } });
    const logger = captureLogger();
    const worker = new RunWorker({
      redis: REDIS_URL,
      openai: clientFailing(LOOKUP[api]),
      ...names,
      logger,
    });
    try {
      await worker.ready();
      fx.emulator.clearRecords();
      const data: RunJobData = {
        sid,
        session,
        runId,
        replyTo: inbox,
        request: { message, threadId: threadId! },
        backend: config,
        queuedAt: Date.now(),
      };
      const job = await queue.add('run', data, { jobId: runId, attempts: 1 });
      await expect.poll(() => job.getState(), { timeout: 15_000 }).toMatch(/^(failed|completed)$/);

      // Nothing new reached the server: no second message, no second run.
      const posts = fx.emulator.requests.filter((r) => r.method === 'POST');
      expect(posts.map((r) => r.path)).toEqual([]);
      expect(await userMessages(api, threadId!)).toEqual([message]);
      // The room hears that the run was lost, once.
      const events = await inboxEvents(inbox, runId);
      expect(events.map((e) => e.type)).toEqual(['run.failed']);
      expect(events[0]).toMatchObject({ reason: 'worker_lost' });
      expect(await job.getState()).toBe('failed');
      // And the operator reads why.
      expect(
        logger.lines.some((l) => l.level === 'warn' && /could not tell whether/.test(l.message)),
      ).toBe(true);
    } finally {
      await worker.close(1_000);
      await queue.close();
      await cleanUp(names);
    }
  });

  it('a run whose thread lock is taken away stops publishing, ends upstream and tells the room', async () => {
    const names = uniqueNames(`lock-${api}`);
    const keys = new Keys(names.prefix);
    const session = { room: 'lock', participant: randomUUID() };
    const sid = sessionId(session);
    const runId = randomUUID();
    const inbox = await openInbox(keys);
    const queue = new Queue(names.queue, { connection: { url: REDIS_URL } });
    const logger = captureLogger();
    const worker = new RunWorker({ redis: REDIS_URL, openai: fx.client, ...names, logger });
    try {
      await worker.ready();
      const data: RunJobData = {
        sid,
        session,
        runId,
        replyTo: inbox,
        request: { message: 'steady' },
        backend: backendConfig(api),
        queuedAt: Date.now(),
      };
      const job = await queue.add('run', data, { jobId: runId, attempts: 1 });
      const deltas = async () =>
        (await inboxEvents(inbox, runId)).filter((e) => e.type === 'text.delta').length;
      await expect.poll(deltas, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);

      // Someone else owns the thread now, as after a lapse and another worker's takeover.
      await redis.set(keys.lock(sid), 'another-run', 'PX', 60_000);
      await expect.poll(() => job.getState(), { timeout: 10_000 }).toBe('failed');
      const events = await inboxEvents(inbox, runId);
      const last = events.at(-1)!;
      expect(last).toMatchObject({ type: 'run.failed', reason: 'lock_lost' });
      expect(events.filter((e) => e.type === 'run.failed')).toHaveLength(1);
      // The run was cut short: far from all of its text went out, and nothing comes after.
      const sent = events.filter((e) => e.type === 'text.delta').length;
      expect(sent).toBeLessThan(120);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await inboxEvents(inbox, runId)).toHaveLength(events.length);
      expect((await queue.getJob(runId))!.failedReason).toMatch(/^lock_lost: /);
      // The new owner's lock is left as it is.
      expect(await redis.get(keys.lock(sid))).toBe('another-run');
      // The upstream run does not hold the thread.
      const started = events.find((e) => e.type === 'run.started');
      expect(started).toBeDefined();
      const upstreamId = (started as Extract<RunEvent, { type: 'run.started' }>).runId;
      const status =
        api === 'assistants'
          ? (
              await fx.client.beta.threads.runs.retrieve(upstreamId, {
                thread_id: (started as Extract<RunEvent, { type: 'run.started' }>).threadId,
              })
            ).status
          : (await fx.client.responses.retrieve(upstreamId)).status;
      expect(status).toBe('cancelled');
      expect(logger.lines).toContainEqual(
        expect.objectContaining({ level: 'warn', message: 'lost a thread lock; its run stops' }),
      );
    } finally {
      await worker.close(1_000);
      await queue.close();
      await cleanUp(names);
    }
  });
});
