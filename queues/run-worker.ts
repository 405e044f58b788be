/**
 * Fleet mode, worker side: takes run jobs off the BullMQ queue, runs them through a backend with
 * this process's OpenAI client, publishes their events to the run's stream and obeys the run's
 * control stream. One BullMQ Worker (with `concurrency` slots) and a fixed set of connections
 * serve any number of sessions; a per-session thread lock keeps one active run per thread even
 * when a stalled job is retried while its first worker still runs.
 *
 * The parts, in the order a job meets them: begin-run (run-start.ts: lock, attempt, marker,
 * pending cancel, in one script), ThreadLocks (every held lock renewed on one timer), then
 * RunExecution (run-execution.ts): takeover.ts settles a lost earlier attempt, the run starts,
 * control-listener.ts obeys the room, RunRecord (run-record.ts) makes each event's Redis writes,
 * EventPublisher sends the events, RunMeter (worker-metrics.ts) counts.
 */
import {
  DelayedError,
  UnrecoverableError,
  WaitingError,
  Worker,
  type ConnectionOptions,
  type Job,
} from 'bullmq';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type OpenAI from 'openai';
import { createBackend } from '../src/backends/config.js';
import type { Logger } from '../src/logger.js';
import { bullOptions, shardQueues } from './bull.js';
import { connect, resolveConnection, type FleetRedis, type RedisConnection } from './connection.js';
import { ControlInbox } from './control-listener.js';
import { EventPublisher } from './event-publisher.js';
import { jobDataProblem, type RunJobData, type RunJobResult } from './job.js';
import { DEFAULT_PREFIX, DEFAULT_QUEUE, Keys } from './keys.js';
import { RunExecution, RunStop } from './run-execution.js';
import { RunRecord } from './run-record.js';
import { beginRun } from './run-start.js';
import { StreamReader } from './stream-reader.js';
import { ThreadLocks } from './thread-locks.js';
import { RunMeter, WorkerMetrics } from './worker-metrics.js';

/** Options of a RunWorker: where the queue is, the OpenAI client, and limits. */
export interface RunWorkerOptions {
  /** A Redis URL or ioredis options; or Redis Cluster seed nodes (see RedisConnection). */
  redis: RedisConnection;
  /** The OpenAI client runs use; its key comes from this process's environment, never from Redis. */
  openai: OpenAI;
  prefix?: string;
  queue?: string;
  /**
   * Queue shards: the fleet's runs are spread over this many queues (`<queue>-0` ...), sessions
   * hashed to one; this worker consumes all of them. Rooms must use the same. Default 1.
   */
  queues?: number;
  /** Runs executed at once by this process (split evenly over the queue shards). Default 50. */
  concurrency?: number;
  logger: Logger;
  /**
   * Failure detection (BullMQ's job lock): a worker that stops renewing its jobs' locks for
   * `lockDurationMs` is taken for dead and its runs are taken over, found by a stalled-job check
   * every `stalledIntervalMs`. Locks are renewed every `lockRenewMs`, so an event-loop stall
   * shorter than `lockDurationMs - lockRenewMs` is never taken for a death. Defaults 1 500, 200
   * and 100 ms: a dead worker's runs are taken over within 1.6 s of its death, and a 1.3 s stall
   * is tolerated.
   */
  lockDurationMs?: number;
  lockRenewMs?: number;
  stalledIntervalMs?: number;
}

/** The detection defaults (see RunWorkerOptions). */
export const DETECTION = { lockDurationMs: 1_500, lockRenewMs: 200, stalledIntervalMs: 100 };

/**
 * How much of a job lock's remaining life a run's upstream write does not count on: the time
 * from the ownership check to the request's leaving, and clock rates that differ slightly.
 */
const LEASE_MARGIN_MS = 100;

/** Executes run jobs from the BullMQ queue with this process's OpenAI client (what `assistant-host worker` runs). */
export class RunWorker {
  readonly #options: RunWorkerOptions;
  readonly #keys: Keys;
  readonly #commands: FleetRedis;
  readonly #reader: StreamReader;
  readonly #control: ControlInbox;
  readonly #locks: ThreadLocks;
  /** One BullMQ Worker per queue shard. */
  readonly #workers: Array<Worker<RunJobData, RunJobResult>>;
  /** On a cluster, the connection the BullMQ Workers share (BullMQ does not close it). */
  readonly #bullRedis: FleetRedis | null;
  /** Runs executing here, with the switch that hands one back to the queue at shutdown. */
  readonly #active = new Map<string, RunStop>();
  readonly metrics = new WorkerMetrics();
  #closing = false;

  constructor(options: RunWorkerOptions) {
    this.#options = options;
    const { logger } = options;
    const connection = resolveConnection(options.redis, 'redis');
    this.#keys = new Keys(options.prefix ?? DEFAULT_PREFIX);
    const workerId = randomUUID();
    // Auto-pipelining: the XADDs of every run streaming at once leave in one write per tick. Not
    // on a cluster: ioredis's Cluster refuses an automatic pipeline whose keys span slots.
    this.#commands = connect(connection, {
      enableAutoPipelining: connection.kind === 'single',
    });
    this.#commands.on('error', (error: Error) =>
      logger.warn('redis error', { error: error.message }),
    );
    this.#reader = new StreamReader(
      this.#commands,
      connection,
      this.#keys,
      (error) => {
        logger.warn('control reader error', { error: error.message });
        // A nudge may have come while the reader could not read: look at every run again.
        this.#control.recheck();
      },
      5_000,
      workerId,
    );
    this.#control = new ControlInbox(this.#commands, this.#reader, this.#keys, workerId, logger);
    this.#locks = new ThreadLocks(this.#commands, logger);
    const queues = shardQueues(options.queue ?? DEFAULT_QUEUE, options.queues ?? 1);
    this.#bullRedis = connection.kind === 'cluster' ? connect(connection) : null;
    this.#bullRedis?.on('error', (error: Error) =>
      logger.warn('redis error', { error: error.message }),
    );
    const concurrency = Math.max(1, Math.ceil((options.concurrency ?? 50) / queues.length));
    this.#workers = queues.map((queue) => {
      const worker = new Worker<RunJobData, RunJobResult>(
        queue,
        (job, token) => this.#process(job, token),
        {
          ...(bullOptions(connection, queue, this.#bullRedis ?? undefined) as {
            connection: ConnectionOptions;
          }),
          concurrency,
          // A dead worker's jobs are back in the queue within 2 s, not BullMQ's 30 s default.
          lockDuration: options.lockDurationMs ?? DETECTION.lockDurationMs,
          lockRenewTime: options.lockRenewMs ?? DETECTION.lockRenewMs,
          stalledInterval: options.stalledIntervalMs ?? DETECTION.stalledIntervalMs,
          // Each takeover continues the run; only a run that keeps killing its workers fails.
          maxStalledCount: 5,
          autorun: true,
        },
      );
      worker.on('error', (error) => logger.warn('worker error', { queue, error: error.message }));
      return worker;
    });
  }

  /** Resolves once the worker is connected and taking jobs. */
  async ready(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.waitUntilReady()));
    await this.#control.ready();
  }

  get runningCount(): number {
    return this.#active.size;
  }

  async #process(job: Job<RunJobData, RunJobResult>, token?: string): Promise<RunJobResult> {
    const { logger } = this.#options;
    const problem = jobDataProblem(job.data, this.#keys);
    if (problem) {
      logger.warn('rejected a malformed run job', { jobId: job.id, problem });
      throw new UnrecoverableError(`Malformed run job: ${problem}`);
    }
    const { sid, runId, replyTo, request, backend: config } = job.data;
    const startedAt = Date.now();
    // One active run per thread, whatever the number of workers; and the run's state, at once.
    const start = await beginRun(
      this.#commands,
      this.#keys,
      sid,
      runId,
      !request.threadId,
      this.#control.key,
    );
    if (!start.begun) {
      await job.moveToDelayed(Date.now() + 50, token);
      throw new DelayedError();
    }
    const stop = new RunStop();
    const owner = `${runId}:${start.attempt}`;
    const attemptKey = this.#keys.attempt(sid, runId);
    const stillOwned = async () => (await this.#commands.get(attemptKey)) === String(start.attempt);
    const jobLock = `${job.queueQualifiedName}:${job.id}:lock`;
    const lease = async (): Promise<number | null> => {
      const asked = performance.now();
      const [attempt, ttl] = await Promise.all([
        this.#commands.get(attemptKey),
        this.#commands.pttl(jobLock),
      ]);
      // A job whose lock is gone is about to be taken over (the stalled-job check moves it).
      if (attempt !== String(start.attempt) || ttl <= 0) return null;
      // Nobody can take the job over before its lock lapses, ttl after the question left at
      // the earliest; the margin covers the time from this check to the request's leaving.
      return asked + ttl - LEASE_MARGIN_MS;
    };
    const lock = this.#locks.hold(this.#keys.lock(sid), owner, startedAt, (why, holder) => {
      // A later attempt of this run holds the lock: this one was taken over.
      if (holder?.startsWith(`${runId}:`)) return stop.stop('superseded');
      // A lock that lapsed (this worker was stalled) may have been taken over and given up
      // since: the attempt counter tells. Only a run still ours is ended upstream.
      stillOwned().then(
        (owned) => stop.stop(owned ? why : 'superseded'),
        (error: Error) => {
          logger.warn('could not tell whether a run whose lock was lost was taken over', {
            runId,
            error: error.message,
          });
          stop.stop(why);
        },
      );
    });
    this.metrics.activeSessions.inc();
    this.#active.set(runId, stop);
    try {
      const execution = new RunExecution({
        job,
        start,
        backend: createBackend(config, this.#options.openai, logger),
        publisher: new EventPublisher(this.#commands, this.#keys, replyTo, runId, start.attempt),
        record: new RunRecord(this.#commands, this.#keys, sid, runId, config.api),
        meter: new RunMeter(this.metrics, config.api, startedAt),
        lock,
        stop,
        control: this.#control,
        controlKey: this.#keys.control(sid, runId),
        lease,
        logger,
        startedAt,
      });
      const result = await execution.execute();
      // The job belongs to the attempt that took it over: leave it as it is.
      if (result === 'superseded') throw new WaitingError();
      if (result !== 'handed back') return result;
      // Back to the queue as it is: the worker that takes it over ends the upstream run cleanly.
      await job.moveToWait(token);
      throw new WaitingError();
    } finally {
      this.metrics.activeSessions.dec();
      this.#active.delete(runId);
      await lock.release();
    }
  }

  /** False once shutdown began or Redis is unreachable. */
  async isReady(): Promise<boolean> {
    if (this.#closing || !this.#workers.every((worker) => worker.isRunning())) return false;
    try {
      return (await this.#commands.ping()) === 'PONG';
    } catch {
      return false; // handled: an unreachable Redis is what "not ready" reports
    }
  }

  /**
   * Graceful shutdown: stop taking jobs, let runs in flight finish for up to `graceMs`, then
   * hand the rest back to the queue: another worker takes each over and continues it upstream
   * from its checkpoint, as after a crash. Returns how many runs were handed back.
   */
  async close(graceMs = 25_000): Promise<number> {
    this.#closing = true;
    const drained = Promise.all(this.#workers.map((worker) => worker.close())).then(
      () => 'drained' as const,
    );
    const timedOut = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), graceMs).unref(),
    );
    let handedBack = 0;
    if ((await Promise.race([drained, timedOut])) === 'timeout') {
      handedBack = this.#active.size;
      for (const stop of this.#active.values()) stop.stop('handed back');
      await drained;
    }
    this.#locks.close();
    await this.#control.close();
    await this.#reader.close();
    this.#commands.disconnect();
    this.#bullRedis?.disconnect();
    return handedBack;
  }
}
