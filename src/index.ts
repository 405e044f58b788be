/**
 * `@livekit/agents-plugin-assistant`: AssistantLLM and what its API names. Fleet mode's parts are
 * in `./fleet`, the session actors and the LiveKit agent in `./agent`, the local
 * OpenAI-compatible server in `./testing`.
 *
 * @packageDocumentation
 */
export { AssistantLLM } from './assistant-llm.js';
export type { AssistantResponse } from './assistant-llm.js';
export { AssistantLLMStream } from './livekit-stream.js';
export type {
  AssistantCommonOptions,
  AssistantOptions,
  AssistantsApiOptions,
  ResponsesApiOptions,
} from './options.js';
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
  CodeInterpreterOutput,
  CodeInterpreterTool,
  CodeInterpreterToolCall,
  FileSearchRankingOptions,
  FileSearchResult,
  FileSearchTool,
  FileSearchToolCall,
  FunctionParameters,
  JsonSchemaProperty,
  FunctionTool,
  FunctionToolCall,
  ToolCall,
  ToolCallHandler,
} from './tools.js';
export type { RunEvent, RunEventBody, RunEventType, ToolOutput, Usage } from './events.js';
export type {
  Backend,
  BackendRun,
  RunRequest,
  ApiKind,
  RunCheckpoint,
  RunHooks,
} from './backends/backend.js';
export { RunHandedOff } from './backends/backend.js';
export type { BackendConfig } from './backends/config.js';
export { AssistantsBackend } from './backends/assistants.js';
export type { AssistantsBackendOptions } from './backends/assistants.js';
export { ResponsesBackend } from './backends/responses.js';
export type { ResponsesBackendOptions, StoredPromptRef } from './backends/responses.js';
export type { BackendRunOptions } from './backends/backend.js';
export type { BackendOptions } from './backends/run-loop.js';
export { InMemoryTransport } from './transport.js';
export type { RunChannel, RunTransport } from './transport.js';
export type { FleetTransportOptions } from './fleet-mode.js';
export type { SessionIdentity } from './session.js';
export type { Logger, LogLevel, PinoLike } from './logger.js';
export { consoleLogger, pinoLogger } from './logger.js';
export { optionsFromAssistant } from './migrate.js';
export type { AssistantDefinitionOptions, ExportedAssistant } from './migrate.js';
export { CONTEXT_WINDOWS, DEFAULT_MODEL, FALLBACK_CONTEXT_WINDOW } from './models.js';
export type { CompactionOptions } from './responses-options.js';
