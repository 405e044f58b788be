import { beforeAll, describe, expect, it } from 'vitest';
import { SCRIPTS } from './support/assistant.js';
import { useEmulator } from './support/emulator.js';
import { problems } from './support/openapi.js';

const fx = useEmulator({ scripts: SCRIPTS }, 'events');
const model = 'emulator-1';

beforeAll(async () => {
  fx.emulator.addPrompt('pmpt_support', {
    instructions: 'Stored prompt instructions.',
    model: 'emulator-1',
  });
});

describe('Responses + Conversations emulation', () => {
  it('streams a response on a conversation that responses.stream accumulates', async () => {
    const conversation = await fx.client.conversations.create({});
    expect(conversation.id).toMatch(/^conv_/);
    const stream = fx.client.responses.stream({
      model,
      conversation: conversation.id,
      input: 'Tell me about TypeScript',
      instructions: 'Be concise',
    });
    let text = '';
    stream.on('response.output_text.delta', (e) => (text += e.delta));
    const response = await stream.finalResponse();
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('You said: Tell me about TypeScript');
    expect(text).toBe(response.output_text);
    expect(response.instructions).toBe('Be concise');
    const items = await fx.client.conversations.items.list(conversation.id);
    expect(items.data.map((i) => i.type)).toEqual(['message', 'message']);
  });

  it('round-trips function_call and function_call_output on the conversation', async () => {
    const conversation = await fx.client.conversations.create({});
    const tools = ['get_weather', 'get_time'].map((name) => ({
      type: 'function' as const,
      name,
      parameters: { type: 'object', properties: {} },
      strict: false,
    }));
    const first = await fx.client.responses
      .stream({ model, conversation: conversation.id, input: 'weather?', tools })
      .finalResponse();
    const calls = first.output.filter((item) => item.type === 'function_call');
    expect(calls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
      ['get_weather', { location: 'Paris' }],
      ['get_time', { zone: 'CET' }],
    ]);
    await expect(
      fx.client.responses.create({
        model,
        conversation: conversation.id,
        input: 'ignore the calls',
      }),
    ).rejects.toThrow(/No tool output found for function call/);
    const second = await fx.client.responses
      .stream({
        model,
        conversation: conversation.id,
        tools,
        input: calls.map((c, i) => ({
          type: 'function_call_output' as const,
          call_id: c.call_id,
          output: i === 0 ? 'sunny' : '10:00',
        })),
      })
      .finalResponse();
    expect(second.output_text).toBe('Outputs: sunny | 10:00');
  });

  it('reports code_interpreter and file_search calls as output items', async () => {
    const response = await fx.client.responses
      .stream({
        model,
        input: 'analyse',
        tools: [
          { type: 'code_interpreter', container: { type: 'auto' } },
          { type: 'file_search', vector_store_ids: ['vs_1'] },
        ],
      })
      .finalResponse();
    expect(response.output.map((i) => i.type)).toEqual([
      'code_interpreter_call',
      'file_search_call',
      'message',
    ]);
    expect(response.output[0]).toMatchObject({
      code: 'print(6*7)',
      outputs: [{ type: 'logs', logs: '42' }],
    });
  });

  it('fails with response.failed and ends incomplete with response.incomplete', async () => {
    const failed = fx.client.responses.stream({ model, input: 'explode' });
    const types: string[] = [];
    for await (const event of failed) types.push(event.type);
    expect(types.at(-1)).toBe('response.failed');
    const incomplete = await fx.client.responses.create({ model, input: 'too long' });
    expect(incomplete).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
    });
  });

  it('locks a conversation while a response is in progress', async () => {
    const conversation = await fx.client.conversations.create({});
    const stream = fx.client.responses.stream({
      model,
      conversation: conversation.id,
      input: 'slow',
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await expect(
      fx.client.responses.create({ model, conversation: conversation.id, input: 'again' }),
    ).rejects.toMatchObject({ status: 400, code: 'conversation_locked' });
    await stream.finalResponse();
    await expect(
      fx.client.responses.create({ model, conversation: conversation.id, input: 'again' }),
    ).resolves.toMatchObject({ status: 'completed' });
  });

  it('cancels a background response and resumes a stream by sequence number', async () => {
    const background = await fx.client.responses.create({
      model,
      input: 'slow one',
      background: true,
      stream: true,
    });
    let lastSeq = -1;
    let id = '';
    for await (const event of background) {
      lastSeq = event.sequence_number;
      if (event.type === 'response.created') id = event.response.id;
      if (event.type === 'response.output_text.delta') break;
    }
    const resumed = fx.client.responses.stream({ response_id: id, starting_after: lastSeq });
    const seqs: number[] = [];
    for await (const event of resumed) seqs.push(event.sequence_number);
    expect(seqs[0]).toBe(lastSeq + 1);
    expect(seqs).toEqual(seqs.map((_, i) => lastSeq + 1 + i));

    const toCancel = await fx.client.responses.create({
      model,
      input: 'slow two',
      background: true,
    });
    expect(toCancel.status).toBe('queued');
    const cancelled = await fx.client.responses.cancel(toCancel.id);
    expect(cancelled.status).toBe('cancelled');
    expect((await fx.client.responses.retrieve(toCancel.id)).status).toBe('cancelled');
    await expect(
      fx.client.responses.cancel((await fx.client.responses.create({ model, input: 'fg' })).id),
    ).rejects.toMatchObject({ status: 400 });
  });

  it('stops a response that is not in the background when its client disconnects', async () => {
    const conversation = await fx.client.conversations.create({});
    const stream = await fx.client.responses.create({
      model,
      conversation: conversation.id,
      input: 'slow',
      stream: true,
    });
    let id = '';
    for await (const event of stream) {
      if (event.type === 'response.created') {
        expect(event.response.background).toBe(false);
        id = event.response.id;
      }
      if (event.type === 'response.output_text.delta') break;
    }
    // Leaving the loop closed the connection: the response stops where it was.
    await expect
      .poll(async () => (await fx.client.responses.retrieve(id)).status)
      .toBe('cancelled');
    const text = (await fx.client.responses.retrieve(id)).output_text;
    await new Promise((r) => setTimeout(r, 100));
    expect((await fx.client.responses.retrieve(id)).output_text).toBe(text);
    // It cannot be cancelled (only background responses can) nor streamed again.
    await expect(fx.client.responses.cancel(id)).rejects.toMatchObject({ status: 400 });
    await expect(
      fx.client.responses.retrieve(id, { stream: true, starting_after: 0 }),
    ).rejects.toMatchObject({ status: 400 });
    // The conversation is free, and keeps no part of the unfinished message.
    const next = await fx.client.responses.create({
      model,
      conversation: conversation.id,
      input: 'again',
    });
    expect(next.output_text).toBe('You said: again');
    const items = await fx.client.conversations.items.list(conversation.id, { order: 'asc' });
    expect(items.data.map((i) => (i.type === 'message' ? i.role : i.type))).toEqual([
      'user',
      'user',
      'assistant',
    ]);
  });

  it('takes instructions and model from a stored prompt', async () => {
    const response = await fx.client.responses.create({
      prompt: { id: 'pmpt_support', version: '1' },
      input: 'hi',
    });
    expect(response).toMatchObject({
      instructions: 'Stored prompt instructions.',
      model: 'emulator-1',
      prompt: { id: 'pmpt_support' },
    });
    await expect(
      fx.client.responses.create({ prompt: { id: 'pmpt_missing' }, input: 'hi' }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('retrieves a created conversation with the same id, object and metadata', async () => {
    const created = await fx.client.conversations.create({
      metadata: { room: 'lobby', participant: 'alice' },
    });
    expect(created).toMatchObject({
      object: 'conversation',
      metadata: { room: 'lobby', participant: 'alice' },
    });
    const other = await fx.client.conversations.create({ metadata: { room: 'other' } });
    const retrieved = await fx.client.conversations.retrieve(created.id);
    expect(retrieved).toEqual({
      id: created.id,
      object: 'conversation',
      created_at: created.created_at,
      metadata: { room: 'lobby', participant: 'alice' },
    });
    expect(problems('ConversationResource', retrieved)).toEqual([]);
    expect((await fx.client.conversations.retrieve(other.id)).metadata).toEqual({ room: 'other' });
    expect(fx.emulator.requests.filter((r) => r.method === 'GET').map((r) => r.path)).toEqual([
      `/v1/conversations/${created.id}`,
      `/v1/conversations/${other.id}`,
    ]);
  });

  it('answers 404 for unknown conversations and responses', async () => {
    await expect(fx.client.conversations.retrieve('conv_missing')).rejects.toMatchObject({
      status: 404,
    });
    await expect(fx.client.responses.retrieve('resp_missing')).rejects.toMatchObject({
      status: 404,
    });
  });
});
