/**
 * Continuing a run another process started, backend by backend, against the emulator: what a
 * worker taking a run over streams, from the checkpoint the lost one stored. The fleet's own
 * SIGKILL/SIGSTOP tests drive the same code through real worker processes.
 */
import { describe, expect, it } from 'vitest';
import { AssistantsBackend } from '../src/backends/assistants.js';
import type { Backend, BackendRun, RunCheckpoint } from '../src/backends/backend.js';
import { ResponsesBackend } from '../src/backends/responses.js';
import type { RunEventBody } from '../src/events.js';
import { useEmulator } from './support/emulator.js';

const WORDS = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');

const fx = useEmulator({
  scripts: [
    { message: 'long', script: { tokenDelayMs: 5, steps: [{ text: WORDS }] } },
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

function backendFor(api: 'assistants' | 'responses'): Backend {
  if (api === 'responses')
    return new ResponsesBackend({
      client: fx.client,
      model: 'emulator-1',
      background: true,
      ...limits,
    });
  return new AssistantsBackend({ client: fx.client, assistantId: assistantId!, ...limits });
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
  it('a run whose lost worker had sent the tool outputs ends as lost instead of sending them twice', async () => {
    const backend = backendFor('responses');
    const checkpoints: RunCheckpoint[] = [];
    const first = backend.startRun(
      { message: 'tool', tag: 'r4' },
      {
        checkpoint: (c) => checkpoints.push(c),
      },
    );
    // The lost worker sent the outputs and died before the next response's first event.
    for await (const event of first) {
      if (event.type === 'tool_outputs.required') {
        first.submitToolOutputs([{ toolCallId: event.toolCalls[0]!.id, output: '42' }]);
      }
    }
    const resumed = backend.resumeRun({ message: 'tool', tag: 'r4' }, checkpoints[0]!);
    const { events } = await drain(resumed, (event) => {
      if (event.type === 'tool_outputs.required')
        resumed.submitToolOutputs([{ toolCallId: event.toolCalls[0]!.id, output: '42' }]);
    });
    expect(events.at(-1)).toMatchObject({ type: 'run.failed', reason: 'worker_lost' });
    const items = await fx.client.conversations.items.list(checkpoints[0]!.threadId, {
      limit: 50,
    });
    expect(items.data.filter((i) => i.type === 'function_call_output')).toHaveLength(1);
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
