/**
 * Fleet mode, room side: a run becomes a BullMQ job; its events come back to the process's
 * inbox, one Redis stream for all its runs, read over one connection, in order and exactly once
 * (duplicates after a reconnect or a worker restart are dropped by sequence number); tool
 * outputs and cancels go to the worker on the run's control stream.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
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
import { bullOptions, queueOf, shardQueues } from './bull.js';
import { connect, resolveConnection, type FleetRedis, type RedisConnection } from './connection.js';
import { CONTROL_INBOX_MAXLEN } from './control-listener.js';
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
import { withScripts } from './scripts.js';
import { controlCodec, inboxCodec, nudgeCodec } from './stream-codec.js';
import { StreamReader } from './stream-reader.js';

/** AssistantLLM's fleet options, with ioredis's own type for the connection. */
export interface RedisTransportOptions extends Omit<FleetTransportOptions, 'redis'> {
  /**
   * Redis URL (redis://host:port/db) or ioredis options; or Redis Cluster seed nodes: a list of
   * URLs, a string of URLs separated by commas, or `{ cluster: [...], options }`.
   */
  redis: RedisConnection;
}

/**
 * One set of connections per Redis + prefix + queue in a process, shared by all its sessions.
 * Opened on demand and closed when no run has used it for IDLE_CLOSE_MS, so that a script that
 * is done exits without an explicit close.
 */
class FleetClient {
  readonly commands: FleetRedis;
  readonly reader: StreamReader;
  /** The run queues (one unless the fleet has queue shards), by name. */
  readonly queues = new Map<string, Queue<RunJobData, RunJobResult, 'run'>>();
  readonly queueNames: string[];
  /** On a cluster, the connection the queues share (BullMQ does not close it). */
  private readonly bullRedis: FleetRedis | null;
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

  constructor(
    connection: RedisConnection,
    prefix: string,
    queueName: string,
    shards: number,
    logger: Logger,
  ) {
    const resolved = resolveConnection(connection, 'redis');
    this.logger = logger;
    this.keys = new Keys(prefix);
    this.commands = connect(resolved);
    // Logged at debug: every command that fails on this connection also rejects to its caller.
    const connectionError = (error: Error) =>
      logger.debug('redis connection error', { error: error.message });
    this.commands.on('error', connectionError);
    const inboxId = randomUUID();
    this.reader = new StreamReader(
      this.commands,
      resolved,
      this.keys,
      (error) => logger.warn('run event reader error', { error: error.message }),
      5_000,
      inboxId,
    );
    this.queueNames = shardQueues(queueName, shards);
    this.bullRedis = resolved.kind === 'cluster' ? connect(resolved) : null;
    this.bullRedis?.on('error', connectionError);
    for (const name of this.queueNames) {
      const queue = new Queue<RunJobData, RunJobResult, 'run'>(
        name,
        bullOptions(resolved, name, this.bullRedis ?? undefined) as {
          connection: ConnectionOptions;
        },
      );
      queue.on('error', connectionError);
      this.queues.set(name, queue);
    }
    this.inbox = this.keys.inbox(inboxId);
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

  /** The queue of a session's runs. */
  queueFor(sid: string): Queue<RunJobData, RunJobResult, 'run'> {
    return this.queues.get(queueOf(this.queueNames, sid))!;
  }

  /**
   * Sends a control message to a run: appended to the run's control stream with its owner read
   * in the same step (send-control.lua, the session's slot), then a nudge to the owner's control
   * inbox (the worker's slot). No owner yet: the worker that begins the run reads the stream.
   * Returns the message's id on the control stream.
   */
  async sendControl(sid: string, runId: string, message: ControlMessage): Promise<string> {
    const [id, owner] = await withScripts(this.commands).sendControl(
      this.keys.control(sid, runId),
      this.keys.owner(sid, runId),
      ...controlCodec.encode(message),
      TTL.runningSeconds,
    );
    if (!owner || !this.keys.isWorkerControl(owner)) return id;
    // NOMKSTREAM: a worker that is gone has no inbox; its run is taken over, and the worker that
    // takes it over reads the control stream itself.
    await this.commands.xadd(
      owner,
      'NOMKSTREAM',
      'MAXLEN',
      '~',
      String(CONTROL_INBOX_MAXLEN),
      '*',
      ...nudgeCodec.encode(runId),
    );
    return id;
  }

  /** True while the control message `id` of a run is on its control stream. */
  async hasControl(sid: string, runId: string, id: string): Promise<boolean> {
    const found = await this.commands.xrange(this.keys.control(sid, runId), id, id);
    return found.length > 0;
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
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.bullRedis?.disconnect();
    this.commands.disconnect();
  }
}

/** How often the inbox is trimmed and its life extended (it lives INBOX_TTL_MS past this). */
const INBOX_REFRESH_MS = 1_000;

const IDLE_CLOSE_MS = 2_000;
/** How soon a queue-timeout check that Redis could not answer is made again. */
const QUEUE_RECHECK_MS = 1_000;
/**
 * A run that has started and then says nothing for this long has its job looked at: a job that is
 * over while its end never arrived (lost with a Redis primary) fails the run with `events_lost`.
 */
const SILENCE_CHECK_MS = 5_000;
const clients = new Map<string, FleetClient>();

/** Borrows the shared client for `options`; give it back with release(). */
function acquire(options: RedisTransportOptions): FleetClient {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const queue = options.queue ?? DEFAULT_QUEUE;
  const shards = options.queues ?? 1;
  const key = JSON.stringify([options.redis, prefix, queue, shards]);
  let client = clients.get(key);
  if (!client) {
    client = new FleetClient(
      options.redis,
      prefix,
      queue,
      shards,
      options.logger ?? defaultLogger(),
    );
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
    // Checked now, not at the first run: the prefix, the connection setting, the queue shards.
    new Keys(options.prefix ?? DEFAULT_PREFIX);
    resolveConnection(options.redis, 'transport.redis');
    shardQueues(options.queue ?? DEFAULT_QUEUE, options.queues ?? 1);
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
  private silenceTimer: NodeJS.Timeout | undefined;
  /** Silence checks in a row that found the job over. */
  private overButSilent = 0;
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
        client.queueFor(sid).add('run', data, {
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
    this.overButSilent = 0;
    this.unanswered = [];
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => this.checkSilence(), SILENCE_CHECK_MS);
    this.events.push(event);
    if (isTerminal(event)) this.finish();
  }

  private finish(): void {
    this.ended = true;
    clearTimeout(this.queueTimer);
    clearTimeout(this.silenceTimer);
    this.unsubscribe();
    this.events.end();
    this.terminal();
  }

  private fail(failure: RunFailure): void {
    if (this.ended) return;
    this.events.push({ ...failure, seq: this.lastSeq + 1 });
    this.finish();
  }

  /**
   * The run has been silent for SILENCE_CHECK_MS: a control message sent meanwhile that Redis
   * lost is sent again; a job still running or waiting is fine (a tool call may take long); a job
   * that is over (or gone) twice in a row means its last events were lost, and the run fails with
   * `events_lost` rather than wait for ever.
   */
  private checkSilence(): void {
    if (this.ended) return;
    const again = () => {
      if (!this.ended) this.silenceTimer = setTimeout(() => this.checkSilence(), SILENCE_CHECK_MS);
    };
    this.resendLost()
      .then(() => this.client.queueFor(this.sid).getJobState(this.runId))
      .then((state) => {
        if (this.ended) return;
        const over = state === 'completed' || state === 'failed' || state === 'unknown';
        this.overButSilent = over ? this.overButSilent + 1 : 0;
        if (this.overButSilent >= 2) {
          this.client.logger.warn('a run is over on its worker but its end never arrived', {
            runId: this.runId,
            state,
          });
          this.fail(eventsLost(this.runId));
          return;
        }
        again();
      })
      .catch((error: Error) => {
        // Logged; asked again after the next interval.
        this.client.logger.warn('could not check a silent run', {
          runId: this.runId,
          error: error.message,
        });
        again();
      });
  }

  /** No worker took the job in time: take it back if it is still waiting, and fail the run. */
  private async giveUpIfWaiting(timeout: number): Promise<void> {
    if (this.ended || this.lastSeq > 0) return;
    const job = await this.client.queueFor(this.sid).getJob(this.runId);
    const state = job ? await job.getState() : 'unknown';
    if (
      state !== 'waiting' &&
      state !== 'delayed' &&
      state !== 'prioritized' &&
      state !== 'unknown'
    ) {
      // A worker has it (or had it) but nothing arrived yet: watched like a silent run, so that a
      // job that ended without a word reaching the room fails the run instead of a wait for ever.
      if (!this.ended && this.lastSeq === 0) {
        this.silenceTimer = setTimeout(() => this.checkSilence(), SILENCE_CHECK_MS);
      }
      return;
    }
    // Throws if a worker took it meanwhile (it is locked): the next check sees it active and
    // waits for its events.
    await job?.remove();
    this.fail(queueTimeout(timeout));
  }

  private async send(message: ControlMessage): Promise<void> {
    const id = await this.client.sendControl(this.sid, this.runId, message);
    this.unanswered.push({ id, message });
  }

  /**
   * Control messages sent since the run last spoke. A Redis primary that dies can lose one the
   * room was told it has; the silence check finds it gone and sends it again (the worker keeps
   * outputs by call id, and a cancel twice is a cancel).
   */
  private unanswered: Array<{ id: string; message: ControlMessage }> = [];

  private async resendLost(): Promise<void> {
    for (const entry of [...this.unanswered]) {
      if (await this.client.hasControl(this.sid, this.runId, entry.id)) continue;
      this.client.logger.warn('a control message was lost (a Redis failover); sending it again', {
        runId: this.runId,
        type: entry.message.type,
      });
      this.unanswered = this.unanswered.filter((e) => e !== entry);
      await this.send(entry.message);
    }
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
