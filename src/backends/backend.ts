/**
 * A backend speaks one OpenAI protocol and translates it into run events. This file holds what
 * both backends share: the request shape, the run handle with its tool-output gate and cancel,
 * and the one mapping from SDK errors to `run.failed`.
 */
import OpenAI from 'openai';
import type { RunEventBody, ToolOutput } from '../events.js';
import type { BuiltInTool } from '../tools.js';

export type ApiKind = 'assistants' | 'responses';

/** One turn: the user's message on a thread, with per-run instructions and tools. */
export interface RunRequest {
  /** Existing thread (Assistants) or conversation (Responses); created when absent. */
  threadId?: string;
  message: string;
  /** Added to the assistant's instructions for this run only. */
  additionalInstructions?: string;
  /**
   * An id for this run, stored in the upstream run's metadata, so that a process taking the run
   * over can tell whether it was already created (and the message already added).
   */
  tag?: string;
  /** Replace the default tools for this run only. */
  tools?: BuiltInTool[];
}

/**
 * A run in flight. Iterate it for events; after `tool_outputs.required` the iteration waits
 * until submitToolOutputs() is called. cancel() ends the run upstream and the iteration with
 * `run.cancelled`; it resolves once the thread is free for the next run.
 */
export interface BackendRun extends AsyncIterable<RunEventBody> {
  submitToolOutputs(outputs: ToolOutput[]): void;
  cancel(): Promise<void>;
}

export interface Backend {
  readonly api: ApiKind;
  startRun(request: RunRequest): BackendRun;
  /**
   * Ends a run that a lost process started (a worker that died mid-run): cancels it if it is
   * still active and answers calls it waits on, so the thread takes the next run.
   */
  abandon(threadId: string, upstreamRunId: string): Promise<void>;
  /** The upstream run created for `request` (found by its tag), if it was created. */
  findStarted(threadId: string, request: RunRequest): Promise<string | null>;
}

/** The metadata key that carries RunRequest.tag upstream. */
export const TAG_KEY = 'assistant_run';

export interface BackendRunOptions {
  /** Waiting longer than this for tool outputs cancels the run. Default 120 s. */
  toolOutputTimeoutMs: number;
  /** A stream that sends nothing for this long is treated as dropped. Default 60 s. */
  streamIdleTimeoutMs: number;
}

/** Shared control of a run: the output gate, the cancel flag and the abort of the HTTP stream. */
export abstract class BaseBackendRun implements BackendRun {
  protected readonly abort = new AbortController();
  protected cancelRequested = false;
  /** Set once output was seen, after which a failure is no longer safely retryable. */
  protected producedOutput = false;
  private pendingOutputs: ((outputs: ToolOutput[] | null) => void) | null = null;
  /** True from `tool_outputs.required` until its outputs are taken. */
  private expectingOutputs = false;
  /** Outputs submitted before the run got round to waiting for them. */
  private earlyOutputs: ToolOutput[] | null = null;
  private cancelDone: Promise<void> | null = null;
  private upstreamCancelled: Promise<void> | null = null;
  private finished!: () => void;
  private readonly finishedPromise = new Promise<void>((resolve) => (this.finished = resolve));

  constructor(
    protected readonly client: OpenAI,
    protected readonly options: BackendRunOptions,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<RunEventBody> {
    try {
      for await (const event of this.run()) {
        if (event.type === 'text.delta' || event.type === 'tool_call.created') {
          this.producedOutput = true;
        }
        if (event.type === 'tool_outputs.required') this.expectingOutputs = true;
        // `run.cancelled` promises a free thread: hold it until the upstream cancel is done.
        if (event.type === 'run.cancelled' && this.upstreamCancelled) await this.upstreamCancelled;
        yield event;
        if (
          event.type === 'run.completed' ||
          event.type === 'run.failed' ||
          event.type === 'run.cancelled'
        )
          return;
      }
    } finally {
      this.finished();
    }
  }

  /** The protocol's event stream; ends with exactly one terminal event. */
  protected abstract run(): AsyncGenerator<RunEventBody>;

  /** Cancels the run upstream; `runId`/`threadId` may be unknown when the run was never created. */
  protected abstract cancelUpstream(): Promise<void>;

  submitToolOutputs(outputs: ToolOutput[]): void {
    if (!this.expectingOutputs) throw new Error('This run is not waiting for tool outputs.');
    this.expectingOutputs = false;
    const resolve = this.pendingOutputs;
    this.pendingOutputs = null;
    if (resolve) resolve(outputs);
    else this.earlyOutputs = outputs;
  }

  cancel(): Promise<void> {
    if (!this.cancelDone) {
      this.cancelRequested = true;
      this.abort.abort();
      this.pendingOutputs?.(null);
      this.pendingOutputs = null;
      // The thread is free once the upstream run is cancelled and our iteration has ended.
      this.upstreamCancelled = this.cancelUpstream().catch(() => undefined);
      this.cancelDone = this.upstreamCancelled.then(() => this.finishedPromise);
    }
    return this.cancelDone;
  }

  /** Waits for submitToolOutputs(); null when the run was cancelled or timed out first. */
  protected waitForOutputs(): Promise<ToolOutput[] | 'timeout' | null> {
    if (this.cancelRequested) return Promise.resolve(null);
    const early = this.earlyOutputs;
    if (early) {
      this.earlyOutputs = null;
      return Promise.resolve(early);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingOutputs = null;
        this.expectingOutputs = false;
        resolve('timeout');
      }, this.options.toolOutputTimeoutMs);
      this.pendingOutputs = (outputs) => {
        clearTimeout(timer);
        resolve(outputs);
      };
    });
  }

  /** The one translation of SDK and network errors into `run.failed`. */
  protected failure(error: unknown, runId: string | undefined): RunEventBody {
    const beforeOutput = !this.producedOutput;
    const base = {
      type: 'run.failed' as const,
      runId,
      kind: 'failed' as const,
      message: messageOf(error),
    };
    if (error instanceof OpenAI.APIConnectionTimeoutError || error instanceof StreamIdleError) {
      return { ...base, code: 'timeout', retryable: beforeOutput };
    }
    if (error instanceof OpenAI.APIError && !(error instanceof OpenAI.APIConnectionError)) {
      const status = typeof error.status === 'number' ? error.status : undefined;
      const transient = status === undefined || status === 408 || status === 429 || status >= 500;
      const code =
        typeof error.code === 'string' ? error.code : status ? `http_${status}` : 'api_error';
      return { ...base, code, status, retryable: beforeOutput && transient };
    }
    // A connection error, or anything else that broke the stream.
    return { ...base, code: 'connection_error', retryable: beforeOutput };
  }
}

export class StreamIdleError extends Error {
  constructor(ms: number) {
    super(`The stream sent nothing for ${ms} ms.`);
  }
}

/**
 * Iterates an SDK stream, failing with StreamIdleError when nothing arrives for `idleMs`:
 * OpenAI's client timeout covers the response headers, not a body that stalls.
 */
export async function* withIdleTimeout<T>(
  source: AsyncIterable<T>,
  idleMs: number,
  onIdle: () => void,
): AsyncGenerator<T> {
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
    void iterator.return?.();
  }
}

export function messageOf(error: unknown): string {
  if (error instanceof OpenAI.APIError) {
    // The SDK prefixes the status; OpenAI's own message is clearer on its own.
    const inner = (error.error as { message?: unknown } | undefined)?.message;
    return typeof inner === 'string' ? inner : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** True for an API error whose OpenAI code is `code`. */
export function hasCode(error: unknown, code: string): boolean {
  return error instanceof OpenAI.APIError && error.code === code;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
