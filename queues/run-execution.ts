/**
 * One run on a worker, from the moment its thread lock is taken to its end, in named steps:
 * settle a lost earlier attempt (takeover), honour a cancel sent before the start, start the run
 * upstream, relay its events to the room (with the Redis writes each one calls for) while
 * obeying the control stream, and end: with the run, handed back at shutdown, or stopped because
 * the thread lock was lost.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Backend, BackendRun } from '../src/backends/backend.js';
import { isTerminal, type RunEventBody } from '../src/events.js';
import { lockLost, type RunFailure } from '../src/failures.js';
import type { Logger } from '../src/logger.js';
import { unlessAborted } from '../src/util/abortable.js';
import { listenForControl } from './control-listener.js';
import type { EventPublisher } from './event-publisher.js';
import type { RunJobData, RunJobResult, RunOutcome } from './job.js';
import type { RunRecord } from './run-record.js';
import type { RunStart } from './run-start.js';
import type { StreamReader } from './stream-reader.js';
import { settleLostAttempt } from './takeover.js';
import type { HeldLock, LockLoss } from './thread-locks.js';
import type { RunMeter } from './worker-metrics.js';

export type BegunRun = Extract<RunStart, { begun: true }>;

type End = Extract<RunEventBody, { type: 'run.completed' | 'run.failed' | 'run.cancelled' }>;

/** Why a run stops before its end: handed back to the queue at shutdown, or its lock was lost. */
export type StopReason = 'handed back' | LockLoss;

/** The switch that stops a run early; the first reason given is the one that counts. */
export class RunStop {
  readonly #controller = new AbortController();
  #why: StopReason | null = null;

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get why(): StopReason | null {
    return this.#why;
  }

  stop(why: StopReason): void {
    if (this.#why) return;
    this.#why = why;
    this.#controller.abort();
  }
}

export interface RunExecutionParts {
  job: Job<RunJobData, RunJobResult>;
  start: BegunRun;
  backend: Backend;
  publisher: EventPublisher;
  record: RunRecord;
  meter: RunMeter;
  lock: HeldLock;
  stop: RunStop;
  reader: StreamReader;
  controlKey: string;
  logger: Logger;
  /** When this worker began the job (ms since epoch). */
  startedAt: number;
}

/** How long a run whose lock was lost may take to cancel upstream before it is left to expire. */
const LOST_LOCK_CANCEL_MS = 10_000;

/** What the relay saw of a run. */
interface Relayed {
  end: End | null;
  threadId: string | undefined;
  upstreamRunId: string | undefined;
}

export class RunExecution {
  readonly #parts: RunExecutionParts;
  readonly #data: RunJobData;
  /** The thread the run goes to: the request's, or the one the session already has. */
  readonly #threadId: string | undefined;

  constructor(parts: RunExecutionParts) {
    this.#parts = parts;
    this.#data = parts.job.data;
    this.#threadId = this.#data.request.threadId ?? parts.start.threadId ?? undefined;
  }

  /** The job's result; throws UnrecoverableError when the run failed. */
  async execute(): Promise<RunJobResult | 'handed back'> {
    const { start, record, stop } = this.#parts;
    const takeover = await settleLostAttempt({
      backend: this.#parts.backend,
      marker: start.marker,
      runId: this.#data.runId,
      request: this.#data.request,
      threadId: this.#threadId,
      logger: this.#parts.logger,
    });
    if (takeover.lost) return this.#fail(takeover.failure);
    if (start.cancelled) return this.#cancelledBeforeStart();
    if (stop.why) return this.#stopped(null);
    // begin-run.lua marked a first start; a takeover that found nothing upstream marks it again.
    if (start.marker) await record.markBegun();

    const run = this.#parts.backend.startRun({
      ...this.#data.request,
      tag: this.#data.runId,
      ...(this.#threadId ? { threadId: this.#threadId } : {}),
    });
    this.#parts.meter.started(this.#data.queuedAt);
    const stopListening = listenForControl(
      this.#parts.reader,
      this.#parts.controlKey,
      start.controlReadFrom,
      { runId: this.#data.runId, run, meter: this.#parts.meter, logger: this.#parts.logger },
    );
    let relayed: Relayed;
    try {
      relayed = await this.#relay(run);
    } finally {
      stopListening();
    }
    if (stop.why && !relayed.end) return this.#stopped(run);
    return this.#ended(relayed);
  }

  /** Publishes the run's events as they come, each after the Redis writes it calls for. */
  async #relay(run: BackendRun): Promise<Relayed> {
    const { record, publisher, meter, lock } = this.#parts;
    const relayed: Relayed = { end: null, threadId: this.#threadId, upstreamRunId: undefined };
    const cleanupFailed = (error: Error) =>
      // Logged: the run's events are all relayed or abandoned by then; nothing waits on this.
      this.#parts.logger.warn('a run did not close cleanly', {
        runId: this.#data.runId,
        error: error.message,
      });
    for await (const event of untilAborted(run, this.#parts.stop.signal, cleanupFailed)) {
      meter.saw(event);
      // Every write for an event leaves in one pipelined batch, in this order, on one
      // connection: Redis applies them before the room can read the event itself.
      const writes = record.writesFor(event);
      if (event.type === 'thread.created' || event.type === 'run.started') {
        relayed.threadId = event.threadId;
      }
      if (event.type === 'run.started') {
        relayed.upstreamRunId = event.runId;
        this.#reportProgress(event.threadId, event.runId);
      }
      // The run is over upstream: free the thread before the room hears so, or the session's
      // next run, sent the moment this one ends, would find the lock held and wait.
      if (isTerminal(event)) {
        relayed.end = event as End;
        writes.push(lock.release());
      }
      writes.push(publisher.publish(event));
      await Promise.all(writes);
    }
    return relayed;
  }

  /** For people reading Bull Board; not needed by anything else. */
  #reportProgress(threadId: string, upstreamRunId: string): void {
    const { job, startedAt, logger } = this.#parts;
    job
      .updateProgress({ threadId, upstreamRunId, queueWaitMs: startedAt - this.#data.queuedAt })
      .catch((error: Error) =>
        // Logged only: the progress is for display; the run goes on.
        logger.debug('could not report a run job progress', {
          runId: this.#data.runId,
          error: error.message,
        }),
      );
  }

  async #cancelledBeforeStart(): Promise<RunJobResult> {
    await this.#parts.publisher.publish({ type: 'run.cancelled' });
    this.#parts.meter.ended('cancelled');
    return { outcome: 'cancelled', ...this.#timing() };
  }

  /** The run stopped before its end: handed back at shutdown, or its lock was lost. */
  async #stopped(run: BackendRun | null): Promise<'handed back'> {
    const why = this.#parts.stop.why;
    // Back to the queue as it is: the worker that takes it over ends the upstream run cleanly.
    if (why === 'handed back') return 'handed back';
    // Another run, or another worker taking this one over, may own the thread now: end the
    // upstream run so that it does not hold the thread, then tell the room, once.
    if (run) {
      const cancelled = await unlessAborted(
        run.cancel().then(() => 'cancelled' as const),
        AbortSignal.timeout(LOST_LOCK_CANCEL_MS),
        'timeout' as const,
      );
      if (cancelled === 'timeout') {
        // Logged; the upstream run expires by itself.
        this.#parts.logger.warn('a run whose lock was lost did not cancel upstream in time', {
          runId: this.#data.runId,
        });
      }
    }
    // The run's keys keep their running expiry: a worker that took the run over may still
    // need its upstream marker.
    return this.#fail(lockLost(this.#data.runId, why ?? 'taken'), { keepKeys: true });
  }

  async #ended({ end, threadId, upstreamRunId }: Relayed): Promise<RunJobResult> {
    await this.#parts.record.expireFinished();
    const outcome: RunOutcome =
      end?.type === 'run.completed'
        ? 'completed'
        : end?.type === 'run.cancelled'
          ? 'cancelled'
          : 'failed';
    this.#parts.meter.ended(outcome);
    if (end?.type === 'run.failed') {
      throw new UnrecoverableError(`${end.code ?? end.reason}: ${end.message}`);
    }
    return {
      outcome,
      ...(threadId ? { threadId } : {}),
      ...(upstreamRunId ? { upstreamRunId } : {}),
      ...this.#timing(),
    };
  }

  /** Tells the room the run failed and fails the job. */
  async #fail(failure: RunFailure, options: { keepKeys?: boolean } = {}): Promise<never> {
    await this.#parts.publisher.publish(failure);
    if (!options.keepKeys) await this.#parts.record.expireFinished();
    this.#parts.meter.ended('failed');
    throw new UnrecoverableError(`${failure.code ?? failure.reason}: ${failure.message}`);
  }

  #timing(): Pick<RunJobResult, 'queueWaitMs' | 'durationMs'> {
    const { startedAt } = this.#parts;
    return { queueWaitMs: startedAt - this.#data.queuedAt, durationMs: Date.now() - startedAt };
  }
}

/** Iterates `source` until `signal` aborts, without waiting for its next item. */
async function* untilAborted<T>(
  source: AsyncIterable<T>,
  signal: AbortSignal,
  onCleanupError: (error: Error) => void,
): AsyncGenerator<T> {
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
    // Not awaited: a pending next() holds return() until the source's next item, and the
    // source ends on its own (cancelled, or left to the worker that takes the run over).
    iterator.return?.()?.catch(onCleanupError);
  }
}
