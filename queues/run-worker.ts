/**
 * Fleet mode, worker side: takes run jobs off the BullMQ queue, runs them through a backend with
 * this process's OpenAI client, publishes their events to the run's stream and obeys the run's
 * control stream. One BullMQ Worker (with `concurrency` slots) and a fixed set of connections
 * serve any number of sessions; a per-session thread lock keeps one active run per thread even
 * when a stalled job is retried while its first worker still runs.
 */
import {
  DelayedError,
  UnrecoverableError,
  WaitingError,
  Worker,
  type ConnectionOptions,
  type Job,
} from 'bullmq';
import { Redis } from 'ioredis';
import type OpenAI from 'openai';
import { createBackend } from '../src/backends/config.js';
import { isTerminal, type RunEventBody } from '../src/events.js';
import { workerLost } from '../src/failures.js';
import type { Logger } from '../src/logger.js';
import { redisOptions, type RedisConnection } from './connection.js';
import {
  jobDataProblem,
  type ControlMessage,
  type RunJobData,
  type RunJobResult,
  type RunOutcome,
} from './job.js';
import { EventPublisher } from './event-publisher.js';
import { DEFAULT_PREFIX, DEFAULT_QUEUE, Keys, TTL } from './keys.js';
import { beginRun, PENDING, type RunStart } from './run-start.js';
import { StreamReader } from './stream-reader.js';
import { WorkerMetrics } from './worker-metrics.js';

export interface RunWorkerOptions {
  redis: RedisConnection;
  /** The OpenAI client runs use; its key comes from this process's environment, never from Redis. */
  openai: OpenAI;
  prefix?: string;
  queue?: string;
  /** Runs executed at once by this process. Default 50. */
  concurrency?: number;
  logger: Logger;
  /** BullMQ lock and stalled-job check: a dead worker's job is recovered after about this long. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export class RunWorker {
  private readonly keys: Keys;
  private readonly commands: Redis;
  private readonly reader: StreamReader;
  private readonly worker: Worker<RunJobData, RunJobResult>;
  /** Runs executing here, with the switch that hands one back to the queue at shutdown. */
  private readonly active = new Map<string, AbortController>();
  readonly metrics = new WorkerMetrics();
  private closing = false;

  constructor(private readonly options: RunWorkerOptions) {
    const connection = redisOptions(options.redis);
    this.keys = new Keys(options.prefix ?? DEFAULT_PREFIX);
    // Auto-pipelining: the XADDs of every run streaming at once leave in one write per tick.
    this.commands = new Redis({ ...connection, enableAutoPipelining: true });
    this.commands.on('error', (error) =>
      options.logger.warn('redis error', { error: error.message }),
    );
    this.reader = new StreamReader(this.commands, connection, this.keys, (error) =>
      options.logger.warn('control reader error', { error: error.message }),
    );
    this.worker = new Worker<RunJobData, RunJobResult>(
      options.queue ?? DEFAULT_QUEUE,
      (job, token) => this.process(job, token),
      {
        connection: connection as ConnectionOptions,
        concurrency: options.concurrency ?? 50,
        // A dead worker's jobs are back in the queue within seconds, not BullMQ's 30 s default.
        lockDuration: options.lockDurationMs ?? 6_000,
        stalledInterval: options.stalledIntervalMs ?? 3_000,
        maxStalledCount: 1,
        autorun: true,
      },
    );
    this.worker.on('error', (error) =>
      options.logger.warn('worker error', { error: error.message }),
    );
  }

  /** Resolves once the worker is connected and taking jobs. */
  async ready(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.commands.ping();
  }

  get runningCount(): number {
    return this.active.size;
  }

  private async process(job: Job<RunJobData, RunJobResult>, token?: string): Promise<RunJobResult> {
    const problem = jobDataProblem(job.data, this.keys);
    if (problem) {
      this.options.logger.warn('rejected a malformed run job', { jobId: job.id, problem });
      throw new UnrecoverableError(`Malformed run job: ${problem}`);
    }
    const { sid, runId } = job.data;
    const lockKey = this.keys.lock(sid);
    // One active run per thread, whatever the number of workers; and the run's state, at once.
    const start = await beginRun(this.commands, this.keys, sid, runId, !job.data.request.threadId);
    if (!start.begun) {
      await job.moveToDelayed(Date.now() + 50, token);
      throw new DelayedError();
    }
    const renew = setInterval(() => {
      void this.commands.eval(RENEW_LOCK, 1, lockKey, runId, TTL.lockMs).catch(() => undefined);
    }, TTL.lockMs / 3);
    this.metrics.activeSessions.inc();
    const handBack = new AbortController();
    this.active.set(runId, handBack);
    try {
      const result = await this.execute(job, start, handBack.signal);
      if (result !== 'handed back') return result;
      // Back to the queue as it is: the worker that takes it over ends the upstream run cleanly.
      await job.moveToWait(token);
      throw new WaitingError();
    } finally {
      clearInterval(renew);
      this.metrics.activeSessions.dec();
      this.active.delete(runId);
      await this.releaseLock(sid, runId);
    }
  }

  private async releaseLock(sid: string, runId: string): Promise<void> {
    await this.commands.eval(RELEASE_LOCK, 1, this.keys.lock(sid), runId).catch(() => undefined);
  }

  private async execute(
    job: Job<RunJobData, RunJobResult>,
    start: Extract<RunStart, { begun: true }>,
    handBack: AbortSignal,
  ): Promise<RunJobResult | 'handed back'> {
    const { sid, runId, request, backend: config, queuedAt } = job.data;
    const keys = this.keys;
    const started = Date.now();
    const publisher = new EventPublisher(this.commands, job.data.replyTo, runId, start.attempt);
    const backend = createBackend(config, this.options.openai, this.options.logger);
    const sessionKey = keys.session(sid);
    const timing = () => ({ queueWaitMs: started - queuedAt, durationMs: Date.now() - started });
    const finish = (outcome: RunOutcome) => {
      this.metrics.runsEnded.inc({ api: config.api, outcome });
      return outcome;
    };

    const upstreamKey = keys.upstream(sid, runId);
    const { marker } = start;
    const threadId = request.threadId ?? start.threadId ?? undefined;
    if (marker) {
      // A worker began this run and was lost. If the run reached the server, end it there and
      // tell the room; the user's message must not be added twice.
      let upstream: string | null = marker !== PENDING ? marker : null;
      let unknown = false;
      if (marker === PENDING && threadId) {
        try {
          upstream = await backend.findStarted(threadId, { ...request, tag: runId });
        } catch (error) {
          // Not knowing is not "never started": sending again could add the message twice.
          unknown = true;
          this.options.logger.warn(
            'could not tell whether the lost attempt reached the server; the run ends as lost',
            { runId, error: (error as Error).message },
          );
        }
      }
      if (upstream || unknown) {
        if (threadId && upstream) await backend.abandon(threadId, upstream).catch(() => undefined);
        await publisher.publish(
          workerLost(upstream ?? undefined, upstream ? 'ended' : 'unchecked'),
        );
        finish('failed');
        throw new UnrecoverableError('worker_lost: the worker running this run stopped');
      }
    }

    const controlKey = keys.control(sid, runId);
    if (start.cancelled) {
      await publisher.publish({ type: 'run.cancelled' });
      return { outcome: finish('cancelled'), ...timing() };
    }
    // beginRun marked the run as begun before anything reaches the server (see the takeover
    // above); a takeover that found it never reached the server marks it again.
    if (marker) await this.commands.set(upstreamKey, PENDING, 'EX', TTL.runningSeconds);
    const run = backend.startRun({ ...request, tag: runId, ...(threadId ? { threadId } : {}) });
    this.metrics.runsStarted.inc({ api: config.api });
    this.metrics.queueWait.observe((started - queuedAt) / 1000);
    let askedForTools = 0;
    const unsubscribe = this.reader.subscribe(
      controlKey,
      (payload) => {
        const message = JSON.parse(payload) as ControlMessage;
        if (message.type === 'cancel') return void run.cancel();
        if (askedForTools) this.metrics.toolRoundTrip.observe((Date.now() - askedForTools) / 1000);
        askedForTools = 0;
        try {
          run.submitToolOutputs(message.outputs);
        } catch (error) {
          this.options.logger.warn('tool outputs for a run that does not wait for them', {
            runId,
            error: (error as Error).message,
          });
        }
      },
      start.controlReadFrom,
    );
    let outcome: RunOutcome = 'failed';
    let upstreamRunId: string | undefined;
    let knownThread = threadId;
    let failure: Extract<RunEventBody, { type: 'run.failed' }> | undefined;
    let firstToken = true;
    try {
      for await (const event of untilAborted(run, handBack)) {
        // Every write for an event leaves in one pipelined batch, in this order, on one
        // connection: Redis applies them before the room can read the event itself.
        const writes: Array<Promise<unknown>> = [];
        if (event.type === 'thread.created' || event.type === 'run.started') {
          knownThread = event.threadId;
          writes.push(
            this.commands.hset(sessionKey, 'threadId', event.threadId, 'api', config.api),
            this.commands.expire(sessionKey, TTL.sessionSeconds),
          );
        }
        if (event.type === 'run.started') {
          upstreamRunId = event.runId;
          writes.push(this.commands.set(upstreamKey, event.runId, 'EX', TTL.runningSeconds));
          void job
            .updateProgress({
              threadId: event.threadId,
              upstreamRunId,
              queueWaitMs: started - queuedAt,
            })
            .catch(() => undefined);
        }
        if (event.type === 'text.delta' && firstToken) {
          firstToken = false;
          this.metrics.timeToFirstToken.observe((Date.now() - started) / 1000);
        }
        if (event.type === 'tool_outputs.required') askedForTools = Date.now();
        // The run is over upstream: free the thread before the room hears so, or the session's
        // next run, sent the moment this one ends, would find the lock held and wait.
        if (isTerminal(event)) writes.push(this.releaseLock(sid, runId));
        writes.push(publisher.publish(event));
        await Promise.all(writes);
        if (event.type === 'run.completed') outcome = 'completed';
        if (event.type === 'run.cancelled') outcome = 'cancelled';
        if (event.type === 'run.failed') failure = event;
      }
    } finally {
      unsubscribe();
    }
    // Handed back at shutdown: the worker that takes the job over publishes from here on.
    if (handBack.aborted) return 'handed back';
    await this.commands
      .multi()
      .expire(controlKey, TTL.finishedSeconds)
      .expire(upstreamKey, TTL.finishedSeconds)
      .expire(keys.attempt(sid, runId), TTL.finishedSeconds)
      .exec();
    finish(failure ? 'failed' : outcome);
    if (failure)
      throw new UnrecoverableError(`${failure.code ?? failure.reason}: ${failure.message}`);
    return {
      outcome,
      ...(knownThread ? { threadId: knownThread } : {}),
      ...(upstreamRunId ? { upstreamRunId } : {}),
      ...timing(),
    };
  }

  /** False once shutdown began or Redis is unreachable. */
  async isReady(): Promise<boolean> {
    if (this.closing || !this.worker.isRunning()) return false;
    return (await this.commands.ping().catch(() => null)) === 'PONG';
  }

  /**
   * Graceful shutdown: stop taking jobs, let runs in flight finish for up to `graceMs`, then
   * leave the rest to the queue: their locks lapse, another worker takes them over and ends
   * them cleanly (the room hears `worker_lost`). Returns how many runs were handed back.
   */
  async close(graceMs = 25_000): Promise<number> {
    this.closing = true;
    const drained = this.worker.close().then(() => 'drained' as const);
    const timedOut = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), graceMs).unref(),
    );
    let handedBack = 0;
    if ((await Promise.race([drained, timedOut])) === 'timeout') {
      handedBack = this.active.size;
      for (const handBack of this.active.values()) handBack.abort();
      await drained;
    }
    await this.reader.close();
    this.commands.disconnect();
    return handedBack;
  }
}

/** Iterates `source` until `signal` aborts, without waiting for its next item. */
async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal.aborted) resolve('aborted');
    signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  try {
    while (true) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === 'aborted' || next.done) return;
      yield next.value;
    }
  } finally {
    void iterator.return?.();
  }
}
