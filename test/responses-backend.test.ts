import { beforeAll, describe, expect, it } from 'vitest';
import { AssistantLLM } from '../src/index.js';
import { collect, makeLLM, SCRIPTS } from './support/assistant.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';

const fx = useEmulator({ scripts: SCRIPTS });

beforeAll(async () => {
  fx.emulator.addPrompt('pmpt_concierge', {
    instructions: 'You are the hotel concierge.',
    model: 'emulator-1',
  });
});

const responseBodies = () =>
  fx.emulator.requests.filter((r) => r.path === '/v1/responses').map((r) => r.body);

describe('Responses backend specifics', () => {
  it('takes the assistant from a stored prompt: no model is sent, the prompt is', async () => {
    const llm = new AssistantLLM({
      api: 'responses',
      prompt: { id: 'pmpt_concierge', version: '2' },
      baseURL: fx.baseURL,
      apiKey: TEST_API_KEY,
    });
    expect(await collect(llm.process('Where is breakfast?'))).toBe('You said: Where is breakfast?');
    const [body] = responseBodies();
    expect(body).toMatchObject({
      prompt: { id: 'pmpt_concierge', version: '2' },
      // One process: streamed responses unless the background option asks otherwise.
      background: false,
      stream: true,
      store: true,
    });
    expect(body).not.toHaveProperty('model');
  });

  it('continues a conversation given as conversation_id', async () => {
    const conversation = await fx.client.conversations.create({});
    const llm = new AssistantLLM({
      api: 'responses',
      model: 'emulator-1',
      conversation_id: conversation.id,
      baseURL: fx.baseURL,
      apiKey: TEST_API_KEY,
    });
    await collect(llm.process('hello'));
    expect(llm.threadId).toBe(conversation.id);
    expect(responseBodies()[0]).toMatchObject({ conversation: conversation.id });
  });

  it('maps file_search options: max_num_results, score threshold, and the seed rankers to hybrid search', async () => {
    const llm = makeLLM('responses', fx.baseURL, {
      tools: [
        {
          type: 'file_search',
          file_search: {
            max_num_results: 5,
            ranking_options: { score_threshold: 0.4, ranker: 'lexical' },
          },
        },
        { type: 'code_interpreter' },
      ],
    });
    await collect(llm.process('hi'));
    expect(responseBodies()[0]!.tools).toEqual([
      {
        type: 'file_search',
        vector_store_ids: ['vs_test'],
        max_num_results: 5,
        ranking_options: {
          ranker: 'auto',
          score_threshold: 0.4,
          hybrid_search: { embedding_weight: 0, text_weight: 1 },
        },
      },
      { type: 'code_interpreter', container: { type: 'auto' } },
    ]);
  });

  it('maps file_search options for the Assistants API, where only the auto ranker exists', async () => {
    const llm = makeLLM('assistants', fx.baseURL, {
      tools: [
        {
          type: 'file_search',
          file_search: {
            max_num_results: 5,
            ranking_options: { score_threshold: 0.4, ranker: 'semantic' },
          },
        },
      ],
    });
    await collect(llm.process('hi'));
    const run = fx.emulator.requests.find((r) => /\/runs$/.test(r.path))!;
    expect(run.body.tools).toEqual([
      {
        type: 'file_search',
        file_search: {
          max_num_results: 5,
          ranking_options: { ranker: 'auto', score_threshold: 0.4 },
        },
      },
    ]);
  });

  it('waits out conversation_locked: two instances on one conversation both finish, neither sees the error', async () => {
    const conversation = await fx.client.conversations.create({});
    const a = makeLLM('responses', fx.baseURL, { thread_id: conversation.id });
    const b = makeLLM('responses', fx.baseURL, { thread_id: conversation.id });
    const [first, second] = await Promise.all([
      collect(a.process('slow first')),
      collect(b.process('second')),
    ]);
    expect(first).toMatch(/^one two three/);
    expect(second).toBe('You said: second');
    const locked = fx.emulator.requests.filter(
      (r) => r.path === '/v1/responses' && r.status === 400,
    );
    expect(locked.length).toBeGreaterThan(0);
  });
});
