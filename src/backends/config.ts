/**
 * What a backend needs besides the OpenAI client, as plain JSON: it travels in a fleet job, so
 * it must never hold a secret. The one place that turns a config into a backend.
 */
import type OpenAI from 'openai';
import { AssistantsBackend } from './assistants.js';
import type { Backend, BackendRunOptions } from './backend.js';
import { ResponsesBackend, type StoredPromptRef } from './responses.js';

export type BackendConfig = (
  | { api: 'assistants'; assistantId: string }
  | {
      api: 'responses';
      model?: string;
      instructions?: string;
      prompt?: StoredPromptRef;
      vectorStoreIds?: string[];
    }
) & { limits: BackendRunOptions };

export function createBackend(config: BackendConfig, client: OpenAI): Backend {
  if (config.api === 'assistants') {
    return new AssistantsBackend({ client, assistantId: config.assistantId, ...config.limits });
  }
  return new ResponsesBackend({
    client,
    ...(config.model ? { model: config.model } : {}),
    ...(config.instructions ? { instructions: config.instructions } : {}),
    ...(config.prompt ? { prompt: config.prompt } : {}),
    ...(config.vectorStoreIds ? { vectorStoreIds: config.vectorStoreIds } : {}),
    ...config.limits,
  });
}
