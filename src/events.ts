/**
 * The one vocabulary of run events. Both backends translate their OpenAI protocol into these
 * shapes, both transports carry them, and AssistantLLM consumes only them. Every event is plain
 * JSON so that it can cross Redis unchanged.
 */
import type { RunFailure } from './failures.js';
import type { ToolCall, FunctionToolCall } from './tools.js';

/** Tokens a run used. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** A run event without its sequence number, as a backend produces it. */
export type RunEventBody =
  /** A thread (or conversation) was created for this session before the run started. */
  | { type: 'thread.created'; threadId: string }
  | { type: 'run.started'; runId: string; threadId: string }
  | { type: 'text.delta'; text: string }
  /** A tool call whose arguments (or code / queries) are complete. */
  | { type: 'tool_call.created'; toolCall: ToolCall }
  /**
   * The run waits for outputs to these function calls; nothing streams until they are submitted.
   * `runId` here and in `run.completed` is absent only for a run a fleet worker took over
   * before the run's upstream id was known (Responses): the run goes on, its id unknown.
   */
  | { type: 'tool_outputs.required'; runId?: string; toolCalls: FunctionToolCall[] }
  | { type: 'run.completed'; runId?: string; usage?: Usage }
  /** Built only by src/failures.ts; `reason` is one of RUN_FAILURE_CODES. */
  | RunFailure
  | { type: 'run.cancelled'; runId?: string };

/** The `type` of a run event. */
export type RunEventType = RunEventBody['type'];

/** An event as it travels: the body plus its position in the run's stream (from 1). */
export type RunEvent = RunEventBody & { seq: number };

/** The events that end a run: exactly one ends every run, and nothing follows it. */
export type TerminalRunEventBody = Extract<
  RunEventBody,
  { type: 'run.completed' | 'run.failed' | 'run.cancelled' }
>;

/** How a run ended, named after its terminal event (`run.completed` → `completed`). */
export type RunOutcome = 'completed' | 'failed' | 'cancelled';

/** The one test of whether an event ends its run. */
export function isTerminal<E extends RunEventBody>(event: E): event is E & TerminalRunEventBody {
  return (
    event.type === 'run.completed' || event.type === 'run.failed' || event.type === 'run.cancelled'
  );
}

/** Output for one function call, as the caller submits it. */
export interface ToolOutput {
  toolCallId: string;
  output: string;
}
