/**
 * A backend speaks one OpenAI protocol and translates it into run events. This file holds the
 * shapes both backends share: the request, the run handle and the backend itself. The loop they
 * share is in run-loop.ts; failures are built in ../failures.ts.
 */
import OpenAI from 'openai';
import type { RunEventBody, ToolOutput } from '../events.js';
import type { BuiltInTool } from '../tools.js';

/** The OpenAI protocol a backend speaks: the Assistants API v2 or Responses + Conversations. */
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
  /**
   * The newest thread item the session's previous run saw (BackendRun.lastItemId), when known:
   * findStarted looks for this run's message after it only.
   */
  after?: string;
  /**
   * An earlier attempt of this run was lost, and may have sent it after the new owner looked
   * (its request slow to arrive): the backend looks for it again before it sends it a second time.
   */
  lostAttempt?: boolean;
}

/**
 * A run in flight. Iterate it for events; after `tool_outputs.required` the iteration waits
 * until submitToolOutputs() is called. cancel() ends the run upstream and the iteration with
 * `run.cancelled`; it resolves once the thread is free for the next run.
 */
export interface BackendRun extends AsyncIterable<RunEventBody> {
  submitToolOutputs(outputs: ToolOutput[]): void;
  cancel(): Promise<void>;
  /**
   * Another process owns the run now: every request of this one stops, nothing is ended or
   * answered upstream, and the iteration ends without a terminal event.
   */
  handOff(): void;
  /**
   * Characters of text the run has produced from its start up to the last event iterated: a
   * `text.delta` covers the characters just before this. A resumed run counts from its
   * checkpoint, so a reader that has part of the text can tell which part it lacks.
   */
  readonly textOffset: number;
  /**
   * The newest thread item this run has seen (Responses: its last output item), once known;
   * the session's next run passes it as RunRequest.after.
   */
  readonly lastItemId: string | undefined;
}

/**
 * Where a run stands upstream: what a process taking the run over needs to continue it. A
 * backend reports a new checkpoint whenever the run opens a new upstream stream.
 */
export interface RunCheckpoint {
  /** The thread (Assistants) or conversation (Responses). */
  threadId: string;
  /**
   * The run (Assistants) or the response streaming now (Responses). Absent when a response's
   * request reached the server but its id never reached the process that sent it (it was lost
   * in between); `afterItemId` says where that response's output goes then.
   */
  upstreamId?: string;
  /**
   * Responses, without `upstreamId`: the last conversation item the request added (the user's
   * message, or the last tool output). The response's output items follow it.
   */
  afterItemId?: string;
  /** How many responses of this run came before this one (always 0 on Assistants). */
  segment: number;
  /** Characters of text the run produced before this stream began. */
  textOffset: number;
}

/** What a host running the run (a fleet worker) is told and asked along the way. */
export interface RunHooks {
  /**
   * Called when the run's checkpoint changes, before any event of the new stream is iterated.
   * A host that can be taken over stores it before it relays those events.
   */
  checkpoint?(checkpoint: RunCheckpoint): void;
  /**
   * Awaited before every request that changes something upstream (a thread, a run or response,
   * tool outputs, a cancel), as it leaves. Rejects with RunHandedOff when another process owns
   * the run now; may resolve with the time (performance.now()) until which no other process
   * can take the run over: an answer that arrives later than that is asked for again.
   */
  beforeRequest?(): Promise<number | void>;
}

/**
 * Another process owns the run now (it took the run over): this one stops at once, sends
 * nothing upstream and leaves what runs there to the new owner. The run's iteration rethrows it.
 */
export class RunHandedOff extends Error {
  constructor(message = 'Another process owns this run now.') {
    super(message);
    this.name = 'RunHandedOff';
  }
}

/** Speaks one OpenAI protocol: starts runs and turns their streams into run events. */
export interface Backend {
  readonly api: ApiKind;
  startRun(request: RunRequest, hooks?: RunHooks): BackendRun;
  /**
   * True when a run this backend started can be continued by another process from its last
   * checkpoint (Responses in background mode; Assistants always, by following the run).
   */
  readonly resumable: boolean;
  /**
   * Continues a run another process started, from its last checkpoint: the events iterated are
   * those of the checkpoint's stream from its start (a reader drops what it already has, by
   * `textOffset` for text), then the rest of the run, live.
   */
  resumeRun(request: RunRequest, checkpoint: RunCheckpoint, hooks?: RunHooks): BackendRun;
  /**
   * Ends a run that a lost process started (a worker that died mid-run): cancels it if it is
   * still active and answers calls it waits on, so the thread takes the next run.
   */
  abandon(threadId: string, upstreamRunId: string): Promise<void>;
  /**
   * Where `request` stands upstream if a lost process's request for it reached the server (the
   * run found by its tag, or the request's message in the conversation); null if it did not.
   */
  findStarted(threadId: string, request: RunRequest): Promise<RunCheckpoint | null>;
}

/** The metadata key that carries RunRequest.tag upstream. */
export const TAG_KEY = 'assistant_run';

/** Time limits of a run, shared by both backends. */
export interface BackendRunOptions {
  /** Waiting longer than this for tool outputs cancels the run. Default 120 s. */
  toolOutputTimeoutMs: number;
  /** A stream that sends nothing for this long is treated as dropped. Default 60 s. */
  streamIdleTimeoutMs: number;
}

/** True for an API error whose OpenAI code is `code`. */
export function hasCode(error: unknown, code: string): boolean {
  return error instanceof OpenAI.APIError && error.code === code;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
