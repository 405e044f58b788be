import { initializeLogger, llm, voice, type LLMMetrics } from '@livekit/agents';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AssistantLLM } from '../src/index.js';
import {
  APIS,
  makeLLM as makeLLMFor,
  modeOptions,
  MODES,
  SCRIPTS,
  userMessages,
  type Api,
} from './support/assistant.js';
import { useEmulator } from './support/emulator.js';
import { fleetLLM, uniqueNames } from './support/fleet.js';
import { useInProcessWorker } from './support/worker.js';

initializeLogger({ pretty: false, level: 'error' });

const fx = useEmulator({ scripts: SCRIPTS });
const open: voice.AgentSession[] = [];

// Runs before useEmulator's schema check: a session still open could still be streaming.
afterEach(async () => {
  for (const session of open.splice(0)) await session.close();
});

const weatherCalls: Array<{ location: string }> = [];

function agent(): voice.Agent {
  return new voice.Agent({
    instructions: 'Answer briefly.',
    tools: {
      get_weather: llm.tool({
        description: 'Get the weather for a location',
        parameters: z.object({ location: z.string().describe('City') }),
        execute: async ({ location }) => {
          weatherCalls.push({ location });
          return { location, sky: 'clear' };
        },
      }),
    },
  });
}

async function startSession(model: AssistantLLM): Promise<voice.AgentSession> {
  const session = new voice.AgentSession({
    llm: model,
    vad: null,
    turnHandling: { turnDetection: 'manual' },
  });
  // The session re-emits model errors as 'error'; without a listener Node throws inside the
  // framework's retry loop and the retry never happens.
  session.on(voice.AgentSessionEventTypes.Error, () => undefined);
  await session.start({ agent: agent() });
  open.push(session);
  return session;
}

function messages(
  result: voice.testing.RunResult,
): Array<{ role: string; text: string; interrupted: boolean }> {
  return result.events.flatMap((e) =>
    e.type === 'message'
      ? [{ role: e.item.role, text: e.item.textContent ?? '', interrupted: e.item.interrupted }]
      : [],
  );
}

/** One turn that calls the Agent's get_weather tool: its call, its output, then the reply. */
async function askForecast(session: voice.AgentSession): Promise<void> {
  const result = await session.run({ userInput: 'What is the forecast?' }).wait();
  result.expect.nextEvent().isFunctionCall({ name: 'get_weather', args: { location: 'Paris' } });
  result.expect.nextEvent().isFunctionCallOutput();
  result.expect.nextEvent().isMessage({ role: 'assistant' });
  expect(weatherCalls).toEqual([{ location: 'Paris' }]);
  expect(messages(result)[0]?.text).toBe('Forecast: {"location":"Paris","sky":"clear"}');
}

describe.each(MODES)('AssistantLLM as the llm of a voice.AgentSession ($name API)', (mode) => {
  const api = mode.api;
  const makeLLM = (a: Api, baseURL: string) => makeLLMFor(a, baseURL, modeOptions(mode));
  it('answers plain turns, sending only the new user message each time', async () => {
    const model = makeLLM(api, fx.baseURL);
    const metrics: LLMMetrics[] = [];
    model.on('metrics_collected', (m) => metrics.push(m));
    const session = await startSession(model);
    const first = await session.run({ userInput: 'Hello there' }).wait();
    expect(messages(first)).toEqual([
      { role: 'assistant', text: 'You said: Hello there', interrupted: false },
    ]);
    const second = await session.run({ userInput: 'How are you' }).wait();
    expect(messages(second)[0]?.text).toBe('You said: How are you');
    expect(await userMessages(fx.client, api, model.threadId!)).toEqual([
      'Hello there',
      'How are you',
    ]);
    // The Agent's instructions travel with each run, not into the thread.
    const runs = fx.emulator.requests.filter((r) =>
      api === 'assistants' ? /\/runs$/.test(r.path) : r.path === '/v1/responses',
    );
    expect(JSON.stringify(runs[0]?.body)).toContain('Answer briefly.');
    await expect.poll(() => metrics.length).toBeGreaterThanOrEqual(2);
    expect(metrics[0]).toMatchObject({ cancelled: false });
    expect(metrics[0]!.completionTokens).toBeGreaterThan(0);
    expect(metrics[0]!.ttftMs).toBeGreaterThanOrEqual(0);
  });

  it("runs the Agent's own tool and submits its output to the waiting run", async () => {
    weatherCalls.length = 0;
    const model = makeLLM(api, fx.baseURL);
    const session = await startSession(model);
    await askForecast(session);
    // One run: the output went to the waiting run instead of starting another.
    if (api === 'assistants') {
      expect(fx.emulator.requests.filter((r) => /\/runs$/.test(r.path))).toHaveLength(1);
      expect(
        fx.emulator.requests.filter((r) => r.path.endsWith('/submit_tool_outputs')),
      ).toHaveLength(1);
    } else {
      const created = fx.emulator.requests.filter((r) => r.path === '/v1/responses');
      expect(created).toHaveLength(2);
      expect(created[1]!.body.input).toEqual([
        expect.objectContaining({ type: 'function_call_output' }),
      ]);
    }
    expect(await userMessages(fx.client, api, model.threadId!)).toEqual(['What is the forecast?']);
  });

  it('sends calls the Agent has no tool for to onToolCallCreated', async () => {
    const model = makeLLM(api, fx.baseURL);
    model.onToolCallCreated = async (call) =>
      call.type === 'function' && call.function.name === 'search_knowledge_base'
        ? { results: ['result1', 'result2'] }
        : null;
    const session = await startSession(model);
    const result = await session.run({ userInput: 'lookup TypeScript' }).wait();
    expect(result.events.map((e) => e.type)).toEqual(['message']);
    expect(messages(result)[0]?.text).toBe('Found: {"results":["result1","result2"]}');
  });

  it('cancels the run when the session interrupts, and takes the next turn', async () => {
    const model = makeLLM(api, fx.baseURL);
    const metrics: LLMMetrics[] = [];
    model.on('metrics_collected', (m) => metrics.push(m));
    const session = await startSession(model);
    const running = session.run({ userInput: 'tell a slow story' });
    await expect
      .poll(() => fx.emulator.events.filter((e) => /delta/.test(e.event)).length)
      .toBeGreaterThan(2);
    await session.interrupt().await;
    const result = await running.wait();
    const [reply] = messages(result);
    expect(reply?.interrupted).toBe(true);
    if (mode.background === false) {
      // A streamed response is cancelled by closing its stream: the server stops it.
      const created = fx.emulator.events.find((e) => e.event === 'response.created')!;
      const id = (created.data as { response: { id: string } }).response.id;
      await expect
        .poll(async () => (await fx.client.responses.retrieve(id)).status)
        .toBe('cancelled');
      expect(fx.emulator.requests.filter((r) => r.path.endsWith('/cancel'))).toEqual([]);
    } else {
      await expect
        .poll(() => fx.emulator.requests.filter((r) => r.path.endsWith('/cancel')).length)
        .toBe(1);
    }
    await expect.poll(() => metrics.some((m) => m.cancelled)).toBe(true);
    const next = await session.run({ userInput: 'Are you there' }).wait();
    expect(messages(next)[0]?.text).toBe('You said: Are you there');
  });

  it("raises retryable API errors as the framework's APIStatusError, so its retry succeeds", async () => {
    fx.emulator.addScript({
      message: `busy ${api}`,
      script: {
        failRequests: { status: 429, times: 1, retryAfterSeconds: 0 },
        steps: [{ text: 'Served after a retry.' }],
      },
    });
    const model = makeLLM(api, fx.baseURL);
    const errors: Array<{ recoverable: boolean; error: Error }> = [];
    model.on('error', (e) => errors.push(e));
    const session = await startSession(model);
    const result = await session.run({ userInput: `busy ${api}` }).wait();
    expect(messages(result)[0]?.text).toBe('Served after a retry.');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      recoverable: true,
      error: { name: 'APIStatusError', statusCode: 429 },
    });
  });

  it('raises a failed run as a non-retryable APIError', async () => {
    const model = makeLLM(api, fx.baseURL);
    const errors: Array<{ recoverable: boolean; error: Error }> = [];
    model.on('error', (e) => errors.push(e));
    const session = await startSession(model);
    await session.run({ userInput: 'explode now' }).wait();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      recoverable: false,
      error: { message: 'The model exploded.' },
    });
    const runRequests = fx.emulator.requests.filter((r) =>
      api === 'assistants' ? /\/runs$/.test(r.path) : r.path === '/v1/responses',
    );
    expect(runRequests).toHaveLength(1);
  });
});

describe.each(APIS)('the same AgentSession in fleet mode (%s API)', (api) => {
  const names = uniqueNames(`lk-${api}`);
  useInProcessWorker(fx, names);

  it("runs the Agent's own tool in the room and the worker's run gets its output", async () => {
    weatherCalls.length = 0;
    const model = fleetLLM(api, names, { room: 'lk-room', participant: `lk-${api}` });
    const session = await startSession(model);
    // The tool runs here, in the room's process; the worker carries its output upstream.
    await askForecast(session);
    const outputs = fx.emulator.requests.filter((r) =>
      api === 'assistants'
        ? r.path.endsWith('/submit_tool_outputs')
        : r.path === '/v1/responses' &&
          JSON.stringify(r.body.input).includes('function_call_output'),
    );
    expect(outputs).toHaveLength(1);
    expect(JSON.stringify(outputs[0]!.body)).toContain('clear');
    await model.aclose();
  });
});
