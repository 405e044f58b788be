/**
 * Fleet mode against the real Redis with real worker processes: 2 workers, 20 concurrent
 * sessions with interleaved tool calls and interrupts, on both backends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InterruptionError, RunError, type AssistantLLM } from '../src/index.js';
import { tokenize } from '../src/emulator/script.js';
import { APIS, makeLLM, SCRIPTS, userMessages } from './support/assistant.js';
import { useEmulator } from './support/emulator.js';
import {
  connectedClients,
  fleetLLM,
  keysWithTtl,
  openRedis,
  scanKeys,
  startWorker,
  uniqueNames,
  type FleetNames,
  type WorkerProcess,
} from './support/fleet.js';

const SLOW_STORY =
  'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty';
const fx = useEmulator(
  {
    scripts: [
      // Slow enough that an interrupt sent after the third chunk lands while the run streams,
      // even on a loaded machine: the test counts every cancel as accepted.
      { message: 'slow story', script: { tokenDelayMs: 100, steps: [{ text: SLOW_STORY }] } },
      ...SCRIPTS,
    ],
    tokenDelayMs: 2,
    recordEvents: false,
  },
  'none',
);

interface TurnResult {
  chunks: string[];
  error?: unknown;
}

/** One session's conversation: plain text, two tool calls, an interrupted turn, and a last turn. */
async function converse(llm: AssistantLLM, id: number): Promise<TurnResult[]> {
  const calls: string[] = [];
  llm.onToolCallCreated = async (call) => {
    if (call.type !== 'function') return null;
    calls.push(call.function.name);
    await new Promise((r) => setTimeout(r, 5 + (id % 7)));
    return { session: id, tool: call.function.name };
  };
  const results: TurnResult[] = [];
  const take = async (
    stream: AsyncIterable<string>,
    stopAfter?: () => void,
  ): Promise<TurnResult> => {
    const chunks: string[] = [];
    try {
      for await (const chunk of stream) {
        chunks.push(chunk);
        if (chunks.length === 3) stopAfter?.();
      }
      return { chunks };
    } catch (error) {
      return { chunks, error };
    }
  };
  results.push(await take(llm.process(`Tell me about TypeScript, session ${id}`)));
  results.push(await take(llm.process(`weather for session ${id}`)));
  if (id % 2 === 0) {
    results.push(await take(llm.process(`slow story ${id}`), () => void llm.interrupt()));
    results.push(await take(llm.process(`after ${id}`)));
  } else {
    // A newer message that may interrupt, sent while the slow one streams.
    const slow = llm.process(`slow story ${id}`);
    let next: ReturnType<AssistantLLM['process']> | undefined;
    const slowResult = take(slow, () => {
      next = llm.process(`after ${id}`, true);
    });
    results.push(await slowResult);
    results.push(await take(next!));
  }
  expect(calls).toEqual(['get_weather', 'get_time']);
  return results;
}

describe.each(APIS)('fleet mode on the %s API', (api) => {
  let names: FleetNames;
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    names = uniqueNames(`fleet-${api}`);
    workers = await Promise.all([
      startWorker(names, fx.baseURL, ['--concurrency', '20']),
      startWorker(names, fx.baseURL, ['--concurrency', '20']),
    ]);
  }, 60_000);

  afterAll(async () => {
    expect(await Promise.all(workers.map((w) => w.stop()))).toEqual([0, 0]);
  });

  it('20 concurrent sessions: per-session order, no overlapping runs, every chunk once, same transcript as in-process', async () => {
    fx.emulator.clearRecords();
    // The reference: the same conversation in one process, in the fleet's (background) mode.
    const reference = await converse(makeLLM(api, fx.baseURL, { background: true }), 0);
    expect(reference[0]!.chunks).toEqual(tokenize('You said: Tell me about TypeScript, session 0'));
    expect(reference[1]!.chunks.join('')).toBe(
      'Let me check. Outputs: {"session":0,"tool":"get_weather"} | {"session":0,"tool":"get_time"}',
    );
    const sessions = Array.from({ length: 20 }, (_, i) =>
      fleetLLM(api, names, { room: `room-${i % 3}`, participant: `user-${i}` }),
    );
    const transcripts = await Promise.all(sessions.map((llm, i) => converse(llm, i)));

    for (const [i, turns] of transcripts.entries()) {
      const [plain, tools, interrupted, last] = turns;
      expect(plain!.error).toBeUndefined();
      expect(plain!.chunks.join('')).toBe(`You said: Tell me about TypeScript, session ${i}`);
      // Chunk for chunk what the server streamed (and what the in-process path delivers).
      expect(plain!.chunks).toEqual(tokenize(`You said: Tell me about TypeScript, session ${i}`));
      expect(tools!.chunks).toEqual(tokenize(tools!.chunks.join('')));
      expect(tools!.error).toBeUndefined();
      expect(tools!.chunks.join('')).toBe(
        `Let me check. Outputs: {"session":${i},"tool":"get_weather"} | {"session":${i},"tool":"get_time"}`,
      );
      expect(interrupted!.error).toBeInstanceOf(InterruptionError);
      const full = SLOW_STORY;
      expect(full.startsWith(interrupted!.chunks.join(''))).toBe(true);
      expect(interrupted!.chunks.length).toBeGreaterThanOrEqual(3);
      expect(last!.error).toBeUndefined();
      expect(last!.chunks.join('')).toBe(`You said: after ${i}`);
    }
    // The local server refuses overlapping runs on a thread; it refused nothing.
    expect(fx.emulator.requests.filter((r) => (r.status ?? 200) >= 400)).toEqual([]);
    // Each thread holds the session's messages once each, in order.
    for (const [i, llm] of sessions.entries()) {
      expect(await userMessages(fx.client, api, llm.threadId!)).toEqual([
        `Tell me about TypeScript, session ${i}`,
        `weather for session ${i}`,
        `slow story ${i}`,
        `after ${i}`,
      ]);
    }
    // Every interrupt reached the worker and cancelled upstream.
    expect(fx.emulator.requests.filter((r) => r.path.endsWith('/cancel'))).toHaveLength(21);
    await Promise.all(sessions.map((s) => s.aclose()));
  }, 120_000);

  it("keeps a session's thread across processes and instances", async () => {
    const session = { room: 'room-persist', participant: `someone-${Date.now()}` };
    const first = fleetLLM(api, names, session);
    const chunks: string[] = [];
    for await (const chunk of first.process('remember me')) chunks.push(chunk);
    await first.aclose();
    const second = fleetLLM(api, names, session);
    for await (const chunk of second.process('do you remember')) chunks.push(chunk);
    expect(second.threadId).toBe(first.threadId);
    expect(await userMessages(fx.client, api, second.threadId!)).toEqual([
      'remember me',
      'do you remember',
    ]);
    await second.aclose();
  });

  it('cancels a run whose room never answers its tool calls, after the configured timeout', async () => {
    const llm = fleetLLM(
      api,
      names,
      { room: 'room-silent', participant: `mute-${Date.now()}` },
      { toolOutputTimeoutMs: 300 },
    );
    llm.onToolCallCreated = () => new Promise(() => undefined);
    const error = await (async () => {
      for await (const _chunk of llm.process('weather please')) void _chunk;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({ code: 'tool_output_timeout' });
    for await (const _chunk of llm.process('still there?')) void _chunk;
    await llm.aclose();
  });

  it("a worker's and a room's Redis connections do not grow with the number of sessions", async () => {
    const run = async (count: number) => {
      const sessions = Array.from({ length: count }, (_, i) =>
        fleetLLM(api, names, { room: 'room-scale', participant: `scale-${count}-${i}` }),
      );
      await Promise.all(
        sessions.map(async (llm) => {
          for await (const _chunk of llm.process('hello')) void _chunk;
        }),
      );
      const clients = connectedClients([process.pid, ...workers.map((w) => w.child.pid!)]);
      await Promise.all(sessions.map((s) => s.aclose()));
      return clients;
    };
    // Clients of earlier tests close once idle; then only this test's connections count.
    await expect.poll(() => connectedClients(), { timeout: 10_000 }).toBe(0);
    const with10 = await run(10);
    const with60 = await run(60);
    expect(with10).toBeGreaterThan(0);
    expect(with60).toBe(with10);
  }, 60_000);

  it("a room process's runs share one inbox, trimmed as read, deleted once the room is idle", async () => {
    const redis = openRedis();
    // The inboxes, not their fences (which share their hash tag and go with their runs).
    const inboxes = async () =>
      (await scanKeys(redis, `${names.prefix}:inbox:*`)).filter((key) => !key.endsWith(':fence'));
    try {
      const sessions = Array.from({ length: 5 }, (_, i) =>
        fleetLLM(api, names, { room: 'room-inbox', participant: `inbox-${i}` }),
      );
      const replies = await Promise.all(
        sessions.map(async (llm) => {
          let text = '';
          for await (const chunk of llm.process('hello')) text += chunk;
          return text;
        }),
      );
      expect(replies.every((r) => r.length > 0)).toBe(true);
      const [inbox, ...others] = await inboxes();
      expect(others).toEqual([]);
      // Everything read is trimmed within about a second; the last entry read stays.
      await expect.poll(() => redis.xlen(inbox!), { timeout: 5_000 }).toBeLessThanOrEqual(1);
      await Promise.all(sessions.map((s) => s.aclose()));
      await expect.poll(inboxes, { timeout: 10_000 }).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('a run cancelled while it waits for a worker never reaches the server', async () => {
    const idle = uniqueNames(`fleet-queued-${api}`);
    const llm = fleetLLM(api, idle, { room: 'room-queued', participant: 'impatient' });
    const message = `never run me ${api}`;
    const reading = (async () => {
      for await (const _chunk of llm.process(message)) void _chunk;
    })().catch((e: unknown) => e);
    // No worker serves these names yet: the job waits; the cancel goes to its control stream.
    await new Promise((r) => setTimeout(r, 200));
    const interrupted = llm.interrupt();
    expect(await reading).toBeInstanceOf(InterruptionError);
    const late = await startWorker(idle, fx.baseURL);
    try {
      await interrupted; // the worker confirmed the cancel
      expect(JSON.stringify(fx.emulator.requests.map((r) => r.body))).not.toContain(message);
      // The session goes on with its next message.
      let text = '';
      for await (const chunk of llm.process('hello')) text += chunk;
      expect(text).toBe('You said: hello');
    } finally {
      await llm.aclose();
      expect(await late.stop()).toBe(0);
    }
  }, 60_000);

  it('gives every key it writes an expiry', async () => {
    const keys = await keysWithTtl(names.prefix);
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((k) => k.ttl === -1)).toEqual([]);
  });
});
