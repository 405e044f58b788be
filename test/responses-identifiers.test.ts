/**
 * safety_identifier and prompt_cache_key: digests by default (never a raw identity), the same
 * for one session in one process and through a worker, configurable and switchable off; and the
 * emulator holds requests to the limits OpenAI's description gives for them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AssistantLLM, ConfigError } from '../src/index.js';
import { collect, makeLLM } from './support/assistant.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';
import { fleetLLM, removeFleet, uniqueNames } from './support/fleet.js';
import { useInProcessWorker } from './support/worker.js';
import { requestProblems, spec } from './support/openapi.js';

const fx = useEmulator();
const names = uniqueNames('identifiers');
useInProcessWorker(fx, names);
afterAll(() => removeFleet(names));
const ALICE = { room: 'lobby', participant: 'alice@example.com' };
const BOB = { room: 'lobby', participant: 'bob@example.com' };

const createBodies = () =>
  fx.emulator.requests.filter((r) => r.path === '/v1/responses').map((r) => r.body);

describe('safety_identifier', () => {
  it('is a digest of room and participant: stable, per session, the same through a worker, never the identity', async () => {
    const alice = makeLLM('responses', fx.baseURL, { session: ALICE });
    await collect(alice.process('one'));
    await collect(alice.process('two'));
    await collect(makeLLM('responses', fx.baseURL, { session: BOB }).process('three'));
    const viaWorker = fleetLLM('responses', names, ALICE);
    await collect(viaWorker.process('four'));
    await viaWorker.aclose();
    const sent = createBodies().map((b) => b.safety_identifier as string);
    expect(sent).toHaveLength(4);
    for (const id of sent) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(sent[1]).toBe(sent[0]);
    expect(sent[2]).not.toBe(sent[0]);
    expect(sent[3]).toBe(sent[0]);
    const everything = JSON.stringify(fx.emulator.requests);
    expect(everything).not.toContain('alice');
    expect(everything).not.toContain('lobby');
  });

  it('without a session is a digest of the conversation: the same every turn, another per conversation', async () => {
    const first = makeLLM('responses', fx.baseURL);
    await collect(first.process('one'));
    await collect(first.process('two'));
    await collect(makeLLM('responses', fx.baseURL).process('three'));
    const [a, b, c] = createBodies().map((body) => body.safety_identifier);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(createBodies()[0]!.conversation).toBe(first.threadId);
    expect(a).not.toContain(first.threadId!.slice(5));
  });

  it('can be given, computed from the session, or left out', async () => {
    await collect(
      makeLLM('responses', fx.baseURL, { safetyIdentifier: 'user-7f3a' }).process('given'),
    );
    await collect(
      makeLLM('responses', fx.baseURL, {
        session: ALICE,
        safetyIdentifier: (s) => `tenant-1:${s.participant.length}`,
      }).process('computed'),
    );
    await collect(makeLLM('responses', fx.baseURL, { safetyIdentifier: false }).process('off'));
    const sent = createBodies();
    expect(sent[0]!.safety_identifier).toBe('user-7f3a');
    expect(sent[1]!.safety_identifier).toBe('tenant-1:17');
    expect(sent[2]).not.toHaveProperty('safety_identifier');
  });

  it('refuses what OpenAI would refuse, in the constructor, naming the option', () => {
    expect(() => makeLLM('responses', fx.baseURL, { safetyIdentifier: 'x'.repeat(65) })).toThrow(
      /^safetyIdentifier: expected 1 to 64 characters \(OpenAI's limit\), got 65 characters$/,
    );
    expect(() =>
      makeLLM('responses', fx.baseURL, { session: ALICE, safetyIdentifier: () => '' }),
    ).toThrow(ConfigError);
    expect(() => makeLLM('responses', fx.baseURL, { safetyIdentifier: (s) => s.room })).toThrow(
      /safetyIdentifier: a function needs the session/,
    );
    expect(() =>
      fleetLLM('responses', names, ALICE, { session: BOB } as Parameters<typeof fleetLLM>[3]),
    ).toThrow(/^session: differs from transport.session/);
  });
});

describe('prompt_cache_key', () => {
  it('is one digest per assistant configuration, shared by its sessions', async () => {
    await collect(makeLLM('responses', fx.baseURL, { session: ALICE }).process('a'));
    await collect(makeLLM('responses', fx.baseURL, { session: BOB }).process('b'));
    const viaWorker = fleetLLM('responses', names, BOB, {
      instructions: 'You are a test assistant.',
      fileSearch: { vectorStoreIds: ['vs_test'] },
    });
    await collect(viaWorker.process('c'));
    await viaWorker.aclose();
    const other = new AssistantLLM({
      api: 'responses',
      model: 'emulator-1',
      instructions: 'Other instructions.',
      fileSearch: { vectorStoreIds: ['vs_test'] },
      baseURL: fx.baseURL,
      apiKey: TEST_API_KEY,
    });
    await collect(other.process('d'));
    const [a, b, c, d] = createBodies().map((body) => body.prompt_cache_key);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(d).not.toBe(a);
  });

  it('can be given or left out', async () => {
    await collect(
      makeLLM('responses', fx.baseURL, { promptCacheKey: 'concierge-v3' }).process('a'),
    );
    await collect(makeLLM('responses', fx.baseURL, { promptCacheKey: false }).process('b'));
    const [given, off] = createBodies();
    expect(given!.prompt_cache_key).toBe('concierge-v3');
    expect(off).not.toHaveProperty('prompt_cache_key');
    expect(() => makeLLM('responses', fx.baseURL, { promptCacheKey: 'k'.repeat(65) })).toThrow(
      /^promptCacheKey: expected 1 to 64 characters/,
    );
  });
});

describe("the emulator holds both fields to OpenAI's description", () => {
  const schema = () =>
    spec().components.schemas.ModelResponseProperties as {
      properties: Record<string, { anyOf: Array<{ type?: string; maxLength?: number }> }>;
    };

  it('refuses a safety_identifier above the maxLength the description gives, as OpenAI words it', async () => {
    const max = schema().properties.safety_identifier!.anyOf[0]!.maxLength!;
    expect(max).toBe(64);
    const longest = { model: 'emulator-1', input: 'hi', safety_identifier: 's'.repeat(max) };
    const tooLong = { ...longest, safety_identifier: 's'.repeat(max + 1) };
    expect(requestProblems('POST', '/v1/responses', longest)).toEqual([]);
    expect(requestProblems('POST', '/v1/responses', tooLong)).not.toEqual([]);
    await expect(fx.client.responses.create(longest)).resolves.toMatchObject({
      safety_identifier: longest.safety_identifier,
    });
    await expect(fx.client.responses.create(tooLong)).rejects.toMatchObject({
      status: 400,
      code: 'string_above_max_length',
      param: 'safety_identifier',
    });
    // The rejected request is what this test sends on purpose.
    fx.emulator.requests.splice(0);
  });

  it('takes prompt_cache_key as a string of any length, as the create request describes it, and refuses other types', async () => {
    const key = schema().properties.prompt_cache_key!.anyOf[0]!;
    expect(key).toMatchObject({ type: 'string' });
    expect(key.maxLength).toBeUndefined();
    const long = { model: 'emulator-1', input: 'hi', prompt_cache_key: 'k'.repeat(100) };
    await expect(fx.client.responses.create(long)).resolves.toMatchObject({
      prompt_cache_key: long.prompt_cache_key,
    });
    const wrong = { model: 'emulator-1', input: 'hi', prompt_cache_key: 42 };
    expect(requestProblems('POST', '/v1/responses', wrong)).not.toEqual([]);
    await expect(fx.client.responses.create(wrong as unknown as typeof long)).rejects.toMatchObject(
      { status: 400, param: 'prompt_cache_key' },
    );
    fx.emulator.requests.splice(0);
  });
});
