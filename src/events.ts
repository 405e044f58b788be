/**
 * The one vocabulary of run events. Both backends translate their OpenAI protocol into these
 * shapes, both transports carry them, and AssistantLLM consumes only them. Every event is plain
 * JSON so that it can cross Redis unchanged.
 */
import type { ToolCall, FunctionToolCall } from './tools.js';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** Why a run ended without completing. `failed` also covers transport and upstream errors. */
export type RunFailureKind = 'failed' | 'expired' | 'incomplete';

export type RunEventBody =
  /** A thread (or conversation) was created for this session before the run started. */
  | { type: 'thread.created'; threadId: string }
  | { type: 'run.started'; runId: string; threadId: string }
  | { type: 'text.delta'; text: string }
  /** A tool call whose arguments (or code / queries) are complete. */
  | { type: 'tool_call.created'; toolCall: ToolCall }
  /** The run waits for outputs to these function calls; nothing streams until they are submitted. */
  | { type: 'tool_outputs.required'; runId: string; toolCalls: FunctionToolCall[] }
  | { type: 'run.completed'; runId: string; usage?: Usage }
  | {
      type: 'run.failed';
      runId?: string;
      kind: RunFailureKind;
      code: string;
      message: string;
      /** HTTP status when the failure was an API error; lets callers decide about retries. */
      status?: number;
      /** True when the failure happened before the run produced any output and may be retried. */
      retryable?: boolean;
    }
  | { type: 'run.cancelled'; runId?: string };

export type RunEventType = RunEventBody['type'];

/** An event as it travels: the body plus its position in the run's stream (from 1). */
export type RunEvent = RunEventBody & { seq: number };

export type TerminalRunEvent = Extract<
  RunEvent,
  { type: 'run.completed' | 'run.failed' | 'run.cancelled' }
>;

export function isTerminal(event: RunEventBody): boolean {
  return (
    event.type === 'run.completed' || event.type === 'run.failed' || event.type === 'run.cancelled'
  );
}

/** Output for one function call, as the caller submits it. */
export interface ToolOutput {
  toolCallId: string;
  output: string;
}
