/**
 * Internal: what AssistantLLM shares with the LLMStreams of its chat() and with the session actor
 * that owns it: the state of the chat() path, and the host a stream drives. It lives in a private
 * field of AssistantLLM; chatHostOf() is the one way to reach it, and no entry point exports it.
 */
import type { AssistantLLM } from './assistant-llm.js';
import type { RunEvent, ToolOutput } from './events.js';
import type { Logger } from './logger.js';
import type { QueuedRun } from './run-queue.js';
import type { ToolDispatchOptions } from './tool-dispatch.js';
import type { BuiltInTool } from './tools.js';

/** A run stopped at function calls that the AgentSession executes. */
export interface PendingToolRun {
  run: QueuedRun;
  events: AsyncIterator<RunEvent>;
  /** Calls the session answers through FunctionCallOutputs. */
  sessionCallIds: string[];
  /** Outputs already made by onToolCallCreated for calls the Agent has no tool for. */
  handlerOutputs: ToolOutput[];
}

/** Kept across chat() calls: the run that waits for the session's outputs, and what was sent. */
export interface ChatState {
  pending: PendingToolRun | null;
  /** The last chat-context item already sent, so the next chat() sends only what follows. */
  lastItemId: string | null;
}

/** What a chat() stream drives: the private side of its AssistantLLM. */
export interface ChatHost {
  readonly chatState: ChatState;
  readonly dispatch: ToolDispatchOptions;
  readonly logger: Logger;
  /** Default tools, used when a run brings none. */
  readonly defaultTools: BuiltInTool[];
  enqueueRun(
    message: string,
    options: { interrupt: boolean; additionalInstructions?: string; tools?: BuiltInTool[] },
  ): QueuedRun;
}

let read: ((llm: AssistantLLM) => ChatHost) | undefined;

/** Called once, by AssistantLLM's class body, the only code that can read its private field. */
export function exposeChatHost(reader: (llm: AssistantLLM) => ChatHost): void {
  read = reader;
}

/** The chat host of `llm`. */
export function chatHostOf(llm: AssistantLLM): ChatHost {
  if (!read) throw new Error('AssistantLLM is not loaded');
  return read(llm);
}
