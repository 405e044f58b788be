/**
 * Continuing a run another process started, backend by backend, against the emulator: what a
 * worker taking a run over streams, from the checkpoint the lost one stored. The fleet's own
 * SIGKILL/SIGSTOP tests drive the same code through real worker processes.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { AssistantsBackend } from '../src/backends/assistants.js';
import {
  RunHandedOff,
  type Backend,
  type BackendRun,
  type RunCheckpoint,
} from '../src/backends/backend.js';
import { ResponsesBackend } from '../src/backends/responses.js';
import type { RunEventBody } from '../src/events.js';
import type { ResponseInputItem } from 'openai/resources/responses/responses';
import { useEmulator } from './support/emulator.js';

const WORDS = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');

const fx = useEmulator({
  scripts: [
    { message: 'long', script: { tokenDelayMs: 5, steps: [{ text: WORDS }] } },
    { message: 'slow', script: { tokenDelayMs: 100, steps: [{ text: WORDS }] } },
    // One failed request each, for the two APIs.
    ...['flaky-responses', 'flaky-assistants'].map((message) => ({
      message,
      script: { failRequests: { status: 500, times: 1 }, steps: [{ text: 'Steady.' }] },
    })),
    {
      message: 'tool',
      script: {
        steps: [
          { text: 'Looking it up.' },
          { functionCalls: [{ name: 'lookup', arguments: { q: 'x' } }] },
          { text: (c) => ` Found ${c.toolOutputs[0]?.output}.` },
        ],
      },
    },
  ],
});

const limits = { toolOutputTimeoutMs: 10_000, streamIdleTimeoutMs: 10_000 };

function backendFor(api: 'assistants' | 'responses', client = fx.client): Backend {
  if (api === 'responses')
    return new ResponsesBackend({
      client,
      model: 'emulator-1',
      background: true,
      ...limits,
    });
  return new AssistantsBackend({ client, assistantId: assistantId!, ...limits });
}

let assistantId: string | undefined;
async function ensureAssistant(): Promise<void> {
  assistantId ??= (await fx.client.beta.assistants.create({ model: 'emulator-1' })).id;
}

/** Runs `run` to its end; returns its events and the text offset of each text delta. */
async function drain(
  run: BackendRun,
  onEvent: (event: RunEventBody) => void = () => undefined,
): Promise<{ events: RunEventBody[]; offsets: number[] }> {
  const events: RunEventBody[] = [];
  const offsets: number[] = [];
  for await (const event of run) {
    events.push(event);
    if (event.type === 'text.delta') offsets.push(run.textOffset - event.text.length);
    onEvent(event);
  }
  return { events, offsets };
}

/**
 * What a worker lost between sending a request and reading its answer leaves: a background
 * response the server goes on with, whose id nobody read.
 */
async function sendAndDie(
  conversation: string,
  input: ResponseInputItem[],
  withTool = false,
): Promise<void> {
  const stream = await fx.client.responses.create({
    model: 'emulator-1',
    conversation,
    input,
    ...(withTool
      ? { tools: [{ type: 'function' as const, name: 'lookup', parameters: {}, strict: false }] }
      : {}),
    background: true,
    stream: true,
  });
  stream.controller.abort();
}

const textOf = (events: RunEventBody[]) =>
  events.flatMap((e) => (e.type === 'text.delta' ? [e.text] : [])).join('');

describe.each(['responses', 'assistants'] as const)('resuming a run on %s', (api) => {
  it('streams the rest of a run from its checkpoint: the text from its offset, then the end', async () => {
    await ensureAssistant();
    const backend = backendFor(api);
    const checkpoints: RunCheckpoint[] = [];
    const first = backend.startRun(
      { message: 'long', tag: 'r1' },
      {
        checkpoint: (c) => checkpoints.push(c),
      },
    );
    // The first process stops after a few words, as a worker that dies would.
    const seen: string[] = [];
    for await (const event of first) {
      if (event.type === 'text.delta') seen.push(event.text);
      if (seen.length === 5) break;
    }
    first.handOff();
    expect(checkpoints).toHaveLength(1);
    const [checkpoint] = checkpoints;
    expect(checkpoint).toMatchObject({ segment: 0, textOffset: 0 });

    const resumed = backend.resumeRun({ message: 'long', tag: 'r1' }, checkpoint!);
    const { events, offsets } = await drain(resumed);
    // Replayed from the start of the checkpoint's stream: the offsets say where each piece goes.
    expect(textOf(events)).toBe(WORDS);
    expect(offsets[0]).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'run.completed' });
    expect(resumed.textOffset).toBe(WORDS.length);
  });

  it('a run taken over while it waits for tool outputs asks for them again and goes on with them', async () => {
    await ensureAssistant();
    const backend = backendFor(api);
    const checkpoints: RunCheckpoint[] = [];
    const first = backend.startRun(
      { message: 'tool', tag: 'r2' },
      {
        checkpoint: (c) => checkpoints.push(c),
      },
    );
    for await (const event of first) if (event.type === 'tool_outputs.required') break;
    first.handOff();

    const resumed = backend.resumeRun({ message: 'tool', tag: 'r2' }, checkpoints.at(-1)!);
    const { events } = await drain(resumed, (event) => {
      if (event.type === 'tool_outputs.required')
        resumed.submitToolOutputs(
          event.toolCalls.map((call) => ({ toolCallId: call.id, output: '42' })),
        );
    });
    expect(events.filter((e) => e.type === 'tool_outputs.required')).toHaveLength(1);
    expect(textOf(events)).toBe('Looking it up. Found 42.');
    expect(events.at(-1)).toMatchObject({ type: 'run.completed' });
  });

  it('hands off without ending anything upstream: the run goes on for the next owner', async () => {
    await ensureAssistant();
    const backend = backendFor(api);
    const first = backend.startRun({ message: 'long', tag: 'r3' });
    for await (const event of first) if (event.type === 'text.delta') break;
    const before = fx.emulator.requests.length;
    first.handOff();
    await first.cancel(); // refused once handed off: nothing is sent
    expect(fx.emulator.requests.slice(before).filter((r) => r.path.includes('cancel'))).toEqual([]);
  });
});

describe('resuming on Responses', () => {
  it('a run whose lost worker had sent the tool outputs follows the response they started, instead of sending them twice', async () => {
    const backend = backendFor('responses');
    const checkpoints: RunCheckpoint[] = [];
    const first = backend.startRun(
      { message: 'tool', tag: 'r4' },
      {
        checkpoint: (c) => checkpoints.push(c),
      },
    );
    let callId = '';
    for await (const event of first) {
      if (event.type === 'tool_outputs.required') {
        callId = event.toolCalls[0]!.id;
        break;
      }
    }
    first.handOff();
    // The lost worker sent the outputs and died before the next response's first event.
    await sendAndDie(checkpoints[0]!.threadId, [
      { type: 'function_call_output', call_id: callId, output: '42' },
    ]);
    const seen: RunCheckpoint[] = [];
    const resumed = backend.resumeRun({ message: 'tool', tag: 'r4' }, checkpoints[0]!, {
      checkpoint: (c) => seen.push(c),
    });
    const { events, offsets } = await drain(resumed, (event) => {
      if (event.type === 'tool_outputs.required')
        resumed.submitToolOutputs([{ toolCallId: event.toolCalls[0]!.id, output: '42' }]);
    });
    expect(textOf(events)).toBe('Looking it up. Found 42.');
    expect(offsets.at(-1)).toBe('Looking it up.'.length);
    expect(events.at(-1)).toMatchObject({ type: 'run.completed' });
    // Where a third owner would go on: after the outputs, in the run's second response.
    expect(seen.at(-1)).toMatchObject({ segment: 1, textOffset: 'Looking it up.'.length });
    expect(seen.at(-1)!.afterItemId).toMatch(/^fco_/);
    const items = await fx.client.conversations.items.list(checkpoints[0]!.threadId, {
      limit: 50,
    });
    expect(items.data.filter((i) => i.type === 'function_call_output')).toHaveLength(1);
  });

  it.each([
    ['long', WORDS, 0],
    ['tool', 'Looking it up. Found 5.', 1],
  ] as const)(
    'a response whose id the lost worker never learnt is followed through the conversation (%s)',
    async (message, reply, toolRounds) => {
      const backend = backendFor('responses');
      const { id: threadId } = await fx.client.conversations.create({});
      // The lost worker's request reached the server; the worker died before the first event.
      await sendAndDie(threadId, [{ role: 'user', content: message }], true);
      const request = { message, threadId, tag: `r-follow-${message}` };
      const checkpoint = await backend.findStarted(threadId, request);
      expect(checkpoint).toMatchObject({ threadId, segment: 0, textOffset: 0 });
      expect(checkpoint!.upstreamId).toBeUndefined();
      const resumed = backend.resumeRun(request, checkpoint!);
      let rounds = 0;
      const { events } = await drain(resumed, (event) => {
        if (event.type !== 'tool_outputs.required') return;
        rounds++;
        resumed.submitToolOutputs([{ toolCallId: event.toolCalls[0]!.id, output: '5' }]);
      });
      expect(textOf(events)).toBe(reply);
      expect(rounds).toBe(toolRounds);
      expect(events.at(-1)).toMatchObject({ type: 'run.completed' });
      expect(resumed.lastItemId).toMatch(/^msg_/);
      const items = await fx.client.conversations.items.list(threadId, { limit: 50 });
      const users = items.data.filter((i) => i.type === 'message' && i.role === 'user');
      expect(users).toHaveLength(1);
    },
  );

  it("a takeover that found nothing follows the lost attempt's request when it meets it in the conversation, instead of sending it again", async () => {
    const backend = backendFor('responses');
    const { id: threadId } = await fx.client.conversations.create({});
    const request = { message: 'long', threadId, tag: 'r-late' };
    // The takeover looked and found nothing: the lost attempt's request was still on its way.
    expect(await backend.findStarted(threadId, request)).toBeNull();
    await sendAndDie(threadId, [{ role: 'user', content: 'long' }]);
    const checkpoints: RunCheckpoint[] = [];
    const again = backend.startRun(
      { ...request, lostAttempt: true },
      { checkpoint: (c) => checkpoints.push(c) },
    );
    const { events } = await drain(again);
    expect(textOf(events)).toBe(WORDS);
    expect(events.at(-1)).toMatchObject({ type: 'run.completed' });
    expect(checkpoints.at(-1)!.afterItemId).toMatch(/^msg_/);
    const items = await fx.client.conversations.items.list(threadId, { limit: 50 });
    expect(items.data.filter((i) => i.type === 'message' && i.role === 'user')).toHaveLength(1);
    // Without the mark, the same request waits the conversation out and is sent a second time.
    const { id: other } = await fx.client.conversations.create({});
    await sendAndDie(other, [{ role: 'user', content: 'long' }]);
    await drain(backend.startRun({ message: 'long', threadId: other, tag: 'r-plain' }));
    const twice = await fx.client.conversations.items.list(other, { limit: 50 });
    expect(twice.data.filter((i) => i.type === 'message' && i.role === 'user')).toHaveLength(2);
  });

  it('a response followed through its conversation that adds nothing for the idle limit fails as a stalled stream would', async () => {
    const backend = new ResponsesBackend({
      client: fx.client,
      model: 'emulator-1',
      background: true,
      toolOutputTimeoutMs: 10_000,
      streamIdleTimeoutMs: 300,
    });
    const { id: threadId } = await fx.client.conversations.create({});
    // Its one message takes 4 s to be done: nothing joins the conversation before then.
    await sendAndDie(threadId, [{ role: 'user', content: 'slow' }]);
    const request = { message: 'slow', threadId, tag: 'r-stalled' };
    const checkpoint = await backend.findStarted(threadId, request);
    const { events } = await drain(backend.resumeRun(request, checkpoint!));
    expect(events.at(-1)).toMatchObject({ type: 'run.failed', reason: 'timeout' });
  });

  it('findStarted does not take the same message of an earlier turn for this one', async () => {
    const backend = backendFor('responses');
    const earlier = backend.startRun({ message: 'long', tag: 'r-repeat-1' });
    const { events } = await drain(earlier);
    const threadId = (events.find((e) => e.type === 'thread.created') as { threadId: string })
      .threadId;
    const request = { message: 'long', threadId, tag: 'r-repeat-2' };
    // Without the earlier turn's last item, the newest matching message is all there is to go by.
    expect(await backend.findStarted(threadId, request)).not.toBeNull();
    expect(
      await backend.findStarted(threadId, { ...request, after: earlier.lastItemId! }),
    ).toBeNull();
  });

  it('a later response of the run is resumed in that response, with the text before it counted', async () => {
    const backend = backendFor('responses');
    const checkpoints: RunCheckpoint[] = [];
    const first = backend.startRun(
      { message: 'tool', tag: 'r5' },
      {
        checkpoint: (c) => checkpoints.push(c),
      },
    );
    for await (const event of first) {
      if (event.type === 'tool_outputs.required')
        first.submitToolOutputs([{ toolCallId: event.toolCalls[0]!.id, output: '7' }]);
    }
    expect(checkpoints.map((c) => [c.segment, c.textOffset])).toEqual([
      [0, 0],
      [1, 'Looking it up.'.length],
    ]);
    const { events, offsets } = await drain(
      backend.resumeRun({ message: 'tool', tag: 'r5' }, checkpoints[1]!),
    );
    expect(textOf(events)).toBe(' Found 7.');
    expect(offsets[0]).toBe('Looking it up.'.length);
  });

  it('the next turn answers a function call a lost response left open, and goes on', async () => {
    const backend = backendFor('responses');
    const checkpoints: RunCheckpoint[] = [];
    const lost = backend.startRun(
      { message: 'tool', tag: 'r6' },
      {
        checkpoint: (c) => checkpoints.push(c),
      },
    );
    // Nobody follows this response any more: its function call stays unanswered.
    for await (const event of lost) if (event.type === 'tool_outputs.required') break;
    lost.handOff();
    const threadId = checkpoints[0]!.threadId;
    const { events } = await drain(backend.startRun({ message: 'long', threadId, tag: 'r7' }));
    expect(textOf(events)).toBe(WORDS);
    expect(events.at(-1)).toMatchObject({ type: 'run.completed' });
    const items = await fx.client.conversations.items.list(threadId, { limit: 50 });
    expect(items.data.filter((i) => i.type === 'function_call_output')).toHaveLength(1);
  });
});

describe('starting again on Assistants', () => {
  it("a run started again while a lost attempt's run of it is active follows that run instead of failing", async () => {
    await ensureAssistant();
    const backend = backendFor('assistants');
    const checkpoints: RunCheckpoint[] = [];
    const lost = backend.startRun(
      { message: 'tool', tag: 'r8' },
      {
        checkpoint: (c) => checkpoints.push(c),
      },
    );
    for await (const event of lost) if (event.type === 'tool_outputs.required') break;
    lost.handOff();
    const threadId = checkpoints[0]!.threadId;
    // The new owner did not see the run (the lost attempt's request was still on its way).
    const again = backend.startRun({ message: 'tool', threadId, tag: 'r8' });
    const { events } = await drain(again, (event) => {
      if (event.type === 'tool_outputs.required')
        again.submitToolOutputs([{ toolCallId: event.toolCalls[0]!.id, output: '9' }]);
    });
    expect(textOf(events)).toBe('Looking it up. Found 9.');
    expect(events.at(-1)).toMatchObject({ type: 'run.completed' });
    const messages = await fx.client.beta.threads.messages.list(threadId, { limit: 50 });
    expect(messages.data.filter((m) => m.role === 'user')).toHaveLength(1);
  });
});

describe.each(['responses', 'assistants'] as const)(
  'the writes of a run that can be taken over, on %s',
  (api) => {
    const newThread = async (kind: typeof api) =>
      (kind === 'responses'
        ? await fx.client.conversations.create({})
        : await fx.client.beta.threads.create({})
      ).id;
    const writes = (since: number) =>
      fx.emulator.requests.slice(since).filter((r) => r.method !== 'GET');

    it('each asks the host as it leaves; an answer that came too late is asked for again', async () => {
      await ensureAssistant();
      const backend = backendFor(api);
      const threadId = await newThread(api);
      const answers: number[] = [];
      const before = fx.emulator.requests.length;
      const run = backend.startRun(
        { message: 'tool', threadId, tag: `lease-${api}` },
        {
          beforeRequest: async () => {
            // The first answer expired on its way (a process paused while it came back).
            const until = performance.now() + (answers.length === 0 ? -1 : 10_000);
            answers.push(until);
            return until;
          },
        },
      );
      const { events } = await drain(run, (event) => {
        if (event.type === 'tool_outputs.required')
          run.submitToolOutputs([{ toolCallId: event.toolCalls[0]!.id, output: '1' }]);
      });
      expect(textOf(events)).toBe('Looking it up. Found 1.');
      // Two writes (the run, the tool outputs); the first asked twice.
      expect(writes(before)).toHaveLength(2);
      expect(answers).toHaveLength(3);
    });

    it('a write refused as it leaves is not sent, and the run ends quietly for the new owner', async () => {
      await ensureAssistant();
      const backend = backendFor(api);
      const threadId = await newThread(api);
      let asked = 0;
      const before = fx.emulator.requests.length;
      const run = backend.startRun(
        { message: 'tool', threadId, tag: `refused-${api}` },
        {
          beforeRequest: async () => {
            // Owned for the run; taken over by the time the tool outputs go.
            if (++asked > 1) throw new RunHandedOff();
          },
        },
      );
      const { events } = await drain(run, (event) => {
        if (event.type === 'tool_outputs.required')
          run.submitToolOutputs([{ toolCallId: event.toolCalls[0]!.id, output: '1' }]);
      });
      expect(events.some((e) => e.type === 'tool_outputs.required')).toBe(true);
      expect(events.filter((e) => e.type.startsWith('run.'))).toEqual(
        events.filter((e) => e.type === 'run.started'),
      );
      // Only the run itself was written: no outputs, and no cancel of the new owner's run.
      expect(writes(before)).toHaveLength(1);
    });

    it("the SDK's own retry of a write asks again before it leaves", async () => {
      await ensureAssistant();
      const backend = backendFor(api, fx.client.withOptions({ maxRetries: 1 }));
      const threadId = await newThread(api);
      let asked = 0;
      const { events } = await drain(
        backend.startRun(
          { message: `flaky-${api}`, threadId, tag: `retry-${api}` },
          {
            beforeRequest: async () => {
              asked++;
            },
          },
        ),
      );
      expect(textOf(events)).toBe('Steady.');
      expect(asked).toBe(2);
    });
  },
);
