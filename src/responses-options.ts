/**
 * The Responses API's options beyond the assistant's definition: the streaming mode, the
 * identifiers sent with each response and compaction. Validated up front like every option;
 * what comes out is plain JSON for the backend config (it travels to fleet workers).
 */
import { ConfigError } from './errors.js';
import {
  configurationCacheKey,
  MAX_IDENTIFIER_LENGTH,
  sessionSafetyIdentifier,
} from './identifiers.js';
import type { Logger } from './logger.js';
import { contextWindowOf } from './models.js';
import type { SessionIdentity } from './session.js';

/** The Responses API's options this module reads (see ResponsesApiOptions for their docs). */
export interface ResponsesModeOptions {
  background?: boolean;
  safetyIdentifier?: boolean | string | ((session: SessionIdentity) => string);
  promptCacheKey?: boolean | string;
  compaction?: false | CompactionOptions;
}

/** Where server-side compaction starts: a share of the model's context window. */
export interface CompactionOptions {
  /** Share of the model's context window at which the conversation is compacted. Default 0.25. */
  share?: number;
  /** The model's context window in tokens, instead of the table in models.ts. */
  contextWindow?: number;
}

/** The share of the context window at which a conversation is compacted by default. */
export const DEFAULT_COMPACTION_SHARE = 0.25;

/** The API's lowest `compact_threshold` (ContextManagementParam in OpenAI's description). */
export const MIN_COMPACT_THRESHOLD = 1_000;

/** What these options add to the Responses backend's config. */
export interface ResponsesModeConfig {
  background: boolean;
  safetyIdentifier?: string;
  safetyIdentifierFromConversation?: boolean;
  promptCacheKey?: string;
  compactThreshold?: number;
}

interface Context {
  /** The model responses are created with, when known (a stored prompt may set it instead). */
  model: string | undefined;
  instructions: string | undefined;
  prompt: { id: string; version?: string } | undefined;
  tools: unknown[];
  vectorStoreIds: string[] | undefined;
  /** Who the assistant talks to, if known. */
  session: SessionIdentity | undefined;
  /** True when runs execute in other processes (fleet mode). */
  remote: boolean;
  logger: Logger;
}

/** When OpenAI shut stored prompts down. */
export const STORED_PROMPTS_SHUTDOWN = '2026-11-30';

export function resolveResponsesMode(
  raw: Record<string, unknown>,
  context: Context,
): ResponsesModeConfig {
  if (context.prompt) {
    context.logger.warn(
      `prompt: OpenAI shut stored prompts (v1/prompts) down on ${STORED_PROMPTS_SHUTDOWN}; ` +
        `prompt ${context.prompt.id} works only with a server that still serves them. Copy the ` +
        "prompt's text into the `instructions` option and its model into `model`, then remove " +
        '`prompt` (README: Migrating to the Responses API).',
    );
  }
  const background = raw.background;
  if (background !== undefined && typeof background !== 'boolean') {
    throw new ConfigError(
      'background',
      `expected true or false, got ${JSON.stringify(background)}`,
    );
  }
  return {
    // Fleet mode needs responses that outlive a worker; one process wants the first token soonest.
    background: background ?? context.remote,
    ...safetyIdentifier(raw.safetyIdentifier, context.session),
    ...promptCacheKey(raw.promptCacheKey, context),
    ...compaction(raw.compaction, context.model),
  };
}

function checkedIdentifier(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IDENTIFIER_LENGTH) {
    throw new ConfigError(
      field,
      `expected 1 to ${MAX_IDENTIFIER_LENGTH} characters (OpenAI's limit), got ${describe(value)}`,
    );
  }
  return value;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `${value.length} characters` : JSON.stringify(value);
}

function safetyIdentifier(
  value: unknown,
  session: SessionIdentity | undefined,
): Pick<ResponsesModeConfig, 'safetyIdentifier' | 'safetyIdentifierFromConversation'> {
  if (value === false) return {};
  if (value === undefined || value === true) {
    return session
      ? { safetyIdentifier: sessionSafetyIdentifier(session) }
      : { safetyIdentifierFromConversation: true };
  }
  if (typeof value === 'function') {
    if (!session) {
      throw new ConfigError(
        'safetyIdentifier',
        'a function needs the session it is computed from: give the `session` option (or transport.session)',
      );
    }
    const computed: unknown = (value as (s: SessionIdentity) => unknown)(session);
    return { safetyIdentifier: checkedIdentifier(computed, 'safetyIdentifier()') };
  }
  if (typeof value === 'string') {
    return { safetyIdentifier: checkedIdentifier(value, 'safetyIdentifier') };
  }
  throw new ConfigError(
    'safetyIdentifier',
    `expected true, false, a string or a function of the session, got ${JSON.stringify(value)}`,
  );
}

function promptCacheKey(
  value: unknown,
  context: Context,
): Pick<ResponsesModeConfig, 'promptCacheKey'> {
  if (value === false) return {};
  if (value === undefined || value === true) {
    return {
      promptCacheKey: configurationCacheKey({
        model: context.model,
        instructions: context.instructions,
        prompt: context.prompt,
        tools: context.tools,
        vectorStoreIds: context.vectorStoreIds,
      }),
    };
  }
  if (typeof value === 'string')
    return { promptCacheKey: checkedIdentifier(value, 'promptCacheKey') };
  throw new ConfigError(
    'promptCacheKey',
    `expected true, false or a string, got ${JSON.stringify(value)}`,
  );
}

function compaction(
  value: unknown,
  model: string | undefined,
): Pick<ResponsesModeConfig, 'compactThreshold'> {
  if (value === false) return {};
  if (
    value !== undefined &&
    (typeof value !== 'object' || value === null || Array.isArray(value))
  ) {
    throw new ConfigError(
      'compaction',
      `expected false or { share?, contextWindow? }, got ${JSON.stringify(value)}`,
    );
  }
  const options = (value ?? {}) as Record<string, unknown>;
  const share = options.share ?? DEFAULT_COMPACTION_SHARE;
  if (typeof share !== 'number' || !(share > 0 && share <= 1)) {
    throw new ConfigError(
      'compaction.share',
      `expected a number above 0 and at most 1, got ${JSON.stringify(share)}`,
    );
  }
  const window = options.contextWindow;
  if (
    window !== undefined &&
    (typeof window !== 'number' || !Number.isInteger(window) || window <= 0)
  ) {
    throw new ConfigError(
      'compaction.contextWindow',
      `expected a positive whole number of tokens, got ${JSON.stringify(window)}`,
    );
  }
  const tokens = window ?? contextWindowOf(model);
  const threshold = Math.floor(share * tokens);
  if (threshold < MIN_COMPACT_THRESHOLD) {
    throw new ConfigError(
      'compaction',
      `share ${share} of a ${tokens}-token window is ${threshold} tokens, below the API's minimum of ${MIN_COMPACT_THRESHOLD}`,
    );
  }
  return { compactThreshold: threshold };
}
