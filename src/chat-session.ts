/**
 * What AssistantLLM and the LLMStreams of its chat() share, in a module of its own so that
 * neither imports the other: the state of the chat() path, and the host a stream drives.
 */
import type { llm } from '@livekit/agents';
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

/** The LLM a chat() stream belongs to: AssistantLLM. */
export interface ChatHost extends llm.LLM {
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
