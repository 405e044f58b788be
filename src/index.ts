export { AssistantLLM } from './assistant-llm.js';
export type { AssistantResponse } from './assistant-llm.js';
export { AssistantLLMStream } from './livekit-stream.js';
export type { AssistantOptions, AssistantsApiOptions, ResponsesApiOptions } from './options.js';
export {
  AssistantError,
  AssistantsApiUnavailableError,
  ConfigError,
  InterruptionError,
  RunError,
} from './errors.js';
export { RUN_FAILURE_CODES } from './failures.js';
export type { RunFailure, RunFailureCode } from './failures.js';
export type {
  BuiltInTool,
  BuiltInToolType,
  CodeInterpreterTool,
  CodeInterpreterToolCall,
  FileSearchTool,
  FileSearchToolCall,
  FunctionParameters,
  FunctionTool,
  FunctionToolCall,
  ToolCall,
  ToolCallHandler,
} from './tools.js';
export type { RunEvent, RunEventBody, RunEventType, ToolOutput, Usage } from './events.js';
export type { Backend, BackendRun, RunRequest, ApiKind } from './backends/backend.js';
export { AssistantsBackend } from './backends/assistants.js';
export { ResponsesBackend } from './backends/responses.js';
export type { StoredPromptRef } from './backends/responses.js';
export { InMemoryTransport } from './transport.js';
export type { RunChannel, RunTransport } from './transport.js';
export type { Logger } from './logger.js';
export { consoleLogger } from './logger.js';
