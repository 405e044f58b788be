/**
 * Arriving from the Assistants API in December 2026: an exported assistant becomes options
 * (optionsFromAssistant), a stored prompt still works where it is served but warns once that
 * OpenAI shut them down, and the default model comes from one documented constant.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AssistantLLM,
  ConfigError,
  CONTEXT_WINDOWS,
  DEFAULT_MODEL,
  optionsFromAssistant,
  type ExportedAssistant,
} from '../src/index.js';
import { captureLogger, collect } from './support/assistant.js';
import { spec } from './support/openapi.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';

const fx = useEmulator({
  scripts: [
    {
      message: 'weather',
      script: {
        steps: [
          { functionCalls: [{ name: 'get_weather', arguments: { location: 'Paris' } }] },
          { text: (c) => `It is ${c.toolOutputs[0]?.output}.` },
        ],
      },
    },
  ],
});
beforeAll(() => {
  fx.emulator.addPrompt('pmpt_concierge', {
    instructions: 'You are the hotel concierge.',
    model: 'emulator-1',
  });
});

const connection = () => ({ baseURL: fx.baseURL, apiKey: TEST_API_KEY });
const createBodies = () =>
  fx.emulator.requests.filter((r) => r.path === '/v1/responses').map((r) => r.body);

const WEATHER = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather',
    parameters: { type: 'object' as const, properties: { location: { type: 'string' } } },
    strict: false,
  },
};

describe('optionsFromAssistant', () => {
  it("turns an assistant's JSON (GET /v1/assistants/{id}) into options the Responses backend runs on", async () => {
    const created = await fx.client.beta.assistants.create({
      model: 'emulator-1',
      instructions: 'You are a weather assistant.',
      tools: [
        { type: 'code_interpreter' },
        {
          type: 'file_search',
          file_search: {
            max_num_results: 4,
            ranking_options: { ranker: 'default_2024_08_21', score_threshold: 0.5 },
          },
        },
        WEATHER,
      ],
      tool_resources: { file_search: { vector_store_ids: ['vs_manuals'] } },
    });
    // What an export saved: the object as the API returned it, through JSON.
    const exported = JSON.parse(
      JSON.stringify(await fx.client.beta.assistants.retrieve(created.id)),
    ) as ExportedAssistant;
    const logger = captureLogger();
    const options = optionsFromAssistant(exported, { logger });
    expect(options).toEqual({
      api: 'responses',
      model: 'emulator-1',
      instructions: 'You are a weather assistant.',
      tools: [
        { type: 'code_interpreter' },
        {
          type: 'file_search',
          file_search: {
            max_num_results: 4,
            ranking_options: { ranker: 'auto', score_threshold: 0.5 },
          },
        },
        WEATHER,
      ],
      fileSearch: { vectorStoreIds: ['vs_manuals'] },
    });
    expect(logger.lines).toEqual([]);

    const llm = new AssistantLLM({ ...options, ...connection() });
    llm.onToolCallCreated = () => 'sunny';
    expect(await collect(llm.process('weather in Paris?'))).toBe('It is sunny.');
    const [body] = createBodies();
    expect(body).toMatchObject({
      model: 'emulator-1',
      instructions: 'You are a weather assistant.',
      tools: [
        { type: 'code_interpreter', container: { type: 'auto' } },
        { type: 'file_search', vector_store_ids: ['vs_manuals'], max_num_results: 4 },
        { type: 'function', name: 'get_weather', description: 'Current weather' },
      ],
    });
  });

  it('names what has no option, and refuses a malformed export by field', () => {
    const logger = captureLogger();
    const options = optionsFromAssistant(
      {
        id: 'asst_1',
        model: 'gpt-4o',
        instructions: null,
        tools: [{ type: 'code_interpreter' }],
        tool_resources: { code_interpreter: { file_ids: ['file-1', 'file-2'] } },
        temperature: 0.2,
      },
      { logger },
    );
    expect(options).toEqual({
      api: 'responses',
      model: 'gpt-4o',
      tools: [{ type: 'code_interpreter' }],
    });
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message:
          'assistant asst_1: no AssistantLLM option carries tool_resources.code_interpreter.file_ids (2 files), temperature 0.2; they are left out',
      },
    ]);
    expect(() => optionsFromAssistant({} as ExportedAssistant)).toThrow(
      /^assistant.model: expected a model name/,
    );
    expect(() =>
      optionsFromAssistant({
        model: 'm',
        tools: [{ type: 'function', function: { name: 'a b' } }],
      }),
    ).toThrow(ConfigError);
    expect(() =>
      optionsFromAssistant({
        model: 'm',
        tools: [{ type: 'function', function: { name: 'a b' } }],
      }),
    ).toThrow(/^assistant.tools\[0\].function.name/);
  });
});

describe('the prompt option', () => {
  it('still runs where stored prompts are served, and warns once, at construction, how to move off them', async () => {
    const logger = captureLogger();
    const llm = new AssistantLLM({
      api: 'responses',
      prompt: { id: 'pmpt_concierge', version: '2' },
      logger,
      ...connection(),
    });
    const warnings = () => logger.lines.filter((l) => l.level === 'warn');
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.message).toMatch(
      /^prompt: OpenAI shut stored prompts \(v1\/prompts\) down on 2026-11-30; prompt pmpt_concierge works only with a server that still serves them\. Copy the prompt's text into the `instructions` option and its model into `model`/,
    );
    expect(await collect(llm.process('Where is breakfast?'))).toBe('You said: Where is breakfast?');
    expect(await collect(llm.process('And dinner?'))).toBe('You said: And dinner?');
    expect(warnings()).toHaveLength(1);
    const [body] = createBodies();
    expect(body).toMatchObject({ prompt: { id: 'pmpt_concierge', version: '2' } });
    expect(body).not.toHaveProperty('model');
  });

  it('is not mentioned when the assistant is configured by options', () => {
    const logger = captureLogger();
    new AssistantLLM({ api: 'responses', instructions: 'Hi.', logger, ...connection() });
    expect(logger.lines).toEqual([]);
  });
});

describe('the default model', () => {
  const saved = process.env.OPENAI_MODEL;
  afterEach(() => {
    if (saved === undefined) delete process.env.OPENAI_MODEL;
    else process.env.OPENAI_MODEL = saved;
  });

  it("is a model of OpenAI's API description, as is every model the context window table names", () => {
    const shared = spec().components.schemas.ModelIdsShared as {
      anyOf: Array<{ enum?: string[] }>;
    };
    const known = shared.anyOf.flatMap((s) => s.enum ?? []);
    expect(known).toContain(DEFAULT_MODEL);
    for (const model of Object.keys(CONTEXT_WINDOWS)) expect(known).toContain(model);
  });

  it('is DEFAULT_MODEL, then OPENAI_MODEL, then the model option', async () => {
    expect(DEFAULT_MODEL).toBe('gpt-5.6-terra');
    delete process.env.OPENAI_MODEL;
    const byDefault = new AssistantLLM({ api: 'responses', ...connection() });
    process.env.OPENAI_MODEL = 'gpt-5.6-luna';
    const byEnv = new AssistantLLM({ api: 'responses', ...connection() });
    const byOption = new AssistantLLM({ api: 'responses', model: 'gpt-5.6-sol', ...connection() });
    expect([byDefault.model, byEnv.model, byOption.model]).toEqual([
      'gpt-5.6-terra',
      'gpt-5.6-luna',
      'gpt-5.6-sol',
    ]);
    await collect(byDefault.process('hello'));
    expect(createBodies()[0]).toMatchObject({ model: 'gpt-5.6-terra' });
  });
});
