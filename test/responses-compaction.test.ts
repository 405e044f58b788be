/**
 * Long conversations: every response asks for server-side compaction (`context_management`)
 * at a share of the model's context window, and the emulator compacts as the API does (a
 * compaction item stands for what came before it). Across many turns the input stays under the
 * threshold and the conversation keeps answering; without compaction it grows with every turn.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  CONTEXT_WINDOWS,
  DEFAULT_MODEL,
  FALLBACK_CONTEXT_WINDOW,
} from '../src/index.js';
import { captureLogger, collect, makeLLM } from './support/assistant.js';
import { useEmulator } from './support/emulator.js';
import { fleetLLM, removeFleet, uniqueNames } from './support/fleet.js';
import { useInProcessWorker } from './support/worker.js';
import { requestProblems } from './support/openapi.js';

const fx = useEmulator();
const names = uniqueNames('compaction');
useInProcessWorker(fx, names);
afterAll(() => removeFleet(names));

/** A user turn of about 60 words (the emulator counts a word as a token). */
const turn = (i: number) =>
  `turn ${i}: ${Array.from({ length: 58 }, (_, w) => `word${w}`).join(' ')}`;

/** input_tokens of every response the emulator completed, in order. */
function inputTokens(): number[] {
  return fx.emulator.events
    .filter((e) => e.event === 'response.completed')
    .map((e) => (e.data as { response: { usage: { input_tokens: number } } }).response.usage)
    .map((usage) => usage.input_tokens);
}

async function itemTypes(conversationId: string): Promise<string[]> {
  const types: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await fx.client.conversations.items.list(conversationId, {
      order: 'asc',
      limit: 100,
      ...(after ? { after } : {}),
    });
    types.push(...page.data.map((i) => i.type));
    if (!page.has_more) return types;
    after = page.data.at(-1)!.id;
  }
}

// 0.125 of 8 000 tokens: compaction at 1 000, the API's lowest threshold.
const SMALL_WINDOW = { share: 0.125, contextWindow: 8_000 };
const TURNS = 40;

describe('compaction of a long conversation', () => {
  it(`keeps the input under the threshold across ${TURNS} turns, and the conversation answers every one`, async () => {
    const logger = captureLogger();
    const llm = makeLLM('responses', fx.baseURL, { compaction: SMALL_WINDOW, logger });
    for (let i = 0; i < TURNS; i++)
      expect(await collect(llm.process(turn(i)))).toBe(`You said: ${turn(i)}`);
    const bodies = fx.emulator.requests.filter((r) => r.path === '/v1/responses');
    expect(bodies.map((r) => r.body.context_management)).toEqual(
      Array(TURNS).fill([{ type: 'compaction', compact_threshold: 1_000 }]),
    );
    const tokens = inputTokens();
    expect(tokens).toHaveLength(TURNS);
    expect(Math.max(...tokens)).toBeLessThan(1_000);
    const types = await itemTypes(llm.threadId!);
    const compactions = types.filter((t) => t === 'compaction').length;
    expect(compactions).toBeGreaterThanOrEqual(4);
    // Every turn's messages stay listed; the model reads from the latest compaction on.
    expect(types.filter((t) => t === 'message')).toHaveLength(2 * TURNS);
    expect(logger.lines.filter((l) => l.message === 'the conversation was compacted')).toHaveLength(
      compactions,
    );
  }, 60_000);

  it('without compaction, the same conversation grows with every turn', async () => {
    const llm = makeLLM('responses', fx.baseURL, { compaction: false });
    for (let i = 0; i < TURNS; i++) await collect(llm.process(turn(i)));
    expect(fx.emulator.requests.some((r) => 'context_management' in r.body)).toBe(false);
    const tokens = inputTokens();
    expect(tokens.every((n, i) => i === 0 || n > tokens[i - 1]!)).toBe(true);
    expect(tokens.at(-1)).toBeGreaterThan(4_000);
  }, 60_000);

  it('compacts through a worker too: the threshold travels with the run', async () => {
    const llm = fleetLLM(
      'responses',
      names,
      { room: 'long', participant: 'talker' },
      { compaction: SMALL_WINDOW },
    );
    for (let i = 0; i < 12; i++)
      expect(await collect(llm.process(turn(i)))).toBe(`You said: ${turn(i)}`);
    expect(Math.max(...inputTokens())).toBeLessThan(1_000);
    expect(await itemTypes(llm.threadId!)).toContain('compaction');
    await llm.aclose();
  }, 60_000);
});

describe('the compaction threshold', () => {
  const thresholdOf = async (extra: Parameters<typeof makeLLM>[2]) => {
    await collect(makeLLM('responses', fx.baseURL, extra).process('hello'));
    const body = fx.emulator.requests.find((r) => r.path === '/v1/responses')!.body;
    fx.emulator.clearRecords();
    return (body.context_management as Array<{ compact_threshold: number }>)[0]!.compact_threshold;
  };

  it("is a quarter of the model's context window by default, from the documented table", async () => {
    expect(CONTEXT_WINDOWS[DEFAULT_MODEL]).toBe(1_050_000);
    // The emulator's model is in no table: the fallback window counts.
    expect(await thresholdOf({})).toBe(FALLBACK_CONTEXT_WINDOW / 4);
    expect(await thresholdOf({ compaction: { contextWindow: 400_000 } })).toBe(100_000);
    expect(await thresholdOf({ compaction: { share: 0.5 } })).toBe(FALLBACK_CONTEXT_WINDOW / 2);
  });

  it('refuses a share or window that would go below the API minimum, naming the option', () => {
    expect(() => makeLLM('responses', fx.baseURL, { compaction: { share: 1.5 } })).toThrow(
      /^compaction.share: expected a number above 0 and at most 1/,
    );
    expect(() =>
      makeLLM('responses', fx.baseURL, { compaction: { share: 0.1, contextWindow: 5_000 } }),
    ).toThrow(ConfigError);
    expect(() =>
      makeLLM('responses', fx.baseURL, { compaction: { share: 0.1, contextWindow: 5_000 } }),
    ).toThrow(/below the API's minimum of 1000/);
  });

  it('the emulator refuses context_management that the description refuses', async () => {
    const low = {
      model: 'emulator-1',
      input: 'hi',
      context_management: [{ type: 'compaction', compact_threshold: 999 }],
    };
    expect(requestProblems('POST', '/v1/responses', low)).not.toEqual([]);
    await expect(fx.client.responses.create(low)).rejects.toMatchObject({
      status: 400,
      param: 'context_management[0].compact_threshold',
    });
    const empty = { model: 'emulator-1', input: 'hi', context_management: [] };
    expect(requestProblems('POST', '/v1/responses', empty)).not.toEqual([]);
    await expect(fx.client.responses.create(empty)).rejects.toMatchObject({ status: 400 });
    fx.emulator.requests.splice(0);
  });
});
