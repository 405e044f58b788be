import { beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { SCRIPTS } from './support/assistant.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';

const fx = useEmulator(
  {
    scripts: [
      ...SCRIPTS,
      {
        message: 'busy',
        script: {
          failRequests: { status: 429, times: 1, retryAfterSeconds: 0 },
          steps: [{ text: 'after retry' }],
        },
      },
      {
        message: 'flaky',
        script: { failRequests: { status: 503, times: 1 }, steps: [{ text: 'recovered' }] },
      },
      {
        message: 'drop',
        script: { steps: [{ text: 'before drop' }, { dropConnection: true }, { text: 'after' }] },
      },
      {
        message: 'throttle',
        script: {
          failRequests: { status: 429, times: 2, retryAfterSeconds: 7 },
          steps: [{ text: 'no longer throttled' }],
        },
      },
      {
        message: 'echo instructions',
        script: {
          steps: [
            {
              text: (ctx) =>
                `instructions=${ctx.instructions ?? '-'} additional=${ctx.additionalInstructions ?? '-'}`,
            },
          ],
        },
      },
      {
        message: 'stall',
        script: { steps: [{ text: 'waiting' }, { stallMs: 2_000 }, { text: 'late' }] },
      },
    ],
  },
  'events',
);
let assistantId: string;

beforeAll(async () => {
  assistantId = (
    await fx.client.beta.assistants.create({ model: 'emulator-1', instructions: 'Be helpful.' })
  ).id;
});

async function threadWith(text: string): Promise<string> {
  const thread = await fx.client.beta.threads.create({
    messages: [{ role: 'user', content: text }],
  });
  return thread.id;
}

describe('Assistants API v2 emulation', () => {
  it('streams a text run that the SDK helper accumulates into the final run and message', async () => {
    const threadId = await threadWith('Tell me about TypeScript');
    const stream = fx.client.beta.threads.runs.stream(threadId, {
      assistant_id: assistantId,
      additional_instructions: 'Be concise',
    });
    let text = '';
    stream.on('textDelta', (delta) => (text += delta.value ?? ''));
    const run = await stream.finalRun();
    expect(run.status).toBe('completed');
    expect(text).toBe('You said: Tell me about TypeScript');
    expect(run.usage?.completion_tokens).toBeGreaterThan(0);
    const messages = await stream.finalMessages();
    expect(messages.map((m) => m.content[0]?.type === 'text' && m.content[0].text.value)).toEqual([
      text,
    ]);
    const body = fx.emulator.requests.find((r) => r.path.endsWith('/runs'))?.body;
    expect(body).toMatchObject({
      assistant_id: assistantId,
      additional_instructions: 'Be concise',
      stream: true,
    });
    expect(run.instructions).toBe('Be helpful.\nBe concise');
  });

  it('honours per-run instructions and additional_instructions for that run only', async () => {
    const threadId = await threadWith('echo instructions');
    const overridden = fx.client.beta.threads.runs.stream(threadId, {
      assistant_id: assistantId,
      instructions: 'Speak like a pirate.',
      additional_instructions: 'Keep it short.',
    });
    const run = await overridden.finalRun();
    expect(run.status).toBe('completed');
    expect(run.instructions).toBe('Speak like a pirate.\nKeep it short.');
    const [reply] = await overridden.finalMessages();
    expect(reply?.content[0]?.type === 'text' && reply.content[0].text.value).toBe(
      'instructions=Speak like a pirate. additional=Keep it short.',
    );
    expect(fx.emulator.requests.find((r) => r.path.endsWith('/runs'))?.body).toMatchObject({
      instructions: 'Speak like a pirate.',
      additional_instructions: 'Keep it short.',
    });
    const retrieved = await fx.client.beta.threads.runs.retrieve(run.id, { thread_id: threadId });
    expect(retrieved.instructions).toBe('Speak like a pirate.\nKeep it short.');

    // The next run on the thread is back to the assistant's own instructions.
    await fx.client.beta.threads.messages.create(threadId, {
      role: 'user',
      content: 'echo instructions again',
    });
    const plain = fx.client.beta.threads.runs.stream(threadId, { assistant_id: assistantId });
    const next = await plain.finalRun();
    expect(next.instructions).toBe('Be helpful.');
    const [plainReply] = await plain.finalMessages();
    expect(plainReply?.content[0]?.type === 'text' && plainReply.content[0].text.value).toBe(
      'instructions=Be helpful. additional=-',
    );
  });

  it('asks for several function calls in one step and continues after submitToolOutputsStream', async () => {
    const threadId = await threadWith("What's the weather?");
    const first = fx.client.beta.threads.runs.stream(threadId, { assistant_id: assistantId });
    const waiting = await first.finalRun();
    expect(waiting.status).toBe('requires_action');
    const calls = waiting.required_action!.submit_tool_outputs.tool_calls;
    expect(calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ['get_weather', { location: 'Paris' }],
      ['get_time', { zone: 'CET' }],
    ]);
    await expect(
      fx.client.beta.threads.messages.create(threadId, { role: 'user', content: 'hi' }),
    ).rejects.toThrow(/Can't add messages to thread_\w+ while a run run_\w+ is active/);
    await expect(
      fx.client.beta.threads.runs.create(threadId, { assistant_id: assistantId }),
    ).rejects.toThrow(/already has an active run/);
    const second = fx.client.beta.threads.runs.submitToolOutputsStream(waiting.id, {
      thread_id: threadId,
      tool_outputs: calls.map((c, i) => ({
        tool_call_id: c.id,
        output: i === 0 ? 'sunny' : '10:00',
      })),
    });
    const done = await second.finalRun();
    expect(done.status).toBe('completed');
    const messages = await fx.client.beta.threads.messages.list(threadId, { order: 'asc' });
    const texts = messages.data.map((m) =>
      m.content[0]?.type === 'text' ? m.content[0].text.value : '',
    );
    expect(texts).toEqual(["What's the weather?", 'Let me check. ', 'Outputs: sunny | 10:00']);
  });

  it('rejects tool outputs that do not answer every pending call', async () => {
    const threadId = await threadWith('weather please');
    const waiting = await fx.client.beta.threads.runs
      .stream(threadId, { assistant_id: assistantId })
      .finalRun();
    const [firstCall] = waiting.required_action!.submit_tool_outputs.tool_calls;
    await expect(
      fx.client.beta.threads.runs.submitToolOutputs(waiting.id, {
        thread_id: threadId,
        tool_outputs: [{ tool_call_id: firstCall!.id, output: 'x' }],
      }),
    ).rejects.toThrow(/Expected tool outputs/);
    const cancelled = await fx.client.beta.threads.runs.cancel(waiting.id, { thread_id: threadId });
    expect(cancelled.status).toBe('cancelled');
  });

  it('reports code_interpreter and file_search steps as completed run steps', async () => {
    const threadId = await threadWith('analyse this');
    const stream = fx.client.beta.threads.runs.stream(threadId, {
      assistant_id: assistantId,
      tools: [{ type: 'code_interpreter' }, { type: 'file_search' }],
    });
    const kinds: string[] = [];
    // One tool call per step: the helper's toolCallDone keys on the index within a step, so read steps.
    stream.on('runStepDone', (step) => {
      if (step.step_details.type === 'tool_calls')
        kinds.push(...step.step_details.tool_calls.map((c) => c.type));
    });
    const run = await stream.finalRun();
    expect(run.status).toBe('completed');
    expect(kinds).toEqual(['code_interpreter', 'file_search']);
    const steps = await fx.client.beta.threads.runs.steps.list(run.id, { thread_id: threadId });
    const code = steps.data
      .flatMap((s) => (s.step_details.type === 'tool_calls' ? s.step_details.tool_calls : []))
      .find((c) => c.type === 'code_interpreter');
    expect(code).toMatchObject({
      code_interpreter: { input: 'print(6*7)', outputs: [{ type: 'logs', logs: '42' }] },
    });
  });

  it.each([
    ['explode', 'failed', { last_error: { code: 'server_error', message: 'The model exploded.' } }],
    ['expire', 'expired', {}],
    ['too long', 'incomplete', { incomplete_details: { reason: 'max_completion_tokens' } }],
  ])('ends a run scripted as "%s" with status %s', async (text, status, fields) => {
    const threadId = await threadWith(text);
    const run = await fx.client.beta.threads.runs
      .stream(threadId, { assistant_id: assistantId })
      .finalRun();
    expect(run.status).toBe(status);
    expect(run).toMatchObject(fields);
    // The thread is free again.
    await fx.client.beta.threads.messages.create(threadId, { role: 'user', content: 'next' });
  });

  it('creates a thread and a run in one request', async () => {
    const stream = fx.client.beta.threads.createAndRunStream({
      assistant_id: assistantId,
      thread: { messages: [{ role: 'user', content: 'hello there' }] },
    });
    const events: string[] = [];
    for await (const event of stream) events.push(event.event);
    expect(events[0]).toBe('thread.created');
    expect(events.at(-1)).toBe('thread.run.completed');
  });

  it('cancels a streaming run: the stream ends with thread.run.cancelled and the thread is free', async () => {
    const threadId = await threadWith('slow please');
    const stream = fx.client.beta.threads.runs.stream(threadId, { assistant_id: assistantId });
    const seen: string[] = [];
    let runId = '';
    for await (const event of stream) {
      seen.push(event.event);
      if (event.event === 'thread.run.created') runId = event.data.id;
      if (
        event.event === 'thread.message.delta' &&
        seen.filter((e) => e === 'thread.message.delta').length === 2
      ) {
        const cancelling = await fx.client.beta.threads.runs.cancel(runId, { thread_id: threadId });
        expect(cancelling.status).toBe('cancelling');
      }
    }
    expect(seen.slice(-2)).toEqual(['thread.run.cancelling', 'thread.run.cancelled']);
    expect(seen.filter((e) => e === 'thread.message.delta').length).toBeLessThan(20);
    const run = await fx.client.beta.threads.runs.retrieve(runId, { thread_id: threadId });
    expect(run.status).toBe('cancelled');
  });

  it('runs without streaming and can be polled to completion', async () => {
    const threadId = await threadWith('poll me');
    const run = await fx.client.beta.threads.runs.createAndPoll(
      threadId,
      { assistant_id: assistantId },
      { pollIntervalMs: 10 },
    );
    expect(run.status).toBe('completed');
  });

  it('answers 401 without a key, 404 for unknown ids', async () => {
    const anonymous = await fetch(`${fx.baseURL}/threads`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { message: string } }).error.message).toMatch(
      /API key/,
    );
    await expect(fx.client.beta.threads.retrieve('thread_missing')).rejects.toMatchObject({
      status: 404,
    });
    const threadId = await threadWith('x');
    await expect(
      fx.client.beta.threads.runs.create(threadId, { assistant_id: 'asst_missing' }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('answers 429 with Retry-After and 5xx, which the SDK retries', async () => {
    const noRetry = await threadWith('busy');
    await expect(
      fx.client.beta.threads.runs.create(noRetry, { assistant_id: assistantId }),
    ).rejects.toMatchObject({ status: 429, headers: expect.anything() });
    const retrying = new OpenAI({ apiKey: TEST_API_KEY, baseURL: fx.baseURL, maxRetries: 2 });
    const threadId = await threadWith('flaky');
    const run = await retrying.beta.threads.runs
      .stream(threadId, { assistant_id: assistantId })
      .finalRun();
    expect(run.status).toBe('completed');
    expect(
      fx.emulator.requests.filter((r) => r.path.endsWith('/runs') && r.status === 503),
    ).toHaveLength(1);
  });

  it('answers 429 with the scripted Retry-After value, in the SDK error and on the wire', async () => {
    const threadId = await threadWith('throttle');
    const error = await fx.client.beta.threads.runs
      .create(threadId, { assistant_id: assistantId })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe(
      '7',
    );
    expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    const raw = await fetch(`${fx.baseURL}/threads/${threadId}/runs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_API_KEY}`,
        'content-type': 'application/json',
        'openai-beta': 'assistants=v2',
      },
      body: JSON.stringify({ assistant_id: assistantId }),
    });
    expect(raw.status).toBe(429);
    expect(raw.headers.get('retry-after')).toBe('7');
    expect(await raw.json()).toMatchObject({
      error: { type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' },
    });
    // Both scripted failures are used up: the third request creates the run.
    const run = await fx.client.beta.threads.runs
      .stream(threadId, { assistant_id: assistantId })
      .finalRun();
    expect(run.status).toBe('completed');
    expect(
      fx.emulator.requests.filter((r) => r.path.endsWith('/runs')).map((r) => r.status ?? 200),
    ).toEqual([429, 429, 200]);
  });

  it('drops the connection mid-stream, which the SDK reports as an error; the run finishes server-side', async () => {
    const threadId = await threadWith('drop it');
    const stream = fx.client.beta.threads.runs.stream(threadId, { assistant_id: assistantId });
    await expect(stream.finalRun()).rejects.toThrow();
    const runs = await fx.client.beta.threads.runs.list(threadId);
    await expect
      .poll(
        async () =>
          (await fx.client.beta.threads.runs.retrieve(runs.data[0]!.id, { thread_id: threadId }))
            .status,
      )
      .toBe('completed');
  });

  it('stalls a stream: nothing arrives for the stalled time, then the run goes on', async () => {
    const threadId = await threadWith('stall');
    const stream = fx.client.beta.threads.runs.stream(threadId, { assistant_id: assistantId });
    const deltas: Array<[string, number]> = [];
    stream.on('textDelta', (delta) => deltas.push([delta.value ?? '', Date.now()]));
    expect((await stream.finalRun()).status).toBe('completed');
    expect(deltas.map(([text]) => text)).toEqual(['waiting', 'late']);
    expect(deltas[1]![1] - deltas[0]![1]).toBeGreaterThanOrEqual(1_900);
  });
});
