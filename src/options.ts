/**
 * AssistantLLM's options: the seed's snake_case `load_options` and `tools`, plus camelCase
 * options for the client, the backend and limits. Validated once, up front, with errors that
 * name the field.
 */
import OpenAI from 'openai';
import type { ApiKind } from './backends/backend.js';
import type { BackendConfig } from './backends/config.js';
import type { StoredPromptRef } from './backends/responses.js';
import { ConfigError } from './errors.js';
import { KEY_PREFIX_PATTERN, type FleetTransportOptions } from './fleet-mode.js';
import { defaultLogger, type Logger } from './logger.js';
import { DEFAULT_MODEL } from './models.js';
import { resolveResponsesMode, type CompactionOptions } from './responses-options.js';
import type { SessionIdentity } from './session.js';
import { validateTools, type BuiltInTool } from './tools.js';
import { InMemoryTransport, type RunTransport } from './transport.js';

/** Options both APIs share. */
export interface AssistantCommonOptions {
  /** Default tools for every run; per-run tools passed to process() replace them. */
  tools?: BuiltInTool[];
  /** A ready client; otherwise one is made from apiKey / baseURL or OPENAI_API_KEY / OPENAI_BASE_URL. */
  openai?: OpenAI;
  apiKey?: string;
  baseURL?: string;
  /** Retries of the OpenAI client for 429 / 5xx / connection errors before a run starts. Default 2. */
  maxRetries?: number;
  /** A run that waits longer than this for tool outputs is cancelled (RunError). Default 120 000. */
  toolOutputTimeoutMs?: number;
  /** A stream that sends nothing for this long fails the run. Default 60 000. */
  streamIdleTimeoutMs?: number;
  /** Tool outputs above this size (UTF-8 bytes) are replaced with an error output. Default 512 KiB. */
  maxToolOutputBytes?: number;
  /**
   * Where the plugin's warnings go. Default: in a LiveKit job (once @livekit/agents'
   * logger is initialized), that logger, with the job's context; elsewhere the console, warn and up.
   */
  logger?: Logger;
  /**
   * Where runs execute. Default: in this process. Fleet mode: `{ redis: 'redis://...', session:
   * { room, participant } }` (or a transport from the `./fleet` entry); runs then execute in
   * worker processes, which hold the OpenAI key, and the rest of these options only describe
   * the assistant. Fleet mode needs the packages bullmq and ioredis.
   */
  transport?: RunTransport | FleetTransportOptions;
  /**
   * Who this assistant talks to: one participant in one room. The Responses API gets it only as
   * a digest (`safety_identifier`). In fleet mode `transport.session` says it already.
   */
  session?: SessionIdentity;
}

/** The seed's options: the Assistants API v2 with an assistant id. */
export interface AssistantsApiOptions extends AssistantCommonOptions {
  api?: 'assistants';
  load_options: {
    assistant_id: string;
    thread_id?: string;
  };
}

/** The Responses + Conversations API: the assistant is configuration or a stored prompt. */
export interface ResponsesApiOptions extends AssistantCommonOptions {
  api: 'responses';
  load_options?: {
    /** Accepted for symmetry with the seed; the Responses API has no assistants. */
    assistant_id?: string;
    /** An existing conversation id (conv_...); same as conversation_id. */
    thread_id?: string;
  };
  conversation_id?: string;
  /** The model, unless a stored prompt sets it. Default: OPENAI_MODEL, else DEFAULT_MODEL. */
  model?: string;
  /** The assistant's instructions (what an assistant object carried). */
  instructions?: string;
  /**
   * A stored prompt (`v1/prompts`). OpenAI shut stored prompts down on 2026-11-30: this works
   * only with a server that still serves them, and warns once when the assistant is made.
   */
  prompt?: StoredPromptRef;
  /** Vector stores for file_search (the Responses API names them on the tool). */
  fileSearch?: { vectorStoreIds: string[] };
  /**
   * Background mode. false: plain streamed responses, for the lowest time to first token and
   * zero data retention (background mode breaks it); an interruption closes the stream, and no
   * cancel request exists.
   * true: background responses, cancelled server-side on interruption and resumable after a
   * dropped stream. Default: false in one process, true in fleet mode (`transport` set).
   */
  background?: boolean;
  /**
   * `safety_identifier`, by which OpenAI tells your end users apart when it detects abuse.
   * true (default): a SHA-256 digest of the session's room and participant (`session` or
   * `transport.session`), or of the conversation id when no session is known; never the raw
   * identity. A string is sent as it is, a function computes one from the session (at most 64
   * characters either way); false sends none.
   */
  safetyIdentifier?: boolean | string | ((session: SessionIdentity) => string);
  /**
   * `prompt_cache_key`, which routes requests that share a prompt prefix to the same cache.
   * true (default): a digest of the assistant's configuration (model, instructions, prompt,
   * tools, vector stores), shared by every session of it. A string is sent as it is (at most
   * 64 characters); false sends none.
   */
  promptCacheKey?: boolean | string;
  /**
   * Server-side compaction of long conversations: once a response's input passes `share` of
   * the model's context window (CONTEXT_WINDOWS, or `contextWindow`), the API compacts the
   * conversation before answering. Default `{ share: 0.25 }`; false turns it off.
   */
  compaction?: false | CompactionOptions;
}

/** AssistantLLM's options: the Assistants API (the default) or the Responses API. */
export type AssistantOptions = AssistantsApiOptions | ResponsesApiOptions;

/** OpenAI accepts at most this many characters in one message. */
export const MAX_MESSAGE_CHARS = 256_000;

/** What is wrong with a message that is too long for OpenAI, or null when it fits. */
export function oversizedMessage(message: string): string | null {
  if (message.length <= MAX_MESSAGE_CHARS) return null;
  return `expected at most ${MAX_MESSAGE_CHARS} characters (OpenAI's limit for one message), got ${message.length}`;
}

export interface ResolvedOptions {
  api: ApiKind;
  assistantId: string | undefined;
  threadId: string | undefined;
  model: string;
  tools: BuiltInTool[];
  logger: Logger;
  maxToolOutputBytes: number;
  transport: RunTransport | FleetTransportOptions | undefined;
  /** The backend's description, without secrets: it also travels to fleet workers. */
  backendConfig: BackendConfig;
  /** Makes the OpenAI client; only called when runs execute in this process. */
  client: () => OpenAI;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function positiveInt(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(field, `expected a positive whole number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(field, `expected a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function resolveOptions(raw: unknown): ResolvedOptions {
  if (!isRecord(raw)) throw new ConfigError('options', 'expected an options object');
  const api = raw.api ?? 'assistants';
  if (api !== 'assistants' && api !== 'responses') {
    throw new ConfigError(
      'api',
      `expected 'assistants' or 'responses', got ${JSON.stringify(api)}`,
    );
  }
  const load = raw.load_options;
  if (load !== undefined && !isRecord(load)) {
    throw new ConfigError(
      'load_options',
      'expected an object with assistant_id and optional thread_id',
    );
  }
  const assistantId = optionalString(load?.assistant_id, 'load_options.assistant_id');
  if (api === 'assistants' && !assistantId) {
    throw new ConfigError(
      'load_options.assistant_id',
      "required: the id of your OpenAI assistant (asst_...), or use api: 'responses' with a model or prompt",
    );
  }
  const threadId = optionalString(load?.thread_id, 'load_options.thread_id');
  const conversationId = optionalString(raw.conversation_id, 'conversation_id');
  if (threadId && conversationId && threadId !== conversationId) {
    throw new ConfigError(
      'conversation_id',
      'differs from load_options.thread_id; give one of them',
    );
  }
  const tools = validateTools(raw.tools, 'tools');
  const model = optionalString(raw.model, 'model');
  const instructions = optionalString(raw.instructions, 'instructions');
  const prompt = raw.prompt;
  if (
    prompt !== undefined &&
    (!isRecord(prompt) || typeof prompt.id !== 'string' || prompt.id === '')
  ) {
    throw new ConfigError(
      'prompt',
      'expected { id: string, version?: string, variables?: object }',
    );
  }
  const fileSearch = raw.fileSearch;
  const vectorStoreIds = isRecord(fileSearch) ? fileSearch.vectorStoreIds : undefined;
  if (
    fileSearch !== undefined &&
    (!Array.isArray(vectorStoreIds) || vectorStoreIds.some((v) => typeof v !== 'string'))
  ) {
    throw new ConfigError('fileSearch.vectorStoreIds', 'expected an array of vector store ids');
  }
  const logger = validateLogger(raw.logger) ?? defaultLogger();
  if (api === 'responses' && tools.some((t) => t.type === 'file_search') && !vectorStoreIds) {
    logger.warn(
      "file_search with api: 'responses' searches only the vector stores in fileSearch.vectorStoreIds, and none are set",
    );
  }
  // Without a model or stored prompt the Responses backend falls back to a documented default.
  const responsesModel =
    model ?? (prompt ? undefined : (process.env.OPENAI_MODEL ?? DEFAULT_MODEL));
  const transport = validateTransport(raw.transport);
  const session = validateSession(raw.session, transport);
  const mode =
    api === 'responses'
      ? resolveResponsesMode(raw, {
          model: responsesModel,
          instructions,
          prompt: prompt as StoredPromptRef | undefined,
          tools,
          vectorStoreIds: vectorStoreIds as string[] | undefined,
          session,
          remote: transport !== undefined && !(transport instanceof InMemoryTransport),
          logger,
        })
      : undefined;
  const limits = {
    toolOutputTimeoutMs: positiveInt(raw.toolOutputTimeoutMs, 'toolOutputTimeoutMs', 120_000),
    streamIdleTimeoutMs: positiveInt(raw.streamIdleTimeoutMs, 'streamIdleTimeoutMs', 60_000),
  };
  const maxRetries =
    raw.maxRetries === undefined ? 2 : positiveIntOrZero(raw.maxRetries, 'maxRetries');
  return {
    api,
    assistantId,
    threadId: threadId ?? conversationId,
    model: (api === 'assistants' ? assistantId : responsesModel) ?? 'prompt',
    tools,
    logger,
    maxToolOutputBytes: positiveInt(raw.maxToolOutputBytes, 'maxToolOutputBytes', 512 * 1024),
    transport,
    backendConfig:
      api === 'assistants'
        ? { api, assistantId: assistantId!, limits }
        : {
            api,
            ...(responsesModel ? { model: responsesModel } : {}),
            ...(instructions ? { instructions } : {}),
            ...(prompt ? { prompt: prompt as unknown as StoredPromptRef } : {}),
            ...(vectorStoreIds ? { vectorStoreIds: vectorStoreIds as string[] } : {}),
            ...mode,
            limits,
          },
    client: () => makeClient(raw, maxRetries),
  };
}

function positiveIntOrZero(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(
      field,
      `expected a whole number of 0 or more, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function makeClient(raw: Record<string, unknown>, maxRetries: number): OpenAI {
  if (raw.openai !== undefined) {
    if (!(raw.openai instanceof OpenAI))
      throw new ConfigError('openai', 'expected an OpenAI client instance');
    return raw.openai;
  }
  const apiKey = optionalString(raw.apiKey, 'apiKey') ?? process.env.OPENAI_API_KEY;
  if (!apiKey) {
    throw new ConfigError(
      'apiKey',
      'no OpenAI API key: set OPENAI_API_KEY or pass apiKey (or an openai client)',
    );
  }
  const baseURL = optionalString(raw.baseURL, 'baseURL');
  return new OpenAI({ apiKey, maxRetries, ...(baseURL ? { baseURL } : {}) });
}

function validateLogger(value: unknown, field = 'logger'): Logger | undefined {
  if (value === undefined) return undefined;
  const methods = ['debug', 'info', 'warn', 'error'] as const;
  if (!isRecord(value) || methods.some((m) => typeof value[m] !== 'function')) {
    throw new ConfigError(field, 'expected an object with debug, info, warn and error methods');
  }
  return value as unknown as Logger;
}

/** The session from `session`, else from a fleet transport's options; they must agree. */
function validateSession(
  value: unknown,
  transport: RunTransport | FleetTransportOptions | undefined,
): SessionIdentity | undefined {
  if (
    value !== undefined &&
    (!isRecord(value) || typeof value.room !== 'string' || typeof value.participant !== 'string')
  ) {
    throw new ConfigError('session', 'expected { room: string, participant: string }');
  }
  const session = value as SessionIdentity | undefined;
  const fleet = transport && 'redis' in transport ? transport.session : undefined;
  if (
    session &&
    fleet &&
    (session.room !== fleet.room || session.participant !== fleet.participant)
  )
    throw new ConfigError('session', 'differs from transport.session; give one of them');
  return session ?? fleet;
}

function validateTransport(value: unknown): RunTransport | FleetTransportOptions | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value))
    throw new ConfigError('transport', 'expected a transport or { redis: url, session }');
  if (typeof value.startRun === 'function') return value as unknown as RunTransport;
  const seeds = value.redis;
  if (
    typeof seeds !== 'string' &&
    !isRecord(seeds) &&
    !(Array.isArray(seeds) && seeds.length > 0 && seeds.every((s) => typeof s === 'string'))
  ) {
    throw new ConfigError(
      'transport.redis',
      'expected a Redis URL such as redis://127.0.0.1:6379, ioredis options, or Redis Cluster seed nodes (a list of URLs, or { cluster: [...] })',
    );
  }
  const session = value.session;
  if (
    session !== undefined &&
    (!isRecord(session) ||
      typeof session.room !== 'string' ||
      typeof session.participant !== 'string')
  ) {
    throw new ConfigError('transport.session', 'expected { room: string, participant: string }');
  }
  if (
    value.prefix !== undefined &&
    (typeof value.prefix !== 'string' || !KEY_PREFIX_PATTERN.test(value.prefix))
  ) {
    throw new ConfigError(
      'transport.prefix',
      `expected 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(value.prefix)}`,
    );
  }
  if (value.logger !== undefined) validateLogger(value.logger, 'transport.logger');
  if (value.queue !== undefined && (typeof value.queue !== 'string' || value.queue === '')) {
    throw new ConfigError(
      'transport.queue',
      `expected a non-empty string, got ${JSON.stringify(value.queue)}`,
    );
  }
  if (
    value.queues !== undefined &&
    (typeof value.queues !== 'number' ||
      !Number.isInteger(value.queues) ||
      value.queues < 1 ||
      value.queues > 256)
  ) {
    throw new ConfigError(
      'transport.queues',
      `expected a whole number from 1 to 256, got ${JSON.stringify(value.queues)}`,
    );
  }
  return value as unknown as FleetTransportOptions;
}
