/**
 * One run on a worker, from the moment its thread lock is taken to its end, in named steps:
 * settle a lost earlier attempt (takeover: start, resume or lost), honour a cancel sent before
 * the start, start or resume the run upstream, relay its events to the room (with the Redis
 * writes each one calls for) while obeying the control stream, and end: with the run, handed
 * back at shutdown, superseded by a later attempt, orphaned by its room, or stopped because the
 * thread lock was lost.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import {
  RunHandedOff,
  type Backend,
  type BackendRun,
  type RunHooks,
} from '../src/backends/backend.js';
import { isTerminal, type RunEventBody } from '../src/events.js';
import { lockLost, type RunFailure } from '../src/failures.js';
import type { Logger } from '../src/logger.js';
import { unlessAborted } from '../src/util/abortable.js';
import { ControlListener, type ControlInbox } from './control-listener.js';
import type { Delivery, EventPublisher } from './event-publisher.js';
import type { RunJobData, RunJobResult, RunOutcome } from './job.js';
import type { RunRecord } from './run-record.js';
import { PENDING, type RunStart } from './run-start.js';
import { settleLostAttempt } from './takeover.js';
import type { HeldLock, LockLoss } from './thread-locks.js';
import type { RunMeter } from './worker-metrics.js';

export type BegunRun = Extract<RunStart, { begun: true }>;

type End = Extract<RunEventBody, { type: 'run.completed' | 'run.failed' | 'run.cancelled' }>;

/**
 * Why a run stops before its end: handed back to the queue at shutdown; superseded (a later
 * attempt of it owns it now); orphaned (the room waiting for it is gone); or its lock was lost.
 */
export type StopReason = 'handed back' | 'superseded' | 'orphaned' | LockLoss;

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
  /** The worker's control inbox, which delivers the run's control messages. */
  control: ControlInbox;
  controlKey: string;
  /**
   * Until when (performance.now()) this attempt surely owns the run: its job's lock cannot
   * lapse before. Null once it does not own the run (or its job lock is gone).
   */
  lease: () => Promise<number | null>;
  logger: Logger;
  /** When this worker began the job (ms since epoch). */
  startedAt: number;
}

/** How long a run whose lock was lost may take to cancel upstream before it is left to expire. */
const LOST_LOCK_CANCEL_MS = 10_000;

/**
 * How long a run's room may have no inbox before the run counts as orphaned and is cancelled
 * upstream. Longer than a Redis restart takes to be noticed: the room re-creates its inbox
 * within a second of reconnecting, and events wait meanwhile.
 */
export const ORPHAN_GRACE_MS = 5_000;
/** How often a run that publishes nothing (it waits for tool outputs) checks its room is there. */
const ROOM_CHECK_MS = 2_000;
const NO_INBOX_RETRY_MS = 250;

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
  /** Checkpoint writes not yet confirmed: no later event is published before they are. */
  #pendingWrites: Array<Promise<unknown>> = [];
  /** When the room's inbox was first found missing; 0 while it is there. */
  #noInboxSince = 0;
  #lastPublishAt = Date.now();

  constructor(parts: RunExecutionParts) {
    this.#parts = parts;
    this.#data = parts.job.data;
    this.#threadId = this.#data.request.threadId ?? parts.start.threadId ?? undefined;
  }

  /** The job's result; throws UnrecoverableError when the run failed. */
  async execute(): Promise<RunJobResult | 'handed back' | 'superseded'> {
    const { start, record, stop, publisher, logger } = this.#parts;
    const runId = this.#data.runId;
    // A takeover fences the earlier attempt out of the room's inbox before anything else.
    if (start.attempt > 1 && (await publisher.claim()) === 'superseded') return this.#superseded();
    // The newest item the session's previous run saw: the lost attempt's message comes after it.
    const after = start.marker === PENDING ? await record.lastItem() : undefined;
    const takeover = await settleLostAttempt({
      backend: this.#parts.backend,
      marker: start.marker,
      runId,
      request: this.#data.request,
      threadId: this.#threadId,
      after,
      logger,
    });
    if (takeover.kind === 'lost') return this.#fail(takeover.failure);
    if (start.cancelled && takeover.kind === 'start') return this.#cancelledBeforeStart();
    if (stop.why) return this.#stopped(null);
    // begin-run.lua marked a first start; a takeover that found nothing upstream marks it again.
    if (start.marker && takeover.kind === 'start') await record.markBegun();

    const hooks: RunHooks = {
      checkpoint: (checkpoint) => this.#pendingWrites.push(record.checkpoint(checkpoint)),
      beforeRequest: () => this.#ensureOwned(),
    };
    const request = {
      ...this.#data.request,
      tag: runId,
      ...(this.#threadId ? { threadId: this.#threadId } : {}),
      // Found nothing upstream: the lost attempt's request may still arrive.
      ...(start.marker && takeover.kind === 'start' ? { lostAttempt: true, after } : {}),
    };
    let run: BackendRun;
    if (takeover.kind === 'resume') {
      logger.info('resuming a run taken over', {
        runId,
        attempt: start.attempt,
        upstreamId: takeover.checkpoint.upstreamId ?? null,
        afterItemId: takeover.checkpoint.afterItemId ?? null,
      });
      this.#parts.meter.resumed();
      run = this.#parts.backend.resumeRun(request, takeover.checkpoint, hooks);
      // A cancel that reached the lost attempt's control stream is obeyed by the listener.
    } else {
      run = this.#parts.backend.startRun(request, hooks);
    }
    this.#parts.meter.started(this.#data.queuedAt);
    const control = new ControlListener(
      this.#parts.control,
      this.#parts.controlKey,
      // A takeover reads every message: outputs the room sent the lost attempt are needed again.
      start.attempt > 1 ? '0' : start.controlReadFrom,
      { runId, run, meter: this.#parts.meter, logger },
    );
    const roomCheck = setInterval(() => void this.#checkRoom(), ROOM_CHECK_MS);
    let relayed: Relayed;
    try {
      relayed = await this.#relay(run, control);
    } finally {
      clearInterval(roomCheck);
      control.stop();
    }
    if (stop.why === 'superseded' || (stop.why && !relayed.end)) return this.#stopped(run);
    return this.#ended(relayed);
  }

  /** Publishes the run's events as they come, each after the Redis writes it calls for. */
  async #relay(run: BackendRun, control: ControlListener): Promise<Relayed> {
    const { record, meter, lock, stop } = this.#parts;
    const relayed: Relayed = { end: null, threadId: this.#threadId, upstreamRunId: undefined };
    const cleanupFailed = (error: Error) =>
      // Logged: the run's events are all relayed or abandoned by then; nothing waits on this.
      this.#parts.logger.warn('a run did not close cleanly', {
        runId: this.#data.runId,
        error: error.message,
      });
    try {
      for await (const event of untilAborted(run, stop.signal, cleanupFailed)) {
        meter.saw(event);
        const writes = record.writesFor(event);
        if (event.type === 'thread.created' || event.type === 'run.started') {
          relayed.threadId = event.threadId;
        }
        if (event.type === 'run.started') {
          relayed.upstreamRunId = event.runId;
          this.#reportProgress(event.threadId, event.runId);
        }
        if (event.type === 'tool_outputs.required') {
          control.expect(event.toolCalls.map((call) => call.id));
        }
        // The run is over upstream: free the thread before the room hears so, or the session's
        // next run, sent the moment this one ends, would find the lock held and wait.
        if (isTerminal(event)) {
          relayed.end = event as End;
          if (run.lastItemId) writes.push(record.rememberLastItem(run.lastItemId));
          writes.push(lock.release());
        }
        // The event's writes and any checkpoint come first: on Redis Cluster they may live on
        // another node than the inbox, so they are confirmed before the event leaves.
        const pending = this.#pendingWrites;
        this.#pendingWrites = [];
        await Promise.all([...writes, ...pending]);
        const offset = event.type === 'text.delta' ? run.textOffset - event.text.length : undefined;
        if (!(await this.#deliver(event, offset))) break;
      }
    } catch (error) {
      // Another attempt owns the run: stop as superseded, whatever the iteration was doing.
      if (!(error instanceof RunHandedOff)) throw error;
      stop.stop(stop.why ?? 'superseded');
    }
    return relayed;
  }

  /**
   * Publishes one event; waits while the room's inbox is missing (a Redis restart) up to
   * ORPHAN_GRACE_MS. False when the run must stop: superseded, or orphaned.
   */
  async #deliver(event: RunEventBody, offset: number | undefined): Promise<boolean> {
    const { publisher, stop } = this.#parts;
    while (!stop.why) {
      const delivery: Delivery = await publisher.publish(event, offset);
      if (delivery === 'delivered') {
        this.#noInboxSince = 0;
        this.#lastPublishAt = Date.now();
        return true;
      }
      if (delivery === 'superseded') {
        stop.stop('superseded');
        return false;
      }
      if (this.#roomGone()) return false;
      await new Promise((resolve) => setTimeout(resolve, NO_INBOX_RETRY_MS));
    }
    return false;
  }

  /** Counts a missing inbox; once it has been missing for the grace period, the run is orphaned. */
  #roomGone(): boolean {
    const now = Date.now();
    this.#noInboxSince ||= now;
    if (now - this.#noInboxSince < ORPHAN_GRACE_MS) return false;
    this.#parts.stop.stop('orphaned');
    return true;
  }

  /** A run that publishes nothing for a while (it waits for tool outputs) checks on its room. */
  async #checkRoom(): Promise<void> {
    if (Date.now() - this.#lastPublishAt < ROOM_CHECK_MS || this.#parts.stop.why) return;
    try {
      if (await this.#parts.publisher.roomAlive()) this.#noInboxSince = 0;
      else this.#roomGone();
    } catch (error) {
      // Logged; Redis being unreachable is the thread lock's business, not the room check's.
      this.#parts.logger.debug('could not check on a run room', {
        runId: this.#data.runId,
        error: (error as Error).message,
      });
    }
  }

  /**
   * The lease of the run's upstream writes; rejects with RunHandedOff once it is not ours. A
   * run stopped for another reason (orphaned, its thread lock lost) still ends itself upstream
   * while it owns the run.
   */
  async #ensureOwned(): Promise<number> {
    const { stop } = this.#parts;
    const gone = stop.why === 'superseded' || stop.why === 'handed back';
    const until = gone ? null : await this.#parts.lease();
    if (until !== null) return until;
    stop.stop(stop.why ?? 'superseded');
    throw new RunHandedOff();
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

  /** A later attempt of this run owns it: this one publishes nothing and leaves everything be. */
  #superseded(): 'superseded' {
    this.#parts.logger.warn(
      'superseded: another worker took this run over; stopping without publishing',
      { runId: this.#data.runId, attempt: this.#parts.start.attempt },
    );
    return 'superseded';
  }

  /** The run stopped before its end: handed back, superseded, orphaned, or its lock was lost. */
  async #stopped(run: BackendRun | null): Promise<'handed back' | 'superseded'> {
    const why = this.#parts.stop.why;
    // Back to the queue as it is, or already another worker's: that worker continues it
    // upstream, so nothing here may end or report it.
    if (why === 'handed back' || why === 'superseded') {
      run?.handOff();
      return why === 'handed back' ? why : this.#superseded();
    }
    // Another run, or another worker taking this one over, may own the thread now; or nobody
    // waits for the run any more. End the upstream run so that it does not hold the thread.
    if (run) {
      const cancelled = await unlessAborted(
        run.cancel().then(() => 'cancelled' as const),
        AbortSignal.timeout(LOST_LOCK_CANCEL_MS),
        'timeout' as const,
      );
      if (cancelled === 'timeout') {
        // Logged; the upstream run expires by itself.
        this.#parts.logger.warn('a stopped run did not cancel upstream in time', {
          runId: this.#data.runId,
          why,
        });
      }
    }
    if (why === 'orphaned') {
      this.#parts.logger.warn('the room waiting for this run is gone; the run was cancelled', {
        runId: this.#data.runId,
      });
      await this.#parts.record.expireFinished();
      this.#parts.meter.ended('cancelled');
      throw new UnrecoverableError('orphaned: the room waiting for it is gone');
    }
    // The run's keys keep their running expiry: a worker that took the run over may still
    // need its checkpoint.
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
      const pending = iterator.next();
      // Handled: when the abort wins the race, what this read does later is of no interest
      // (a run taken over ends with RunHandedOff); when it wins, the race rethrows it.
      pending.catch(() => undefined);
      const next = await Promise.race([pending, aborted]);
      if (next === 'aborted' || next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: a pending next() holds return() until the source's next item, and the
    // source ends on its own (cancelled, or left to the worker that takes the run over).
    iterator.return?.()?.catch(onCleanupError);
  }
}
