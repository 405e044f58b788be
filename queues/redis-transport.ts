/**
 * Fleet mode, room side: a run becomes a BullMQ job; its events come back to the process's
 * inbox, one Redis stream for all its runs, read over one connection, in order and exactly once
 * (duplicates after a reconnect or a worker restart are dropped by sequence number); tool
 * outputs and cancels go to the worker on the run's control stream.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { RunRequest } from '../src/backends/backend.js';
import type { BackendConfig } from '../src/backends/config.js';
import type { FleetTransportOptions } from '../src/fleet-mode.js';
import { isTerminal, type RunEvent, type ToolOutput } from '../src/events.js';
import {
  cancelTimeout,
  eventsLost,
  queueError,
  queueTimeout,
  type RunFailure,
} from '../src/failures.js';
import { defaultLogger, type Logger } from '../src/logger.js';
import type { RunChannel, RunTransport } from '../src/transport.js';
import { unlessAborted } from '../src/util/abortable.js';
import { AsyncQueue } from '../src/util/async-queue.js';
import { redisOptions, type RedisConnection } from './connection.js';
import type { ControlMessage, RunJobData, RunJobResult } from './job.js';
import {
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  INBOX_TTL_MS,
  Keys,
  sessionId,
  TTL,
  type SessionIdentity,
} from './keys.js';
import { ReplayFilter } from './replay-filter.js';
import { inboxCodec } from './stream-codec.js';
import { StreamReader } from './stream-reader.js';

/** AssistantLLM's fleet options, with ioredis's own type for the connection. */
export interface RedisTransportOptions extends Omit<FleetTransportOptions, 'redis'> {
  /** Redis URL (redis://host:port/db) or ioredis options. */
  redis: RedisConnection;
}

/**
 * One set of connections per Redis + prefix + queue in a process, shared by all its sessions.
 * Opened on demand and closed when no run has used it for IDLE_CLOSE_MS, so that a script that
 * is done exits without an explicit close.
 */
class FleetClient {
  readonly commands: Redis;
  readonly reader: StreamReader;
  readonly queue: Queue<RunJobData, RunJobResult, 'run'>;
  readonly keys: Keys;
  /** Where workers send this process's run events; one XREAD reads them all. */
  readonly inbox: string;
  readonly logger: Logger;
  /** The inbox's creation, while it is pending or once it went through. */
  private inboxCreated: Promise<void> | null = null;
  private readonly runs = new Map<string, (event: RunEvent, textOffset?: number) => void>();
  private readonly housekeeping: NodeJS.Timeout;
  private lastRead = '0';
  private trimmedTo = '0';
  users = 0;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(connection: RedisConnection, prefix: string, queueName: string, logger: Logger) {
    const options = redisOptions(connection);
    this.logger = logger;
    this.keys = new Keys(prefix);
    this.commands = new Redis(options);
    // Logged at debug: every command that fails on this connection also rejects to its caller.
    const connectionError = (error: Error) =>
      logger.debug('redis connection error', { error: error.message });
    this.commands.on('error', connectionError);
    this.reader = new StreamReader(this.commands, options, this.keys, (error) =>
      logger.warn('run event reader error', { error: error.message }),
    );
    this.queue = new Queue<RunJobData, RunJobResult, 'run'>(queueName, {
      connection: options as ConnectionOptions,
    });
    this.queue.on('error', connectionError);
    this.inbox = this.keys.inbox(randomUUID());
    // Created now so that the first run need not wait; if this fails, that run tries again.
    this.ensureInbox().catch((error: Error) =>
      logger.debug('could not create the inbox yet', { error: error.message }),
    );
    this.reader.subscribe(this.inbox, (id, fields) => {
      this.lastRead = id;
      const entry = inboxCodec.decode(fields);
      if (entry) this.runs.get(entry.runId)?.(entry.event, entry.textOffset);
    });
    this.housekeeping = setInterval(() => {
      // Drop what was read; refresh the expiry (and re-create the inbox after a Redis restart).
      if (this.lastRead !== this.trimmedTo) {
        const upTo = this.lastRead;
        this.commands.xtrim(this.inbox, 'MINID', upTo).then(
          () => (this.trimmedTo = upTo),
          // Logged; the next tick tries again (the inbox is capped meanwhile).
          (error: Error) => logger.debug('could not trim the inbox', { error: error.message }),
        );
      }
      // The inbox lives INBOX_TTL_MS past the last tick: a worker finding it gone knows this
      // process is gone and ends its runs upstream.
      this.refreshInbox().catch((error: Error) =>
        // Logged; the next tick tries again, well before the inbox would expire.
        logger.warn('could not refresh the inbox', { error: error.message }),
      );
    }, INBOX_REFRESH_MS);
    this.housekeeping.unref();
  }

  /**
   * Resolves once the inbox exists: workers write with NOMKSTREAM, so it must come before any
   * job. A failed attempt is forgotten, so that the next run tries again.
   */
  ensureInbox(): Promise<void> {
    this.inboxCreated ??= this.keepInbox().then(
      () => undefined,
      (error: unknown) => {
        this.inboxCreated = null;
        throw error;
      },
    );
    return this.inboxCreated;
  }

  /** Creates the inbox (a first entry) or keeps it; it expires if this process dies. */
  private keepInbox(): Promise<unknown> {
    return this.commands
      .multi()
      .xadd(this.inbox, '*', 'hello', String(process.pid))
      .pexpire(this.inbox, INBOX_TTL_MS)
      .exec();
  }

  /** Extends the inbox's and its fence's lives; re-creates the inbox if Redis lost it. */
  private async refreshInbox(): Promise<void> {
    const replies = await this.commands
      .multi()
      .pexpire(this.inbox, INBOX_TTL_MS)
      .pexpire(this.keys.fence(this.inbox), INBOX_TTL_MS)
      .exec();
    if (replies?.[0]?.[1] === 0) await this.keepInbox();
  }

  /** Routes a run's events to `onEvent` until the returned function is called. */
  route(runId: string, onEvent: (event: RunEvent, textOffset?: number) => void): () => void {
    this.runs.set(runId, onEvent);
    return () => {
      this.runs.delete(runId);
      // The run's fence entry is no longer needed; it also goes with the inbox.
      this.commands.hdel(this.keys.fence(this.inbox), runId).catch((error: Error) =>
        this.logger.debug('could not drop a finished run from the fence', {
          error: error.message,
        }),
      );
    };
  }

  async close(): Promise<void> {
    clearInterval(this.housekeeping);
    await this.reader.close();
    // Workers still streaming for it now write nothing (NOMKSTREAM). It also expires by
    // itself, so a failed DEL is only logged, and a Redis that is down does not hold the close up.
    const deleted = this.commands
      .del(this.inbox)
      .catch((error: Error) =>
        this.logger.debug('could not delete the inbox; it expires', { error: error.message }),
      );
    await unlessAborted(deleted, AbortSignal.timeout(1_000), undefined);
    await this.queue.close();
    this.commands.disconnect();
  }
}

/** How often the inbox is trimmed and its life extended (it lives INBOX_TTL_MS past this). */
const INBOX_REFRESH_MS = 1_000;

const IDLE_CLOSE_MS = 2_000;
/** How soon a queue-timeout check that Redis could not answer is made again. */
const QUEUE_RECHECK_MS = 1_000;
const clients = new Map<string, FleetClient>();

/** Borrows the shared client for `options`; give it back with release(). */
function acquire(options: RedisTransportOptions): FleetClient {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const queue = options.queue ?? DEFAULT_QUEUE;
  const key = JSON.stringify([options.redis, prefix, queue]);
  let client = clients.get(key);
  if (!client) {
    client = new FleetClient(options.redis, prefix, queue, options.logger ?? defaultLogger());
    clients.set(key, client);
  }
  clearTimeout(client.idleTimer);
  client.users++;
  const borrowed = client;
  borrowed.idleTimer = undefined;
  return borrowed;
}

function release(client: FleetClient): void {
  client.users--;
  if (client.users > 0) return;
  client.idleTimer = setTimeout(() => {
    if (client.users > 0) return;
    for (const [key, value] of clients) if (value === client) clients.delete(key);
    client.close().catch((error: Error) =>
      // Logged; the connections are being dropped either way.
      client.logger.warn('could not close the Redis connections cleanly', {
        error: error.message,
      }),
    );
  }, IDLE_CLOSE_MS);
}

/**
 * Fleet mode, room side: runs become BullMQ jobs that workers execute, and their events come back
 * over Redis. AssistantLLM makes one from `transport: { redis, ... }`; pass one yourself (or use
 * createRedisTransport) to keep a reference, e.g. for storedThreadId().
 */
export class RedisTransport implements RunTransport {
  /** The session these runs belong to. */
  readonly session: SessionIdentity;
  /** The session's id in Redis keys (a digest of room and participant). */
  readonly sid: string;
  #closed = false;
  readonly #options: RedisTransportOptions;

  constructor(options: RedisTransportOptions) {
    this.#options = options;
    this.session = options.session ?? { room: 'default', participant: randomUUID() };
    this.sid = sessionId(this.session);
    new Keys(options.prefix ?? DEFAULT_PREFIX); // validates the prefix now, not at the first run
  }

  /** The thread (or conversation) id a worker recorded for this session, if any. */
  async storedThreadId(): Promise<string | undefined> {
    const client = acquire(this.#options);
    try {
      return (await client.commands.hget(client.keys.session(this.sid), 'threadId')) ?? undefined;
    } finally {
      release(client);
    }
  }

  /** Queues a run as a BullMQ job; its events arrive on this process's inbox. */
  startRun(request: RunRequest, backend: BackendConfig): RunChannel {
    if (this.#closed) throw new Error('The Redis transport is closed.');
    const client = acquire(this.#options);
    const channel = new RedisRunChannel(
      client,
      this.sid,
      this.session,
      request,
      backend,
      this.#options,
    );
    void channel.settled.then(() => release(client));
    return channel;
  }

  /** Stops new runs; shared connections close once no run uses them. */
  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** A Redis transport for AssistantLLM's `transport` option; the same as `new RedisTransport(options)`. */
export function createRedisTransport(options: RedisTransportOptions): RedisTransport {
  return new RedisTransport(options);
}

class RedisRunChannel implements RunChannel {
  private readonly events = new AsyncQueue<RunEvent>();
  private readonly runId = randomUUID();
  private readonly filter = new ReplayFilter();
  /** The last sequence number passed on. */
  private lastSeq = 0;
  private ended = false;
  private terminal!: () => void;
  private readonly terminated = new Promise<void>((resolve) => (this.terminal = resolve));
  /** Resolves once the run has ended (as seen by this room). */
  get settled(): Promise<void> {
    return this.terminated;
  }
  private readonly unsubscribe: () => void;
  private queueTimer: NodeJS.Timeout | undefined;
  private cancelling: Promise<void> | null = null;

  constructor(
    private readonly client: FleetClient,
    private readonly sid: string,
    session: SessionIdentity,
    request: RunRequest,
    backend: BackendConfig,
    private readonly options: RedisTransportOptions,
  ) {
    // Routed before the job exists, so not even the first event can be missed.
    this.unsubscribe = client.route(this.runId, (event, offset) => this.receive(event, offset));
    const data: RunJobData = {
      sid,
      session,
      runId: this.runId,
      replyTo: client.inbox,
      request,
      backend,
      queuedAt: Date.now(),
    };
    client
      .ensureInbox()
      .then(() =>
        client.queue.add('run', data, {
          jobId: this.runId,
          attempts: 1,
          removeOnComplete: { age: 3600, count: 10_000 },
          removeOnFail: { age: 24 * 3600, count: 10_000 },
        }),
      )
      .catch((error: unknown) => this.fail(queueError(error)));
    const timeout = options.queueTimeoutMs ?? 60_000;
    this.queueTimer = setTimeout(() => this.checkQueueTimeout(timeout), timeout);
  }

  /** Runs giveUpIfWaiting; when Redis cannot say, logs and asks again shortly. */
  private checkQueueTimeout(timeout: number): void {
    this.giveUpIfWaiting(timeout).catch((error: Error) => {
      this.client.logger.warn('could not check a queued run; checking again', {
        runId: this.runId,
        error: error.message,
      });
      this.queueTimer = setTimeout(() => this.checkQueueTimeout(timeout), QUEUE_RECHECK_MS);
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    return this.events[Symbol.asyncIterator]();
  }

  private receive(received: RunEvent, textOffset?: number): void {
    if (this.ended) return;
    // Read twice, sent again by a worker that took the run over, or from a superseded attempt.
    const event = this.filter.admit(received, textOffset);
    if (event === null) return;
    if (event === 'gap') {
      this.client.logger.warn('events of a run were lost in Redis; the run fails', {
        runId: this.runId,
      });
      // Nobody reads the rest: the worker is asked to end the run upstream.
      this.send({ type: 'cancel' }).catch((error: Error) =>
        this.client.logger.warn('could not cancel a run whose events were lost', {
          runId: this.runId,
          error: error.message,
        }),
      );
      this.fail(eventsLost(this.runId));
      return;
    }
    this.lastSeq = event.seq;
    clearTimeout(this.queueTimer);
    this.events.push(event);
    if (isTerminal(event)) this.finish();
  }

  private finish(): void {
    this.ended = true;
    clearTimeout(this.queueTimer);
    this.unsubscribe();
    this.events.end();
    this.terminal();
  }

  private fail(failure: RunFailure): void {
    if (this.ended) return;
    this.events.push({ ...failure, seq: this.lastSeq + 1 });
    this.finish();
  }

  /** No worker took the job in time: take it back if it is still waiting, and fail the run. */
  private async giveUpIfWaiting(timeout: number): Promise<void> {
    if (this.ended || this.lastSeq > 0) return;
    const job = await this.client.queue.getJob(this.runId);
    const state = job ? await job.getState() : 'unknown';
    if (
      state !== 'waiting' &&
      state !== 'delayed' &&
      state !== 'prioritized' &&
      state !== 'unknown'
    )
      return;
    // Throws if a worker took it meanwhile (it is locked): the next check sees it active and
    // waits for its events.
    await job?.remove();
    this.fail(queueTimeout(timeout));
  }

  private async send(message: ControlMessage): Promise<void> {
    const key = this.client.keys.control(this.sid, this.runId);
    await this.client.commands
      .multi()
      .xadd(key, 'MAXLEN', '~', '1000', '*', 'c', JSON.stringify(message))
      .expire(key, TTL.runningSeconds)
      .exec();
  }

  async submitToolOutputs(outputs: ToolOutput[]): Promise<void> {
    if (this.ended) return;
    await this.send({ type: 'tool_outputs', outputs });
  }

  /** Asks the owning worker to cancel; resolves when it confirms (the thread is then free). */
  cancel(): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.cancelling ??= (async () => {
      await this.send({ type: 'cancel' });
      const limit = this.options.cancelTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>(
        (resolve) => (timer = setTimeout(() => resolve('timeout'), limit)),
      );
      const outcome = await Promise.race([this.terminated, timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') this.fail(cancelTimeout(limit));
    })();
    return this.cancelling;
  }
}
