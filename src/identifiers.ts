/**
 * The identifiers the Responses backend sends besides the conversation: `safety_identifier`
 * (who the end user is, for OpenAI's abuse detection) and `prompt_cache_key` (which requests
 * share a prompt prefix, for cache hits). Both are digests: no room name, participant identity,
 * instruction or tool ever leaves in clear through them.
 */
import { createHash } from 'node:crypto';
import type { SessionIdentity } from './session.js';

/** OpenAI's limit for both fields (`safety_identifier` in the API description; the cache key on /responses/compact). */
export const MAX_IDENTIFIER_LENGTH = 64;

/** 32 hex digits of SHA-256 over `parts`, length-prefixed so that no two inputs run together. */
function digest(domain: string, parts: string[]): string {
  const hash = createHash('sha256').update(domain);
  for (const part of parts) hash.update(`\u0000${part.length}:${part}`);
  return hash.digest('hex').slice(0, 32);
}

/**
 * The default safety identifier of a session: stable for one participant in one room, the same
 * in every process, and different from the id that names the session's Redis keys.
 */
export function sessionSafetyIdentifier(session: SessionIdentity): string {
  return digest('safety_identifier/session', [session.room, session.participant]);
}

/** Without a session, the conversation stands for its user (one AssistantLLM talks to one user). */
export function conversationSafetyIdentifier(conversationId: string): string {
  return digest('safety_identifier/conversation', [conversationId]);
}

/** What makes one assistant configuration: everything that goes before the conversation. */
export interface AssistantConfiguration {
  model?: string | undefined;
  instructions?: string | undefined;
  prompt?: { id: string; version?: string | undefined } | undefined;
  tools?: unknown[] | undefined;
  vectorStoreIds?: string[] | undefined;
}

/** The default prompt cache key: one per assistant configuration, shared by all its sessions. */
export function configurationCacheKey(config: AssistantConfiguration): string {
  return digest('prompt_cache_key', [
    config.model ?? '',
    config.instructions ?? '',
    config.prompt ? `${config.prompt.id}@${config.prompt.version ?? ''}` : '',
    JSON.stringify(config.tools ?? []),
    JSON.stringify(config.vectorStoreIds ?? []),
  ]);
}
