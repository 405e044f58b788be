/**
 * The worker's own guarantees, with a RunWorker in this process against the real Redis, BullMQ
 * and the emulator: a takeover that cannot tell whether the lost attempt reached the server ends
 * the run as lost and never sends the message again; a run whose thread lock is lost stops
 * publishing, ends upstream and says so.
 */
import { Queue, type Job } from 'bullmq';
import OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBackend, type BackendConfig } from '../src/backends/config.js';
import type { RunEvent } from '../src/events.js';
import { EmulatorServer } from '../src/testing.js';
import type { RunJobData } from '../queues/job.js';
import { Keys, sessionId } from '../queues/keys.js';
import { beginRun } from '../queues/run-start.js';
import { RunWorker } from '../queues/run-worker.js';
import { inboxCodec } from '../queues/stream-codec.js';
import { APIS, captureLogger, userMessages, type Api } from './support/assistant.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';
import { REDIS_URL, removeFleet, uniqueNames, type FleetNames } from './support/fleet.js';
import { useRedis } from './support/redis.js';

/** 120 tokens, one every 50 ms: a run that streams for about six seconds. */
const STEADY = Array.from({ length: 120 }, (_, i) => `s${i}`).join(' ');

const fx = useEmulator({
  scripts: [{ message: 'steady', script: { tokenDelayMs: 50, steps: [{ text: STEADY }] } }],
});
const db = useRedis('run-worker');

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

/**
 * A RunWorker in this process on names of its own, and the room's side done by hand: an inbox
 * created as the room creates it, jobs queued as the room queues them, events read back.
 */
class WorkerHarness {
  readonly names: FleetNames;
  readonly keys: Keys;
  readonly logger = captureLogger();
  readonly worker: RunWorker;
  readonly queue: Queue;
  inbox = '';

  constructor(label: string, openai: OpenAI) {
    this.names = uniqueNames(label);
    this.keys = new Keys(this.names.prefix);
    this.queue = new Queue(this.names.queue, { connection: { url: REDIS_URL } });
    this.worker = new RunWorker({ redis: REDIS_URL, openai, ...this.names, logger: this.logger });
  }

  async start(): Promise<this> {
    // Workers write with NOMKSTREAM: the room's inbox must exist first.
    this.inbox = this.keys.inbox(randomUUID());
    await db.redis.xadd(this.inbox, '*', 'hello', 'test');
    await db.redis.expire(this.inbox, 600);
    await this.worker.ready();
    return this;
  }

  queueRun(data: Omit<RunJobData, 'replyTo' | 'queuedAt'>): Promise<Job> {
    const job: RunJobData = { ...data, replyTo: this.inbox, queuedAt: Date.now() };
    return this.queue.add('run', job, { jobId: data.runId, attempts: 1 });
  }

  async events(runId: string): Promise<RunEvent[]> {
    const entries = await db.redis.xrange(this.inbox, '-', '+');
    return entries.flatMap(([, fields]) => {
      const entry = inboxCodec.decode(fields);
      return entry?.runId === runId ? [entry.event] : [];
    });
  }

  async close(): Promise<void> {
    await this.worker.close(1_000);
    await this.queue.close();
    await removeFleet(this.names);
  }
}

describe.each(APIS)('run worker on the %s API', (api) => {
  it('a takeover whose "did it reach the server?" lookup fails ends the run as lost and never sends the message again', async () => {
    // The worker taking the run over: its "did it reach the server?" lookups fail.
    const harness = new WorkerHarness(`lookup-${api}`, clientFailing(LOOKUP[api]));
    const { keys } = harness;
    try {
      const session = { room: 'takeover', participant: randomUUID() };
      const sid = sessionId(session);
      const runId = randomUUID();
      const config = backendConfig(api);
      const message = `hello from attempt one ${runId.slice(0, 8)}`;

      // The lost first attempt, as a worker that died would leave it: beginRun marked the run as
      // begun, the run reached the server and ended there, and the worker died before it could
      // record the upstream id; its thread lock has lapsed since.
      const seeded = await fx.client.beta.threads.create({});
      const first = await beginRun(
        db.redis,
        keys,
        sid,
        runId,
        false,
        keys.workerControl(randomUUID()),
      );
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
      expect(await userMessages(fx.client, api, threadId!)).toEqual([message]);
      await db.redis.del(keys.lock(sid));

      await harness.start();
      fx.emulator.clearRecords();
      const job = await harness.queueRun({
        sid,
        session,
        runId,
        request: { message, threadId: threadId! },
        backend: config,
      });
      await expect.poll(() => job.getState(), { timeout: 15_000 }).toMatch(/^(failed|completed)$/);

      // Nothing new reached the server: no second message, no second run.
      const posts = fx.emulator.requests.filter((r) => r.method === 'POST');
      expect(posts.map((r) => r.path)).toEqual([]);
      expect(await userMessages(fx.client, api, threadId!)).toEqual([message]);
      // The room hears that the run was lost, once.
      const events = await harness.events(runId);
      expect(events.map((e) => e.type)).toEqual(['run.failed']);
      expect(events[0]).toMatchObject({ reason: 'worker_lost' });
      expect(await job.getState()).toBe('failed');
      // And the operator reads why.
      expect(
        harness.logger.lines.some(
          (l) => l.level === 'warn' && /could not tell whether/.test(l.message),
        ),
      ).toBe(true);
    } finally {
      await harness.close();
    }
  });

  it('a run whose thread lock is taken away stops publishing, ends upstream and tells the room', async () => {
    const harness = new WorkerHarness(`lock-${api}`, fx.client);
    const { keys } = harness;
    const session = { room: 'lock', participant: randomUUID() };
    const sid = sessionId(session);
    const runId = randomUUID();
    try {
      await harness.start();
      const job = await harness.queueRun({
        sid,
        session,
        runId,
        request: { message: 'steady' },
        backend: backendConfig(api),
      });
      const deltas = async () =>
        (await harness.events(runId)).filter((e) => e.type === 'text.delta').length;
      await expect.poll(deltas, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);

      // Someone else owns the thread now, as after a lapse and another worker's takeover.
      await db.redis.set(keys.lock(sid), 'another-run', 'PX', 60_000);
      await expect.poll(() => job.getState(), { timeout: 10_000 }).toBe('failed');
      const events = await harness.events(runId);
      const last = events.at(-1)!;
      expect(last).toMatchObject({ type: 'run.failed', reason: 'lock_lost' });
      expect(events.filter((e) => e.type === 'run.failed')).toHaveLength(1);
      // The run was cut short: far from all of its text went out, and nothing comes after.
      const sent = events.filter((e) => e.type === 'text.delta').length;
      expect(sent).toBeLessThan(120);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await harness.events(runId)).toHaveLength(events.length);
      expect((await harness.queue.getJob(runId))!.failedReason).toMatch(/^lock_lost: /);
      // The new owner's lock is left as it is.
      expect(await db.redis.get(keys.lock(sid))).toBe('another-run');
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
      expect(harness.logger.lines).toContainEqual(
        expect.objectContaining({ level: 'warn', message: 'lost a thread lock; its run stops' }),
      );
    } finally {
      await harness.close();
    }
  });
});
