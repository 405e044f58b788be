/** AssistantLLM's option validation: what it resolves to, and errors that name the field. */
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { DEFAULT_MODEL } from '../../src/models.js';
import { resolveOptions } from '../../src/options.js';

const ASSISTANT = { load_options: { assistant_id: 'asst_1' } };
const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** The ConfigError resolveOptions throws for `raw`. */
function configError(raw: unknown): ConfigError {
  try {
    resolveOptions(raw);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const saved = { ...process.env };
beforeEach(() => {
  delete process.env.OPENAI_API_KEY;
  delete process.env.OPENAI_MODEL;
  delete process.env.OPENAI_BASE_URL;
});
afterEach(() => {
  process.env = { ...saved };
});

describe('resolveOptions', () => {
  it("resolves the seed's options to the Assistants backend with the documented limits", () => {
    const resolved = resolveOptions({
      load_options: { assistant_id: 'asst_1', thread_id: 'thread_9' },
    });
    expect(resolved).toMatchObject({
      api: 'assistants',
      assistantId: 'asst_1',
      threadId: 'thread_9',
      model: 'asst_1',
      maxToolOutputBytes: 512 * 1024,
      transport: undefined,
    });
    expect(resolved.backendConfig).toEqual({
      api: 'assistants',
      assistantId: 'asst_1',
      limits: { toolOutputTimeoutMs: 120_000, streamIdleTimeoutMs: 60_000 },
    });
  });

  it('gives the Responses backend a default model, or OPENAI_MODEL, unless a stored prompt sets it', () => {
    expect(resolveOptions({ api: 'responses' }).model).toBe(DEFAULT_MODEL);
    process.env.OPENAI_MODEL = 'gpt-from-env';
    expect(resolveOptions({ api: 'responses' }).model).toBe('gpt-from-env');
    const prompted = resolveOptions({ api: 'responses', prompt: { id: 'pmpt_1' }, logger: quiet });
    expect(prompted.backendConfig).not.toHaveProperty('model');
    expect(resolveOptions({ api: 'responses', conversation_id: 'conv_1' }).threadId).toBe('conv_1');
  });

  it('keeps secrets out of the backend description that travels to workers', () => {
    const resolved = resolveOptions({ ...ASSISTANT, apiKey: 'sk-secret-123' });
    expect(JSON.stringify(resolved.backendConfig)).not.toContain('sk-secret-123');
    expect(resolved.client()).toBeInstanceOf(OpenAI);
  });

  it.each([
    [null, 'options', 'expected an options object'],
    [{ ...ASSISTANT, api: 'chat' }, 'api', `expected 'assistants' or 'responses', got "chat"`],
    [{}, 'load_options.assistant_id', 'required: the id of your OpenAI assistant'],
    [{ load_options: 'asst_1' }, 'load_options', 'expected an object with assistant_id'],
    [
      { load_options: { assistant_id: '  ' } },
      'load_options.assistant_id',
      'expected a non-empty string',
    ],
    [
      { api: 'responses', load_options: { thread_id: 'conv_a' }, conversation_id: 'conv_b' },
      'conversation_id',
      'differs from load_options.thread_id',
    ],
    [
      { ...ASSISTANT, toolOutputTimeoutMs: 0 },
      'toolOutputTimeoutMs',
      'expected a positive whole number, got 0',
    ],
    [
      { ...ASSISTANT, streamIdleTimeoutMs: 1.5 },
      'streamIdleTimeoutMs',
      'expected a positive whole number',
    ],
    [
      { ...ASSISTANT, maxRetries: -1 },
      'maxRetries',
      'expected a whole number of 0 or more, got -1',
    ],
    [{ api: 'responses', prompt: { version: '2' } }, 'prompt', 'expected { id: string'],
    [
      { api: 'responses', fileSearch: { vectorStoreIds: [1] } },
      'fileSearch.vectorStoreIds',
      'expected an array',
    ],
    [
      { ...ASSISTANT, transport: 'redis://x' },
      'transport',
      'expected a transport or { redis: url, session }',
    ],
    [
      { ...ASSISTANT, transport: { session: { room: 'r', participant: 'p' } } },
      'transport.redis',
      'expected a Redis URL',
    ],
    [
      { ...ASSISTANT, transport: { redis: 'redis://x', session: { room: 'r' } } },
      'transport.session',
      'expected { room: string, participant: string }',
    ],
    [{ ...ASSISTANT, session: { room: 'r' } }, 'session', 'expected { room: string'],
    [
      {
        ...ASSISTANT,
        session: { room: 'r', participant: 'a' },
        transport: { redis: 'redis://x', session: { room: 'r', participant: 'b' } },
      },
      'session',
      'differs from transport.session',
    ],
    [{ api: 'responses', background: 'yes' }, 'background', 'expected true or false'],
    [{ api: 'responses', safetyIdentifier: 7 }, 'safetyIdentifier', 'expected true, false'],
    [{ api: 'responses', safetyIdentifier: '' }, 'safetyIdentifier', 'expected 1 to 64'],
    [{ api: 'responses', promptCacheKey: 'k'.repeat(65) }, 'promptCacheKey', 'expected 1 to 64'],
    [{ api: 'responses', compaction: true }, 'compaction', 'expected false or { share?'],
    [{ api: 'responses', compaction: { share: 0 } }, 'compaction.share', 'above 0'],
    [
      { api: 'responses', compaction: { contextWindow: 1.5 } },
      'compaction.contextWindow',
      'expected a positive whole number',
    ],
  ])('refuses %j naming %s', (raw, field, expectation) => {
    const error = configError(raw);
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.message).toContain(expectation);
  });

  it('names the missing API key only when a client is needed (never in fleet mode)', () => {
    const resolved = resolveOptions(ASSISTANT);
    expect(() => resolved.client()).toThrow(/^apiKey: no OpenAI API key: set OPENAI_API_KEY/);
    const fleet = resolveOptions({ ...ASSISTANT, transport: { redis: 'redis://127.0.0.1:6379' } });
    expect(fleet.transport).toEqual({ redis: 'redis://127.0.0.1:6379' });
    expect(() => resolveOptions({ ...ASSISTANT, openai: {} }).client()).toThrow(
      /^openai: expected an OpenAI client instance/,
    );
  });

  it('resolves the Responses options to plain JSON for the backend: mode, digests, threshold', () => {
    const single = resolveOptions({ api: 'responses', session: { room: 'r', participant: 'p' } });
    expect(single.backendConfig).toEqual({
      api: 'responses',
      model: DEFAULT_MODEL,
      background: false,
      safetyIdentifier: expect.stringMatching(/^[0-9a-f]{32}$/),
      promptCacheKey: expect.stringMatching(/^[0-9a-f]{32}$/),
      compactThreshold: 262_500,
      limits: { toolOutputTimeoutMs: 120_000, streamIdleTimeoutMs: 60_000 },
    });
    const fleet = resolveOptions({
      api: 'responses',
      transport: { redis: 'redis://x', session: { room: 'r', participant: 'p' } },
    });
    expect(fleet.backendConfig).toMatchObject({
      background: true,
      safetyIdentifier: (single.backendConfig as { safetyIdentifier: string }).safetyIdentifier,
    });
    const bare = resolveOptions({
      api: 'responses',
      safetyIdentifier: true,
      promptCacheKey: false,
      compaction: false,
    });
    expect(bare.backendConfig).toEqual({
      api: 'responses',
      model: DEFAULT_MODEL,
      background: false,
      safetyIdentifierFromConversation: true,
      limits: { toolOutputTimeoutMs: 120_000, streamIdleTimeoutMs: 60_000 },
    });
    // The Assistants backend takes none of them.
    expect(resolveOptions({ ...ASSISTANT, background: true }).backendConfig).not.toHaveProperty(
      'background',
    );
  });

  it('warns when Responses file_search has no vector stores to search', () => {
    const warnings: string[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (message) => warnings.push(message),
      error: () => undefined,
    };
    resolveOptions({ api: 'responses', tools: [{ type: 'file_search' }], logger });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/fileSearch\.vectorStoreIds/);
  });
});
