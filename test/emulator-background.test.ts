/**
 * The emulator's background mode, as OpenAI serves it and as the fleet's resume relies on it,
 * driven by the official openai SDK: a background response goes on when its client's connection
 * drops; every event carries its sequence number; a retrieve with stream=true&starting_after=N
 * replays the later events and then follows the live ones; a response that is not in the
 * background stops when its client leaves; and every event, on the wire and as the SDK received
 * it, validates against OpenAI's published schemas (useEmulator checks what was sent after each
 * test, this file also checks what arrived).
 */
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';
import { eventProblems } from './support/openapi.js';

const WORDS = Array.from({ length: 60 }, (_, i) => `w${i}`);
const LONG = WORDS.join(' ');
const model = 'emulator-1';

const fx = useEmulator({
  scripts: [
    // Slow enough that the test acts while it streams, short enough to end in a few seconds.
    { message: 'long', script: { tokenDelayMs: 20, steps: [{ text: LONG }] } },
    {
      message: 'cut',
      script: {
        tokenDelayMs: 5,
        steps: [{ text: 'before the cut' }, { dropConnection: true }, { text: ' and after it' }],
      },
    },
  ],
});

/** Problems of the events the SDK handed over, checked as OpenAI's schemas describe them. */
function receivedProblems(events: ResponseStreamEvent[]): string[] {
  return events.flatMap((event) => eventProblems('responses', { event: event.type, data: event }));
}

function deltas(events: ResponseStreamEvent[]): string {
  return events.map((e) => (e.type === 'response.output_text.delta' ? e.delta : '')).join('');
}

/** Events the emulator sent for response `id` so far (it records every event it appends). */
function sentFor(id: string): number {
  let responseId = '';
  let count = 0;
  for (const { data } of fx.emulator.events) {
    const event = data as { type: string; response?: { id: string } };
    if (event.response) responseId = event.response.id;
    if (responseId === id) count++;
  }
  return count;
}

/** Starts a background streamed response and reads it until `deltaCount` deltas arrived. */
async function startAndLeave(
  input: string,
  deltaCount: number,
  conversation?: string,
): Promise<{ id: string; read: ResponseStreamEvent[] }> {
  const stream = await fx.client.responses.create({
    model,
    input,
    background: true,
    stream: true,
    ...(conversation ? { conversation } : {}),
  });
  const read: ResponseStreamEvent[] = [];
  let seen = 0;
  for await (const event of stream) {
    read.push(event);
    if (event.type === 'response.output_text.delta' && ++seen === deltaCount) break;
  }
  // Leaving the loop aborted the request: the connection is gone.
  const created = read[0];
  if (created?.type !== 'response.created')
    throw new Error('the stream did not start with response.created');
  return { id: created.response.id, read };
}

describe('background responses', () => {
  it('go on generating after the client that created them disconnects, to the full reply', async () => {
    const conversation = await fx.client.conversations.create({});
    const { id, read } = await startAndLeave('long please', 3, conversation.id);
    expect(deltas(read)).toBe(WORDS.slice(0, 3).join(' ') + ' ');
    const atLeave = (await fx.client.responses.retrieve(id)).output_text;
    expect(LONG.startsWith(atLeave)).toBe(true);
    expect(atLeave.length).toBeLessThan(LONG.length);
    await expect
      .poll(async () => (await fx.client.responses.retrieve(id)).status, { timeout: 20_000 })
      .toBe('completed');
    const done = await fx.client.responses.retrieve(id);
    expect(done.background).toBe(true);
    expect(done.output_text).toBe(LONG);
    // The reply is in the conversation once, whole.
    const items = await fx.client.conversations.items.list(conversation.id, { order: 'asc' });
    const replies = items.data.flatMap((item) =>
      item.type === 'message' && item.role === 'assistant'
        ? [item.content.map((c) => ('text' in c ? c.text : '')).join('')]
        : [],
    );
    expect(replies).toEqual([LONG]);
    expect(receivedProblems(read)).toEqual([]);
  }, 30_000);

  it('go on when the server cuts the stream, and the rest is there by sequence number', async () => {
    const stream = await fx.client.responses.create({
      model,
      input: 'cut here',
      background: true,
      stream: true,
    });
    const read: ResponseStreamEvent[] = [];
    // The cut ends the SDK's stream with an error or early: either way, not with an ending event.
    await (async () => {
      for await (const event of stream) read.push(event);
    })().catch(() => undefined);
    expect(read.map((e) => e.type)).not.toContain('response.completed');
    const id = (read[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.id;
    const last = read[read.length - 1]!.sequence_number;
    const rest: ResponseStreamEvent[] = [];
    for await (const event of await fx.client.responses.retrieve(id, {
      stream: true,
      starting_after: last,
    }))
      rest.push(event);
    expect(rest[0]!.sequence_number).toBe(last + 1);
    expect(rest[rest.length - 1]!.type).toBe('response.completed');
    expect(deltas([...read, ...rest])).toBe('before the cut and after it');
    expect(receivedProblems([...read, ...rest])).toEqual([]);
  });

  it('number every event from 0 in order, whether streamed live or replayed', async () => {
    const live: ResponseStreamEvent[] = [];
    for await (const event of await fx.client.responses.create({
      model,
      input: 'hello',
      background: true,
      stream: true,
    }))
      live.push(event);
    expect(live.length).toBeGreaterThan(5);
    expect(live.map((e) => e.sequence_number)).toEqual(live.map((_, i) => i));
    expect(live.map((e) => e.type)).toEqual(
      expect.arrayContaining(['response.created', 'response.queued', 'response.completed']),
    );
    // The whole log again from a finished response: the same events, the same numbers.
    const id = (live[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.id;
    const again: ResponseStreamEvent[] = [];
    for await (const event of await fx.client.responses.retrieve(id, { stream: true }))
      again.push(event);
    expect(again).toEqual(live);
    // A response in the foreground numbers its events the same way.
    const foreground: ResponseStreamEvent[] = [];
    for await (const event of await fx.client.responses.create({
      model,
      input: 'hello',
      stream: true,
    }))
      foreground.push(event);
    expect(foreground.map((e) => e.sequence_number)).toEqual(foreground.map((_, i) => i));
    // Every event the emulator sent in this test has an integer sequence_number.
    expect(
      fx.emulator.events.filter(
        (e) => !Number.isInteger((e.data as { sequence_number?: unknown }).sequence_number),
      ),
    ).toEqual([]);
    expect(receivedProblems([...live, ...again, ...foreground])).toEqual([]);
  });

  it('resume with stream=true&starting_after=N: the events after N replayed, then the live ones, nothing twice', async () => {
    const { id, read } = await startAndLeave('long resumed', 3);
    const leftAt = read[read.length - 1]!.sequence_number;
    // Let more events happen with nobody listening, so that the resume has some to replay.
    await expect.poll(() => sentFor(id), { timeout: 10_000 }).toBeGreaterThan(leftAt + 10);
    const stream = await fx.client.responses.retrieve(id, {
      stream: true,
      starting_after: leftAt,
    });
    // Events sent before the retrieve's response started are replays; later ones are live.
    const sentBeforeResume = sentFor(id);
    const rest: ResponseStreamEvent[] = [];
    for await (const event of stream) rest.push(event);
    expect(rest.map((e) => e.sequence_number)).toEqual(rest.map((_, i) => leftAt + 1 + i));
    const replayed = rest.filter((e) => e.sequence_number < sentBeforeResume);
    const followed = rest.filter((e) => e.sequence_number >= sentBeforeResume);
    expect(replayed.length).toBeGreaterThanOrEqual(10);
    expect(followed.length).toBeGreaterThan(0);
    expect(followed.some((e) => e.type === 'response.output_text.delta')).toBe(true);
    expect(rest[rest.length - 1]!.type).toBe('response.completed');
    // What was read before leaving and after resuming joins into the reply, exactly.
    expect(deltas([...read, ...rest])).toBe(LONG);
    expect((await fx.client.responses.retrieve(id)).output_text).toBe(LONG);
    expect(receivedProblems([...read, ...rest])).toEqual([]);
  }, 30_000);

  it('resume at a sequence number not sent yet: the stream starts after it, when it comes', async () => {
    const { id, read } = await startAndLeave('long ahead', 1);
    const ahead = read[read.length - 1]!.sequence_number + 20;
    const rest: ResponseStreamEvent[] = [];
    for await (const event of await fx.client.responses.retrieve(id, {
      stream: true,
      starting_after: ahead,
    }))
      rest.push(event);
    expect(rest[0]!.sequence_number).toBe(ahead + 1);
    expect(rest.map((e) => e.sequence_number)).toEqual(rest.map((_, i) => ahead + 1 + i));
    expect(rest[rest.length - 1]!.type).toBe('response.completed');
  }, 30_000);

  it('refuses a starting_after that is not an integer, naming the parameter', async () => {
    const { id } = await startAndLeave('hello there', 1);
    const response = await fetch(`${fx.baseURL}/responses/${id}?stream=true&starting_after=abc`, {
      headers: { authorization: `Bearer ${TEST_API_KEY}` },
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { param: string; message: string } };
    expect(body.error.param).toBe('starting_after');
    expect(body.error.message).toMatch(/starting_after.*integer/);
  });

  it('cancelled while generating: status cancelled, generation stops, a follower’s stream ends', async () => {
    const { id, read } = await startAndLeave('long cancelled', 2);
    const follower = await fx.client.responses.retrieve(id, {
      stream: true,
      starting_after: read[read.length - 1]!.sequence_number,
    });
    const followed = (async () => {
      const events: ResponseStreamEvent[] = [];
      for await (const event of follower) events.push(event);
      return events;
    })();
    const cancelled = await fx.client.responses.cancel(id);
    expect(cancelled.status).toBe('cancelled');
    const events = await followed;
    expect(events.map((e) => e.type)).not.toContain('response.completed');
    const sent = sentFor(id);
    const text = (await fx.client.responses.retrieve(id)).output_text;
    expect(text.length).toBeLessThan(LONG.length);
    // A response that was still generating would send its next word within 20 ms.
    await new Promise((r) => setTimeout(r, 200));
    expect(sentFor(id)).toBe(sent);
    expect((await fx.client.responses.retrieve(id)).output_text).toBe(text);
    expect((await fx.client.responses.retrieve(id)).status).toBe('cancelled');
  });
});

describe('responses in the foreground', () => {
  it('stop when their streaming client disconnects: cancelled, nothing more generated', async () => {
    const stream = await fx.client.responses.create({ model, input: 'long fg', stream: true });
    let id = '';
    let seen = 0;
    for await (const event of stream) {
      if (event.type === 'response.created') id = event.response.id;
      if (event.type === 'response.output_text.delta' && ++seen === 3) break;
    }
    await expect
      .poll(async () => (await fx.client.responses.retrieve(id)).status)
      .toBe('cancelled');
    const sent = sentFor(id);
    const text = (await fx.client.responses.retrieve(id)).output_text;
    expect(text.length).toBeLessThan(LONG.length);
    await new Promise((r) => setTimeout(r, 200));
    expect(sentFor(id)).toBe(sent);
    expect((await fx.client.responses.retrieve(id)).output_text).toBe(text);
  });

  it('stop when a client waiting for the whole response leaves: the conversation is free at once', async () => {
    const conversation = await fx.client.conversations.create({});
    const abort = new AbortController();
    const waiting = fx.client.responses
      .create(
        { model, input: 'long waited', conversation: conversation.id },
        { signal: abort.signal },
      )
      .catch((error: unknown) => error);
    // Once it generates, the client leaves.
    await expect
      .poll(() =>
        fx.emulator.events.some(
          (e) => (e.data as { type: string }).type === 'response.output_text.delta',
        ),
      )
      .toBe(true);
    const created = fx.emulator.events.find(
      (e) => (e.data as { type: string }).type === 'response.created',
    )!.data as { response: { id: string } };
    abort.abort();
    expect(await waiting).toBeInstanceOf(Error);
    await expect
      .poll(async () => (await fx.client.responses.retrieve(created.response.id)).status)
      .toBe('cancelled');
    // Had it gone on, the conversation would stay locked for the rest of its 60 words.
    const next = await fx.client.responses.create({
      model,
      input: 'next',
      conversation: conversation.id,
    });
    expect(next.output_text).toBe('You said: next');
  });
});
