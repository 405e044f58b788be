/**
 * What a backend needs besides the OpenAI client, as plain JSON: it travels in a fleet job, so
 * it must never hold a secret. The one place that turns a config into a backend.
 */
import type OpenAI from 'openai';
import type { Logger } from '../logger.js';
import { AssistantsBackend } from './assistants.js';
import type { Backend, BackendRunOptions } from './backend.js';
import { ResponsesBackend, type StoredPromptRef } from './responses.js';

/** A backend's description without the client: plain JSON with no secret, so it can travel in a fleet job. */
export type BackendConfig = (
  | { api: 'assistants'; assistantId: string }
  | {
      api: 'responses';
      model?: string;
      instructions?: string;
      prompt?: StoredPromptRef;
      vectorStoreIds?: string[];
      /** Absent in jobs from rooms older than the option: they ran in background mode. */
      background?: boolean;
      /** Sent as `safety_identifier`: a digest of the session, or the caller's own value. */
      safetyIdentifier?: string;
      /** Without safetyIdentifier: a digest of the conversation id is sent instead. */
      safetyIdentifierFromConversation?: boolean;
      /** Sent as `prompt_cache_key`. */
      promptCacheKey?: string;
      /** `context_management`'s compaction threshold in tokens. */
      compactThreshold?: number;
    }
) & { limits: BackendRunOptions };

/** `logger` gets what a run cannot report in its events, such as a cleanup that failed. */
export function createBackend(config: BackendConfig, client: OpenAI, logger: Logger): Backend {
  if (config.api === 'assistants') {
    return new AssistantsBackend({
      client,
      logger,
      assistantId: config.assistantId,
      ...config.limits,
    });
  }
  return new ResponsesBackend({
    client,
    logger,
    ...(config.model ? { model: config.model } : {}),
    ...(config.instructions ? { instructions: config.instructions } : {}),
    ...(config.prompt ? { prompt: config.prompt } : {}),
    ...(config.vectorStoreIds ? { vectorStoreIds: config.vectorStoreIds } : {}),
    background: config.background ?? true,
    ...(config.safetyIdentifier ? { safetyIdentifier: config.safetyIdentifier } : {}),
    ...(config.safetyIdentifierFromConversation ? { safetyIdentifierFromConversation: true } : {}),
    ...(config.promptCacheKey ? { promptCacheKey: config.promptCacheKey } : {}),
    ...(config.compactThreshold ? { compactThreshold: config.compactThreshold } : {}),
    ...config.limits,
  });
}
