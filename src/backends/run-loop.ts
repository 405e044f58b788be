/**
 * The run loop both backends share. Like openai-node's EventStream, the base owns the run's
 * lifecycle and a subclass only says how to speak its protocol: the loop ensures the thread,
 * opens a stream, translates its events, ends at the terminal one, waits for tool outputs (or
 * times out), continues with them, and ends the run upstream when it fails or is cancelled.
 */
import type OpenAI from 'openai';
import { performance } from 'node:perf_hooks';
import {
  isTerminal,
  type RunEventBody,
  type TerminalRunEventBody,
  type ToolOutput,
} from '../events.js';
import {
  failureFromError,
  messageOf,
  StreamIdleError,
  toolOutputTimeout,
  type RunFailure,
} from '../failures.js';
import { consoleLogger, type Logger } from '../logger.js';
import {
  RunHandedOff,
  type BackendRun,
  type BackendRunOptions,
  type RunCheckpoint,
  type RunHooks,
} from './backend.js';

/** An SDK stream: its own controller ends just this HTTP request. */
interface SdkStream<T> extends AsyncIterable<T> {
  controller: AbortController;
}

/** What every backend is made with, besides its protocol's settings. */
export interface BackendOptions extends BackendRunOptions {
  client: OpenAI;
  /** Where what a run cannot report in its events goes (a failed cleanup). Default: the console, warn and up. */
  logger?: Logger;
}

export type RunLoopOptions = BackendOptions & { logger: Logger };

/** A backend's options with the default logger filled in. */
export function withLogger<O extends BackendOptions>(options: O): O & { logger: Logger } {
  return { ...options, logger: options.logger ?? consoleLogger() };
}

/**
 * A run in flight over one protocol whose stream events are `E`. Iterate it once for its
 * events; exactly one terminal event ends them.
 */
export abstract class RunLoop<E> implements BackendRun {
  protected readonly client: OpenAI;
  protected readonly logger: Logger;
  /** Aborts every request of this run; cancel() fires it. */
  protected readonly abort = new AbortController();
  /** The thread (Assistants) or conversation (Responses); created by the loop when absent. */
  protected threadId: string | undefined;
  readonly #options: BackendRunOptions;
  #cancelRequested = false;
  /** Set by handOff(): nothing more is sent upstream, not even a cancel. */
  #handedOff = false;
  /** Set once output was seen, after which a failure is no longer safely retryable. */
  #producedOutput = false;
  #pendingOutputs: ((outputs: ToolOutput[] | null) => void) | null = null;
  /** True from `tool_outputs.required` until its outputs are taken. */
  #expectingOutputs = false;
  /** Outputs submitted before the run got round to waiting for them. */
  #earlyOutputs: ToolOutput[] | null = null;
  #cancelDone: Promise<void> | null = null;
  #upstreamCancelled: Promise<void> | null = null;
  #markStopped!: () => void;
  /** Resolves once the loop has ended: no upstream id becomes known after it. */
  protected readonly stopped = new Promise<void>((resolve) => (this.#markStopped = resolve));
  #markFinished!: () => void;
  readonly #finished = new Promise<void>((resolve) => (this.#markFinished = resolve));
  readonly #hooks: RunHooks;
  /** Where a run another process started stands; the loop continues it instead of starting. */
  readonly #resumeFrom: RunCheckpoint | undefined;
  #textOffset = 0;
  /** The text offset and index of the stream opened last (see RunCheckpoint). */
  #segmentStart = 0;
  #segment = -1;

  constructor(
    options: RunLoopOptions,
    threadId: string | undefined,
    hooks: RunHooks = {},
    resumeFrom?: RunCheckpoint,
  ) {
    // A host that can lose the run (a fleet worker) checks every write at its last moment.
    this.client = hooks.beforeRequest
      ? guardWrites(options.client, () => this.owned())
      : options.client;
    this.logger = options.logger;
    this.#options = options;
    this.#hooks = hooks;
    this.#resumeFrom = resumeFrom;
    this.threadId = resumeFrom?.threadId ?? threadId;
  }

  get textOffset(): number {
    return this.#textOffset;
  }

  /** Only a protocol whose threads are lists of items (Responses) knows one. */
  get lastItemId(): string | undefined {
    return undefined;
  }

  // The protocol's steps.

  /** Creates the thread or conversation the run goes on. */
  protected abstract createThread(): Promise<string>;
  /** Starts the run with the user's message and streams it. */
  protected abstract open(threadId: string): Promise<AsyncIterable<E>>;
  /** Submits tool outputs and streams what follows. */
  protected abstract continueWith(outputs: ToolOutput[]): Promise<AsyncIterable<E>>;
  /**
   * Streams a run another process started, from the start of `checkpoint`'s stream (a reader
   * drops what it has), then on live. A protocol that replays from
   * elsewhere says so with replayTextFrom().
   */
  protected abstract reopen(checkpoint: RunCheckpoint): Promise<AsyncIterable<E>>;
  /** Maps one protocol event to run events. */
  protected abstract translate(event: E): RunEventBody[];
  /** Ends the run upstream, so that the thread takes the next run. */
  protected abstract cancelUpstream(): Promise<void>;
  /** The run's id as its events report it, once known. */
  protected abstract get runId(): string | undefined;

  /** What a cancel must end upstream, once known; the run's id unless the protocol says otherwise. */
  protected get inFlight(): string | undefined {
    return this.runId;
  }

  /** Whether a stream that ended without a terminal event belongs to a run cancelled elsewhere. */
  protected async cancelledElsewhere(): Promise<boolean> {
    return false;
  }

  /** The failure an error means; a protocol may recognise errors of its own first. */
  protected failureOf(error: unknown): RunFailure {
    return failureFromError(error, {
      runId: this.inFlight ?? this.runId,
      beforeOutput: !this.#producedOutput,
    });
  }

  // What the protocol's steps may use.

  protected get cancelRequested(): boolean {
    return this.#cancelRequested;
  }

  /**
   * Reads an SDK stream, failing with StreamIdleError when nothing arrives for the idle limit
   * (OpenAI's client timeout covers the response headers, not a body that stalls). Only that
   * request is aborted, so a protocol that can resume the stream may.
   */
  protected guard<T>(stream: SdkStream<T>): AsyncIterable<T> {
    return this.#withIdleTimeout(stream, () => stream.controller.abort());
  }

  /**
   * Call when a stream's upstream id becomes known (the run, or a new response), or, for a
   * response whose id is unknown, the item its output follows: the host stores the checkpoint
   * before any later event reaches it.
   */
  protected checkpointAt(at: string | { afterItemId: string }): void {
    if (!this.threadId) return;
    this.#hooks.checkpoint?.({
      threadId: this.threadId,
      ...(typeof at === 'string' ? { upstreamId: at } : at),
      segment: Math.max(this.#segment, 0),
      textOffset: this.#segmentStart,
    });
  }

  /** Where the text of the stream being replayed begins (a protocol replays from there). */
  protected replayTextFrom(offset: number): void {
    this.#textOffset = offset;
    this.#segmentStart = offset;
  }

  /**
   * Waits until the host says this process still owns the run, and for how long it surely
   * will: every write upstream asks, as it leaves. An answer that is stale by the time it
   * arrives (the process was paused meanwhile, and may have lost the run) is asked again.
   */
  protected async owned(): Promise<void> {
    for (;;) {
      if (this.#handedOff) throw new RunHandedOff();
      let leaseUntil: number | void;
      try {
        leaseUntil = await this.#hooks.beforeRequest?.();
      } catch (error) {
        if (error instanceof RunHandedOff) this.handOff();
        throw error;
      }
      if (typeof leaseUntil !== 'number' || performance.now() < leaseUntil) return;
    }
  }

  /** Call when the upstream id becomes known: a cancel that came first is sent now. */
  protected upstreamKnown(): void {
    // cancelQuietly never rejects: it logs what fails.
    if (this.#cancelRequested)
      void this.#cancelQuietly('cancel that came before the run was known');
  }

  // The loop.

  async *[Symbol.asyncIterator](): AsyncIterator<RunEventBody> {
    try {
      let terminal: TerminalRunEventBody;
      try {
        terminal = yield* this.#loop();
      } catch (error) {
        // Handed off: the new owner tells the rest of the run; this iteration just ends.
        if (error instanceof RunHandedOff) return;
        throw error;
      }
      if (this.#handedOff) return;
      this.#markStopped();
      // `run.cancelled` promises a free thread: hold it until the upstream cancel is done.
      if (terminal.type === 'run.cancelled' && this.#upstreamCancelled)
        await this.#upstreamCancelled;
      yield terminal;
    } finally {
      this.#markStopped();
      this.#markFinished();
    }
  }

  /** Yields the run's events and returns the terminal one, which only this loop decides. */
  async *#loop(): AsyncGenerator<RunEventBody, TerminalRunEventBody> {
    try {
      let stream: AsyncIterable<E>;
      if (this.#resumeFrom) {
        this.#segment = this.#resumeFrom.segment;
        this.replayTextFrom(this.#resumeFrom.textOffset);
        // Whatever was produced, the caller may have some of it: never offered as retryable.
        this.#producedOutput = true;
        stream = await this.reopen(this.#resumeFrom);
      } else {
        if (!this.threadId) {
          this.threadId = await this.createThread();
          yield { type: 'thread.created', threadId: this.threadId };
        }
        this.#nextSegment();
        stream = await this.open(this.threadId);
      }
      while (true) {
        let required = false;
        for await (const event of stream) {
          for (const out of this.translate(event)) {
            if (isTerminal(out)) return out;
            if (out.type === 'text.delta') this.#textOffset += out.text.length;
            if (out.type === 'text.delta' || out.type === 'tool_call.created')
              this.#producedOutput = true;
            if (out.type === 'tool_outputs.required') required = this.#expectingOutputs = true;
            yield out;
          }
        }
        if (this.#cancelRequested) return this.#cancelled();
        if (!required) {
          if (await this.cancelledElsewhere()) return this.#cancelled();
          throw new Error('The stream ended before the run did.');
        }
        const outputs = await this.#waitForOutputs();
        if (outputs === null && this.#handedOff) throw new RunHandedOff();
        if (outputs === null) return this.#cancelled();
        if (outputs === 'timeout') {
          // Before the terminal event: a reader stops iterating once it has it.
          await this.#cancelQuietly('tool output timeout');
          return toolOutputTimeout(this.runId, this.#options.toolOutputTimeoutMs);
        }
        this.#nextSegment();
        stream = await this.continueWith(outputs);
      }
    } catch (error) {
      // Another process continues the run: nothing is ended upstream, nothing reported. (A
      // write refused as it left surfaces as the SDK's abort or connection error.)
      if (error instanceof RunHandedOff || this.#handedOff) throw new RunHandedOff();
      if (this.#cancelRequested) return this.#cancelled();
      const failed = this.failureOf(error);
      // The run may go on server-side after a broken stream; end it so the thread is free.
      if (this.inFlight) await this.#cancelQuietly('failure');
      return failed;
    }
  }

  #nextSegment(): void {
    this.#segment++;
    this.#segmentStart = this.#textOffset;
  }

  #cancelled(): TerminalRunEventBody {
    return { type: 'run.cancelled', runId: this.runId };
  }

  /**
   * Cancels upstream, logging what fails instead of throwing: the run ends for its caller
   * either way. What a failed cancel leaves behind is an upstream run that may still hold the
   * thread; the next run on it then waits for it or fails with the API's own error.
   */
  async #cancelQuietly(after: string): Promise<void> {
    try {
      await this.cancelUpstream();
    } catch (error) {
      this.logger.warn('could not cancel the run upstream', {
        after,
        runId: this.inFlight ?? this.runId,
        error: messageOf(error),
      });
    }
  }

  submitToolOutputs(outputs: ToolOutput[]): void {
    if (!this.#expectingOutputs) throw new Error('This run is not waiting for tool outputs.');
    this.#expectingOutputs = false;
    const resolve = this.#pendingOutputs;
    this.#pendingOutputs = null;
    if (resolve) resolve(outputs);
    else this.#earlyOutputs = outputs;
  }

  handOff(): void {
    if (this.#handedOff || this.#cancelRequested) return;
    this.#handedOff = true;
    this.abort.abort();
    this.#pendingOutputs?.(null);
    this.#pendingOutputs = null;
  }

  cancel(): Promise<void> {
    if (this.#handedOff) return this.#finished;
    if (!this.#cancelDone) {
      this.#cancelRequested = true;
      this.abort.abort();
      this.#pendingOutputs?.(null);
      this.#pendingOutputs = null;
      // The thread is free once the upstream run is cancelled and our iteration has ended.
      this.#upstreamCancelled = this.#cancelQuietly('cancel');
      this.#cancelDone = this.#upstreamCancelled.then(() => this.#finished);
    }
    return this.#cancelDone;
  }

  /** Waits for submitToolOutputs(); null when the run was cancelled first. */
  #waitForOutputs(): Promise<ToolOutput[] | 'timeout' | null> {
    if (this.#cancelRequested) return Promise.resolve(null);
    const early = this.#earlyOutputs;
    if (early) {
      this.#earlyOutputs = null;
      return Promise.resolve(early);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pendingOutputs = null;
        this.#expectingOutputs = false;
        resolve('timeout');
      }, this.#options.toolOutputTimeoutMs);
      this.#pendingOutputs = (outputs) => {
        clearTimeout(timer);
        resolve(outputs);
      };
    });
  }

  async *#withIdleTimeout<T>(source: AsyncIterable<T>, onIdle: () => void): AsyncGenerator<T> {
    const idleMs = this.#options.streamIdleTimeoutMs;
    const iterator = source[Symbol.asyncIterator]();
    try {
      while (true) {
        let timer: NodeJS.Timeout | undefined;
        const idle = new Promise<'idle'>((resolve) => {
          timer = setTimeout(() => resolve('idle'), idleMs);
        });
        const next = await Promise.race([iterator.next(), idle]).finally(() => clearTimeout(timer));
        if (next === 'idle') {
          onIdle();
          throw new StreamIdleError(idleMs);
        }
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Not awaited: after an idle timeout the stream's pending read settles only once its
      // abort lands. A failure to close it is logged; the request is over either way.
      iterator
        .return?.()
        ?.catch((error: unknown) =>
          this.logger.debug('closing a stream failed', { error: messageOf(error) }),
        );
    }
  }
}

/**
 * The client of a run that another process may take over: each request that changes something
 * upstream (anything but a GET) first awaits `owned`, at the last moment before it leaves, the
 * SDK's own retries included. A refused write aborts the run's requests (see owned()).
 */
function guardWrites(client: OpenAI, owned: () => Promise<void>): OpenAI {
  // The SDK keeps the fetch it was made with (or the platform's) to itself; the guarded client
  // wraps that one, so a caller's own fetch still sends the request.
  const inner = (client as unknown as { fetch?: typeof fetch }).fetch ?? globalThis.fetch;
  return client.withOptions({
    fetch: async (url, init) => {
      if ((init?.method ?? 'GET').toUpperCase() !== 'GET') await owned();
      return inner(url, init);
    },
  });
}
