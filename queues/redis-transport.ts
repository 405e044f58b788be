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
import { isTerminal, type RunEvent, type ToolOutput } from '../src/events.js';
import { cancelTimeout, queueError, queueTimeout, type RunFailure } from '../src/failures.js';
import type { RunChannel, RunTransport } from '../src/transport.js';
import { unlessAborted } from '../src/util/abortable.js';
import { AsyncQueue } from '../src/util/async-queue.js';
import { redisOptions, type RedisConnection } from './connection.js';
import type { ControlMessage, RunJobData, RunJobResult } from './job.js';
import {
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  Keys,
  sessionId,
  TTL,
  type SessionIdentity,
} from './keys.js';
import { StreamReader } from './stream-reader.js';

export interface RedisTransportOptions {
  /** Redis URL (redis://host:port/db) or ioredis options. */
  redis: RedisConnection;
  /** The session this transport's runs belong to; its thread id is kept in Redis. Default: a new random session. */
  session?: SessionIdentity;
  /** Key prefix. Default 'ast'. */
  prefix?: string;
  /** BullMQ queue name. Default 'assistant-runs'. */
  queue?: string;
  /** A run no worker has started after this long fails with code `queue_timeout`. Default 60 000. */
  queueTimeoutMs?: number;
  /** How long cancel() waits for the worker to confirm. Default 30 000. */
  cancelTimeoutMs?: number;
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
  /** Resolves once the inbox exists: workers write with NOMKSTREAM, so it must come first. */
  readonly inboxReady: Promise<unknown>;
  private readonly runs = new Map<string, (event: RunEvent) => void>();
  private readonly housekeeping: NodeJS.Timeout;
  private lastRead = '0';
  private trimmedTo = '0';
  users = 0;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(connection: RedisConnection, prefix: string, queueName: string) {
    const options = redisOptions(connection);
    this.keys = new Keys(prefix);
    this.commands = new Redis(options);
    this.commands.on('error', () => undefined);
    this.reader = new StreamReader(this.commands, options, this.keys);
    this.queue = new Queue<RunJobData, RunJobResult, 'run'>(queueName, {
      connection: options as ConnectionOptions,
    });
    this.queue.on('error', () => undefined);
    this.inbox = this.keys.inbox(randomUUID());
    this.inboxReady = this.keepInbox().catch(() => undefined);
    this.reader.subscribe(this.inbox, (payload, id, fields) => {
      this.lastRead = id;
      const runId = fields[2] === 'r' ? fields[3] : undefined;
      if (runId !== undefined) this.runs.get(runId)?.(JSON.parse(payload) as RunEvent);
    });
    let ticks = 0;
    this.housekeeping = setInterval(() => {
      // Drop what was read; refresh the expiry (and re-create the inbox after a Redis restart).
      if (this.lastRead !== this.trimmedTo) {
        this.trimmedTo = this.lastRead;
        void this.commands.xtrim(this.inbox, 'MINID', this.trimmedTo).catch(() => undefined);
      }
      if (++ticks % INBOX_REFRESH_TICKS === 0) void this.keepInbox().catch(() => undefined);
    }, 1_000);
    this.housekeeping.unref();
  }

  /** Creates the inbox (a first entry) or keeps it; it expires if this process dies. */
  private keepInbox(): Promise<unknown> {
    return this.commands
      .multi()
      .xadd(this.inbox, '*', 'hello', String(process.pid))
      .expire(this.inbox, INBOX_TTL_SECONDS)
      .exec();
  }

  /** Routes a run's events to `onEvent` until the returned function is called. */
  route(runId: string, onEvent: (event: RunEvent) => void): () => void {
    this.runs.set(runId, onEvent);
    return () => this.runs.delete(runId);
  }

  async close(): Promise<void> {
    clearInterval(this.housekeeping);
    await this.reader.close();
    // Workers still streaming for it now write nothing (NOMKSTREAM). It also expires by
    // itself: a Redis that is down does not hold the close up.
    const deleted = this.commands.del(this.inbox).catch(() => undefined);
    await unlessAborted(deleted, AbortSignal.timeout(1_000), undefined);
    await this.queue.close();
    this.commands.disconnect();
  }
}

/** The inbox outlives a dead room process by at most this long. */
const INBOX_TTL_SECONDS = 600;
/** Housekeeping ticks (1 s) between two refreshes of the inbox's expiry. */
const INBOX_REFRESH_TICKS = 60;

const IDLE_CLOSE_MS = 2_000;
const clients = new Map<string, FleetClient>();

/** Borrows the shared client for `options`; give it back with release(). */
function acquire(options: RedisTransportOptions): FleetClient {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const queue = options.queue ?? DEFAULT_QUEUE;
  const key = JSON.stringify([options.redis, prefix, queue]);
  let client = clients.get(key);
  if (!client) {
    client = new FleetClient(options.redis, prefix, queue);
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
    void client.close();
  }, IDLE_CLOSE_MS);
}

export class RedisTransport implements RunTransport {
  readonly session: SessionIdentity;
  readonly sid: string;
  private closed = false;

  constructor(private readonly options: RedisTransportOptions) {
    this.session = options.session ?? { room: 'default', participant: randomUUID() };
    this.sid = sessionId(this.session);
    new Keys(options.prefix ?? DEFAULT_PREFIX); // validates the prefix now, not at the first run
  }

  /** The thread (or conversation) id a worker recorded for this session, if any. */
  async storedThreadId(): Promise<string | undefined> {
    const client = acquire(this.options);
    try {
      return (await client.commands.hget(client.keys.session(this.sid), 'threadId')) ?? undefined;
    } finally {
      release(client);
    }
  }

  startRun(request: RunRequest, backend: BackendConfig): RunChannel {
    if (this.closed) throw new Error('The Redis transport is closed.');
    const client = acquire(this.options);
    const channel = new RedisRunChannel(
      client,
      this.sid,
      this.session,
      request,
      backend,
      this.options,
    );
    void channel.settled.then(() => release(client));
    return channel;
  }

  /** Stops new runs; shared connections close once no run uses them. */
  async close(): Promise<void> {
    this.closed = true;
  }
}

class RedisRunChannel implements RunChannel {
  private readonly events = new AsyncQueue<RunEvent>();
  private readonly runId = randomUUID();
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
    this.unsubscribe = client.route(this.runId, (event) => this.receive(event));
    const data: RunJobData = {
      sid,
      session,
      runId: this.runId,
      replyTo: client.inbox,
      request,
      backend,
      queuedAt: Date.now(),
    };
    void client.inboxReady
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
    this.queueTimer = setTimeout(() => void this.giveUpIfWaiting(timeout), timeout);
  }

  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    return this.events[Symbol.asyncIterator]();
  }

  private receive(event: RunEvent): void {
    if (this.ended || event.seq <= this.lastSeq) return; // a replay after a reconnect or restart
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
    try {
      await job?.remove();
    } catch {
      return; // a worker took it meanwhile: its events will come
    }
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
