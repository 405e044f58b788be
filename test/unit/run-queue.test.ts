/**
 * The run queue of one session, with channels driven by the test: FIFO, one active run, the next
 * only once the thread is free, interrupts. The channel keeps the transport's contract: numbered
 * events ending in one terminal event, and a cancel that resolves once the run ended upstream.
 */
import { describe, expect, it } from 'vitest';
import type { RunRequest } from '../../src/backends/backend.js';
import type { RunEvent, RunEventBody, ToolOutput } from '../../src/events.js';
import { RunQueue } from '../../src/run-queue.js';
import type { RunChannel } from '../../src/transport.js';
import { AsyncQueue } from '../../src/util/async-queue.js';

class TestChannel implements RunChannel {
  readonly events = new AsyncQueue<RunEvent>();
  readonly outputs: ToolOutput[][] = [];
  #seq = 0;
  #ended = false;
  #freeThread!: () => void;
  readonly #threadFree = new Promise<void>((resolve) => (this.#freeThread = resolve));
  cancelAsked = false;

  constructor(readonly request: RunRequest) {}

  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    return this.events[Symbol.asyncIterator]();
  }

  emit(body: RunEventBody): void {
    if (this.#ended) throw new Error('the run already ended');
    this.events.push({ ...body, seq: ++this.#seq });
    if (
      body.type === 'run.completed' ||
      body.type === 'run.failed' ||
      body.type === 'run.cancelled'
    ) {
      this.#ended = true;
      this.events.end();
      this.#freeThread();
    }
  }

  complete(): void {
    this.emit({ type: 'run.completed', runId: `run_${this.request.message}` });
  }

  async submitToolOutputs(outputs: ToolOutput[]): Promise<void> {
    this.outputs.push(outputs);
  }

  /** As a transport does: the upstream cancel is asked for; the thread is free once it ends. */
  cancel(): Promise<void> {
    this.cancelAsked = true;
    return this.#threadFree;
  }

  /** The upstream run confirms the cancel. */
  confirmCancel(): void {
    this.emit({ type: 'run.cancelled', runId: `run_${this.request.message}` });
  }
}

function harness() {
  const channels: TestChannel[] = [];
  const seen: RunEvent[] = [];
  const queue = new RunQueue(
    (request) => {
      const channel = new TestChannel(request);
      channels.push(channel);
      return channel;
    },
    (event) => seen.push(event),
  );
  return { queue, channels, seen };
}

async function read(run: AsyncIterable<RunEvent>): Promise<string[]> {
  const types: string[] = [];
  for await (const event of run) types.push(event.type);
  return types;
}

const turn = () => new Promise((r) => setTimeout(r, 0));

describe('RunQueue', () => {
  it('starts runs in order, one at a time, each only once the one before has ended', async () => {
    const { queue, channels } = harness();
    const runs = ['a', 'b', 'c'].map((message) => queue.enqueue(() => ({ message })));
    const readers = runs.map(read);
    await turn();
    expect(channels.map((c) => c.request.message)).toEqual(['a']);
    expect(queue.waiting).toBe(2);
    channels[0]!.emit({ type: 'text.delta', text: 'A' });
    await turn();
    expect(channels).toHaveLength(1);
    channels[0]!.complete();
    await turn();
    expect(channels.map((c) => c.request.message)).toEqual(['a', 'b']);
    channels[1]!.complete();
    await turn();
    channels[2]!.complete();
    expect(await Promise.all(readers)).toEqual([
      ['text.delta', 'run.completed'],
      ['run.completed'],
      ['run.completed'],
    ]);
    await queue.idle();
    expect(queue.active).toBeNull();
  });

  it('builds a request when its turn comes, so it sees the thread the run before created', async () => {
    const { queue, channels, seen } = harness();
    // As AssistantLLM does: the session learns its thread from the events the queue reports.
    const thread = () => {
      const created = seen.find((e) => e.type === 'thread.created');
      return created?.type === 'thread.created' ? { threadId: created.threadId } : {};
    };
    const first = queue.enqueue(() => ({ message: 'first', ...thread() }));
    const second = queue.enqueue(() => ({ message: 'second', ...thread() }));
    const readers = [read(first), read(second)];
    await turn();
    expect(channels[0]!.request).toEqual({ message: 'first' });
    channels[0]!.emit({ type: 'thread.created', threadId: 'thread_1' });
    channels[0]!.complete();
    await turn();
    expect(channels[1]!.request).toEqual({ message: 'second', threadId: 'thread_1' });
    channels[1]!.complete();
    await Promise.all(readers);
  });

  it('an interrupting run stops the active one for its reader at once, and starts once the thread is free', async () => {
    const { queue, channels, seen } = harness();
    const active = queue.enqueue(() => ({ message: 'long' }));
    const activeTypes = read(active);
    await turn();
    channels[0]!.emit({ type: 'run.started', runId: 'run_long', threadId: 't' });
    await turn();
    // Streamed but not read yet when the interrupt comes: the reader never gets it.
    channels[0]!.emit({ type: 'text.delta', text: 'stale' });
    const next = queue.enqueue(() => ({ message: 'next' }), { interrupt: true });
    const nextTypes = read(next);
    await turn();
    expect(active.cancelReason).toBe('superseded');
    expect(channels[0]!.cancelAsked).toBe(true);
    expect(await activeTypes).toEqual(['run.started', 'run.cancelled']);
    // The upstream run has not confirmed yet: the thread is not free, nothing new starts.
    await turn();
    expect(channels).toHaveLength(1);
    channels[0]!.confirmCancel();
    await turn();
    expect(channels.map((c) => c.request.message)).toEqual(['long', 'next']);
    // The session still sees every event of the cancelled run (its thread id, its end).
    expect(seen.map((e) => e.type)).toEqual(['run.started', 'text.delta', 'run.cancelled']);
    channels[1]!.complete();
    expect(await nextTypes).toEqual(['run.completed']);
  });

  it('hands tool outputs to the active run, and none to a cancelled one', async () => {
    const { queue, channels } = harness();
    const run = queue.enqueue(() => ({ message: 'tools' }));
    const types = read(run);
    await turn();
    const outputs = [{ toolCallId: 'call_1', output: 'sunny' }];
    await run.submitToolOutputs(outputs);
    expect(channels[0]!.outputs).toEqual([outputs]);
    const cancelled = run.cancel();
    await run.submitToolOutputs([{ toolCallId: 'call_2', output: 'late' }]);
    expect(channels[0]!.outputs).toEqual([outputs]);
    channels[0]!.confirmCancel();
    await cancelled;
    expect(await types).toEqual(['run.cancelled']);
  });

  it('a run whose start throws fails its own reader; the queue goes on', async () => {
    let calls = 0;
    const started: TestChannel[] = [];
    const queue = new RunQueue((request) => {
      if (++calls === 1) throw new Error('transport closed');
      const channel = new TestChannel(request);
      started.push(channel);
      return channel;
    });
    const broken = read(queue.enqueue(() => ({ message: 'broken' })));
    const fine = read(queue.enqueue(() => ({ message: 'fine' })));
    await expect(broken).rejects.toThrow('transport closed');
    await turn();
    started[0]!.complete();
    expect(await fine).toEqual(['run.completed']);
  });

  it('close() cancels the active run and the waiting ones; waiting runs never start', async () => {
    const { queue, channels } = harness();
    const active = read(queue.enqueue(() => ({ message: 'active' })));
    const waiting = read(queue.enqueue(() => ({ message: 'waiting' })));
    await turn();
    const closed = queue.close();
    await turn();
    channels[0]!.confirmCancel();
    await closed;
    expect(await active).toEqual(['run.cancelled']);
    expect(await waiting).toEqual(['run.cancelled']);
    expect(channels.map((c) => c.request.message)).toEqual(['active']);
  });
});
