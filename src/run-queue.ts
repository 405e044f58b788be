/**
 * The run queue of one session (one thread): runs start in FIFO order, at most one is active,
 * and the next starts only after the previous one ended upstream, so a thread never has two
 * active runs. A queued run may interrupt the active one.
 */
import type { RunRequest } from './backends/backend.js';
import type { RunEvent, ToolOutput } from './events.js';
import { isTerminal } from './events.js';
import type { Logger } from './logger.js';
import type { RunChannel } from './transport.js';
import { AsyncQueue } from './util/async-queue.js';

export type CancelReason = 'interrupted' | 'superseded';

/** A run as its caller sees it: events in order, tool outputs in, cancel. */
export class QueuedRun implements AsyncIterable<RunEvent> {
  private readonly events = new AsyncQueue<RunEvent>();
  private channel: RunChannel | null = null;
  private lastSeq = 0;
  private cancelled: Promise<void> | null = null;
  /** Why the caller stopped this run, if it did. */
  cancelReason: CancelReason | null = null;
  private readonly aborter = new AbortController();
  runId: string | undefined;

  constructor(
    private readonly makeRequest: () => RunRequest,
    private readonly onEvent: (event: RunEvent) => void,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    return this.events[Symbol.asyncIterator]();
  }

  get isCancelled(): boolean {
    return this.cancelReason !== null;
  }

  /** Aborted when the run is cancelled or over, so work done for it (tool handlers) stops being awaited. */
  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  /** Runs on the queue's turn; resolves when the run has ended upstream. */
  async execute(start: (request: RunRequest) => RunChannel): Promise<void> {
    if (this.cancelReason) return;
    let channel: RunChannel;
    try {
      channel = start(this.makeRequest());
    } catch (error) {
      this.events.fail(error);
      return;
    }
    this.channel = channel;
    try {
      for await (const event of channel) {
        this.lastSeq = event.seq;
        if (event.type === 'run.started') this.runId = event.runId;
        this.onEvent(event);
        if (!this.cancelReason) this.events.push(event);
        if (isTerminal(event)) break;
      }
    } catch (error) {
      this.events.fail(error);
    } finally {
      this.events.end();
      // The run is over: nothing done for it (a tool handler) needs to be waited for any more.
      this.aborter.abort();
      if (this.cancelled) await this.cancelled;
    }
  }

  async submitToolOutputs(outputs: ToolOutput[]): Promise<void> {
    if (!this.channel || this.cancelReason) return;
    await this.channel.submitToolOutputs(outputs);
  }

  /**
   * Stops the run for its caller at once (the reader gets `run.cancelled` next) and cancels it
   * upstream; resolves once the thread is free.
   */
  cancel(reason: CancelReason = 'interrupted'): Promise<void> {
    if (!this.cancelled) {
      this.cancelReason = reason;
      this.aborter.abort();
      this.events.clear();
      this.events.push({ type: 'run.cancelled', runId: this.runId, seq: this.lastSeq + 1 });
      this.events.end();
      this.cancelled = this.channel ? this.channel.cancel() : Promise.resolve();
    }
    return this.cancelled;
  }
}

export class RunQueue {
  private tail: Promise<void> = Promise.resolve();
  private readonly pending: QueuedRun[] = [];
  private current: QueuedRun | null = null;

  /**
   * @param start starts a run on the transport; called when a run's turn comes
   * @param logger gets a cancel that fails where nobody awaits it (a run superseded by a newer one)
   */
  constructor(
    private readonly start: (request: RunRequest) => RunChannel,
    private readonly onEvent: (event: RunEvent) => void = () => undefined,
    private readonly logger?: Logger,
  ) {}

  /** The run executing now, if any. */
  get active(): QueuedRun | null {
    return this.current;
  }

  /** Runs waiting for their turn (not counting the active one). */
  get waiting(): number {
    return this.pending.length;
  }

  /**
   * Queues a run. `makeRequest` is called when its turn comes, so it sees the thread id that
   * earlier runs created. With `interrupt`, the active run is cancelled first.
   */
  enqueue(makeRequest: () => RunRequest, options: { interrupt?: boolean } = {}): QueuedRun {
    const superseded = options.interrupt ? this.current : null;
    superseded?.cancel('superseded').catch((error: unknown) =>
      // Logged: the superseded run's caller already has its InterruptionError; what failed is
      // telling the transport (e.g. Redis is down), and the next run reports it if it persists.
      this.logger?.warn('could not cancel a superseded run', {
        runId: superseded.runId,
        error: error instanceof Error ? error.message : String(error),
      }),
    );
    const run = new QueuedRun(makeRequest, this.onEvent);
    this.pending.push(run);
    this.tail = this.tail.then(async () => {
      this.pending.splice(this.pending.indexOf(run), 1);
      this.current = run;
      try {
        await run.execute(this.start);
      } catch {
        // Safe to drop: execute() reports its own errors to the run's reader, and what it can
        // still throw is a failed cancel, which the caller of cancel() gets from its promise.
        // The queue must go on regardless.
      } finally {
        this.current = null;
      }
    });
    return run;
  }

  /** Resolves once every run queued so far has ended. */
  idle(): Promise<void> {
    return this.tail;
  }

  /** Cancels the active run (not the queued ones); resolves once the thread is free. */
  async interruptActive(): Promise<void> {
    await this.current?.cancel('interrupted');
  }

  /** Cancels everything and waits for the queue to drain. */
  async close(): Promise<void> {
    // A queued run has no channel yet: its cancel resolves at once and cannot fail.
    for (const run of [...this.pending]) void run.cancel('interrupted');
    await this.current?.cancel('interrupted');
    await this.tail;
  }
}
