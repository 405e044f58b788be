/**
 * A worker that dies mid-reply costs the user a pause, not the turn (issue 15), against real
 * worker processes, real Redis and the emulator: SIGKILL, SIGSTOP/SIGCONT and SIGTERM of the
 * worker running a session's run, on the Responses API (fleet mode: background responses,
 * resumed by sequence number) and on the Assistants API (no stream resume: the new worker follows
 * the run to its end and delivers the rest of the text at once). The caller's text must be the
 * whole reply, exactly: nothing twice, nothing missing, no RunError. A room process that dies
 * leaves a run nobody reads: its upstream response is cancelled.
 *
 * Nothing here is timed: a slow machine makes the pause longer, never a test fail. Test
 * timeouts only guard against hangs; the figures are in `npm run bench` (bench/resume.ts).
 */
import { describe, expect, it } from 'vitest';
import type { AssistantLLM } from '../src/index.js';
import type { RecordedRequest } from '../src/testing.js';
import { collect, userMessages, type Api } from './support/assistant.js';
import { exited } from './support/cli.js';
import { useEmulator } from './support/emulator.js';
import {
  fleetLLM,
  removeFleet,
  startWorker,
  uniqueNames,
  type FleetNames,
  type WorkerProcess,
} from './support/fleet.js';
import {
  attempts,
  busyWorker,
  logged,
  metric,
  RESUMING,
  RUNS_RESUMED,
  signal,
  startRoomProcess,
  SUPERSEDED,
} from './support/resume.js';
import { startRedisProxy, untilStopped } from './support/redis-proxy.js';

/** Long enough that a takeover lands while upstream still generates (120 words, 6 s). */
const LONG = Array.from({ length: 120 }, (_, i) => `w${i}`).join(' ');
/** A reply that would run for 100 s: a run left to it would end 'completed', not 'cancelled'. */
const ENDLESS = Array.from({ length: 2000 }, (_, i) => `e${i}`).join(' ');
const TOOL_OUTPUT = 'sunny';

const fx = useEmulator({
  scripts: [
    { message: 'long', script: { tokenDelayMs: 50, steps: [{ text: LONG }] } },
    { message: 'endless', script: { tokenDelayMs: 50, steps: [{ text: ENDLESS }] } },
    {
      // One response asks for a tool; the next, with its output, says the long rest.
      message: 'tool',
      script: {
        tokenDelayMs: 50,
        steps: [
          { text: 'Let me look. ' },
          { functionCalls: [{ name: 'lookup', arguments: { q: 'weather' } }] },
          { text: (c) => `found ${c.toolOutputs.map((o) => o.output).join(',')}: ${LONG}` },
        ],
      },
    },
  ],
});

const TOOL_REPLY = `Let me look. found ${TOOL_OUTPUT}: ${LONG}`;

interface Fleet {
  names: FleetNames;
  workers: WorkerProcess[];
  /** Stops every worker still running and deletes the fleet's keys. */
  close(): Promise<void>;
}

async function fleet(label: string, extra: string[] = []): Promise<Fleet> {
  const names = uniqueNames(label);
  const workers = await Promise.all([
    startWorker(names, fx.baseURL, extra, {}, START),
    startWorker(names, fx.baseURL, extra, {}, START),
  ]);
  return {
    names,
    workers,
    async close() {
      for (const worker of workers) {
        // A paused worker must be woken to die of SIGTERM; SIGKILL needs no waking.
        await worker.stop('SIGKILL');
      }
      await removeFleet(names);
    },
  };
}

function session(label: string): { room: string; participant: string } {
  return { room: 'resume', participant: `${label}-${process.pid}-${Date.now()}` };
}

function llmFor(api: Api, names: FleetNames, identity: { room: string; participant: string }) {
  return fleetLLM(api, names, identity, api === 'responses' ? { background: true } : {});
}

/** Reads a turn; calls `act` once, after chunk `at` (at 0: never), and returns what it saw. */
async function turn(
  stream: AsyncIterable<string>,
  at: number,
  act: () => Promise<void>,
): Promise<{ text: string; error: unknown }> {
  const chunks: string[] = [];
  try {
    for await (const chunk of stream) {
      chunks.push(chunk);
      if (chunks.length === at) await act();
    }
    return { text: chunks.join(''), error: null };
  } catch (error) {
    return { text: chunks.join(''), error };
  }
}

/** Ids of the responses created in this test, oldest first (from the emulator's events). */
function responseIds(): string[] {
  return fx.emulator.events.flatMap(({ data }) => {
    const event = data as { type: string; response?: { id: string } };
    return event.type === 'response.created' ? [event.response!.id] : [];
  });
}

function requestsTo(method: string, pattern: RegExp): number {
  return fx.emulator.requests.filter((r) => r.method === method && pattern.test(r.path)).length;
}

/** What the upstream side must show after a resumed Responses turn: one reply, once. */
async function expectOneResponsesTurn(llm: AssistantLLM, message: string, responses: number) {
  const ids = responseIds();
  expect(ids).toHaveLength(responses);
  expect(requestsTo('POST', /^\/v1\/responses$/)).toBe(responses);
  for (const id of ids) {
    expect((await fx.client.responses.retrieve(id)).status).toBe('completed');
    expect(requestsTo('POST', new RegExp(`^/v1/responses/${id}/cancel$`))).toBe(0);
  }
  expect(await userMessages(fx.client, 'responses', llm.threadId!)).toEqual([message]);
}

/** The same on the Assistants API: one run, completed, the message once. */
async function expectOneAssistantsTurn(llm: AssistantLLM, message: string) {
  const runs = await fx.client.beta.threads.runs.list(llm.threadId!);
  expect(runs.data.map((r) => r.status)).toEqual(['completed']);
  expect(requestsTo('POST', /\/runs\/[^/]+\/cancel$/)).toBe(0);
  expect(await userMessages(fx.client, 'assistants', llm.threadId!)).toEqual([message]);
}

async function expectOneTurn(api: Api, llm: AssistantLLM, message: string, responses = 1) {
  if (api === 'responses') await expectOneResponsesTurn(llm, message, responses);
  else await expectOneAssistantsTurn(llm, message);
}

/** The worker that took the run over logged its resume once, as attempt 2, and counted it. */
async function expectResumedBy(rescuer: WorkerProcess) {
  const lines = logged(rescuer, RESUMING);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ runId: expect.any(String), attempt: 2 });
  expect(await metric(rescuer, RUNS_RESUMED)).toBe(1);
}

const HANG_GUARD = 180_000;
/** Starting a worker through tsx can take long on a busy machine; this only guards hangs. */
const START = { readyTimeoutMs: 90_000 };

describe.each(['responses', 'assistants'] as const)('the %s API in fleet mode', (api) => {
  it(
    'a worker killed with SIGKILL mid-stream: another takes the run over and the caller gets the whole reply, once',
    async () => {
      const { names, workers, close } = await fleet(`resume-kill-${api}`);
      const identity = session('kill');
      const llm = llmFor(api, names, identity);
      let victim: WorkerProcess | undefined;
      try {
        const { text, error } = await turn(llm.process('long reply'), 3, async () => {
          victim = await busyWorker(workers);
          signal(victim, 'SIGKILL');
        });
        expect(error).toBeNull();
        expect(text).toBe(LONG);
        const rescuer = workers.find((w) => w !== victim)!;
        await expectResumedBy(rescuer);
        if (api === 'responses') {
          // The rescuer read the same response again (by sequence number) instead of a new one
          // (counted before this test's own retrieves).
          const [id] = responseIds();
          expect(requestsTo('GET', new RegExp(`^/v1/responses/${id}$`))).toBeGreaterThan(0);
        }
        await expectOneTurn(api, llm, 'long reply');
        expect(await collect(llm.process('after the crash'))).toBe('You said: after the crash');
      } finally {
        await llm.aclose();
        await close();
      }
    },
    HANG_GUARD,
  );

  it(
    'a worker paused (SIGSTOP) past detection and woken: taken over; the stale worker publishes nothing the caller sees, logs "superseded", cancels nothing',
    async () => {
      const { names, workers, close } = await fleet(`resume-stop-${api}`);
      const identity = session('stop');
      const llm = llmFor(api, names, identity);
      let victim: WorkerProcess | undefined;
      try {
        const { text, error } = await turn(llm.process('long paused'), 3, async () => {
          victim = await busyWorker(workers);
          signal(victim, 'SIGSTOP');
          const rescuer = workers.find((w) => w !== victim)!;
          // Woken once the run is another worker's, while the reply is still being written.
          await expect
            .poll(() => logged(rescuer, RESUMING).length, { timeout: 60_000, interval: 50 })
            .toBe(1);
          signal(victim, 'SIGCONT');
        });
        expect(error).toBeNull();
        expect(text).toBe(LONG);
        await expect
          .poll(() => logged(victim!, SUPERSEDED).length, { timeout: 60_000 })
          .toBeGreaterThan(0);
        await expectResumedBy(workers.find((w) => w !== victim)!);
        // The stale worker left the upstream work to the new owner: nothing cancelled.
        await expectOneTurn(api, llm, 'long paused');
        expect(await collect(llm.process('after the pause'))).toBe('You said: after the pause');
      } finally {
        await llm.aclose();
        await close();
      }
    },
    HANG_GUARD,
  );

  it(
    'a worker paused for 1 s (a stall, not a death) keeps its run: no takeover, attempt 1',
    async () => {
      const { names, workers, close } = await fleet(`resume-stall-${api}`);
      const identity = session('stall');
      const llm = llmFor(api, names, identity);
      let victim: WorkerProcess | undefined;
      try {
        const { text, error } = await turn(llm.process('long stalled'), 3, async () => {
          victim = await busyWorker(workers);
          signal(victim, 'SIGSTOP');
          await new Promise((r) => setTimeout(r, 1_000));
          signal(victim, 'SIGCONT');
        });
        expect(error).toBeNull();
        expect(text).toBe(LONG);
        const other = workers.find((w) => w !== victim)!;
        expect(logged(other, RESUMING)).toEqual([]);
        expect(logged(victim!, SUPERSEDED)).toEqual([]);
        expect(Object.values(await attempts(names, identity))).toEqual([1]);
        expect(await metric(other, RUNS_RESUMED)).toBe(0);
        await expectOneTurn(api, llm, 'long stalled');
      } finally {
        await llm.aclose();
        await close();
      }
    },
    HANG_GUARD,
  );

  it(
    'a run waiting for tool outputs when its worker dies: the tool is called once, its output is used by the new worker, the reply is whole',
    async () => {
      const { names, workers, close } = await fleet(`resume-tool-${api}`);
      const identity = session('tool');
      const llm = llmFor(api, names, identity);
      let calls = 0;
      let victim: WorkerProcess | undefined;
      // The worker dies while the room's handler runs: the output goes out with no worker there.
      llm.onToolCallCreated = async () => {
        calls++;
        if (!victim) {
          victim = await busyWorker(workers);
          signal(victim, 'SIGKILL');
          await exited(victim.child);
        }
        return TOOL_OUTPUT;
      };
      try {
        const { text, error } = await turn(llm.process('tool please'), 0, async () => undefined);
        expect(error).toBeNull();
        expect(text).toBe(TOOL_REPLY);
        expect(calls).toBe(1);
        await expectResumedBy(workers.find((w) => w !== victim)!);
        if (api === 'responses') {
          await expectOneResponsesTurn(llm, 'tool please', 2);
          const items = await fx.client.conversations.items.list(llm.threadId!, { limit: 100 });
          const outputs = items.data.filter((i) => i.type === 'function_call_output');
          expect(outputs.map((o) => (o as { output: unknown }).output)).toEqual([TOOL_OUTPUT]);
        } else {
          await expectOneAssistantsTurn(llm, 'tool please');
          expect(requestsTo('POST', /\/submit_tool_outputs$/)).toBe(1);
        }
      } finally {
        await llm.aclose();
        await close();
      }
    },
    HANG_GUARD,
  );

  it(
    'a run over several responses (a tool round trip) killed in the second: resumed in the second',
    async () => {
      const { names, workers, close } = await fleet(`resume-second-${api}`);
      const identity = session('second');
      const llm = llmFor(api, names, identity);
      let calls = 0;
      llm.onToolCallCreated = () => {
        calls++;
        return TOOL_OUTPUT;
      };
      let victim: WorkerProcess | undefined;
      // 'Let me look. ' is 3 chunks; the kill lands 3 chunks into the text after the tool.
      try {
        const { text, error } = await turn(llm.process('tool twice'), 6, async () => {
          expect(calls).toBe(1);
          victim = await busyWorker(workers);
          signal(victim, 'SIGKILL');
        });
        expect(error).toBeNull();
        expect(text).toBe(TOOL_REPLY);
        expect(calls).toBe(1);
        await expectResumedBy(workers.find((w) => w !== victim)!);
        if (api === 'responses') {
          const [first, second] = responseIds();
          // Resumed in the second response; the first was over and is not read again (counted
          // before this test's own retrieves).
          expect(requestsTo('GET', new RegExp(`^/v1/responses/${second}$`))).toBeGreaterThan(0);
          expect(requestsTo('GET', new RegExp(`^/v1/responses/${first}$`))).toBe(0);
          await expectOneResponsesTurn(llm, 'tool twice', 2);
        } else {
          await expectOneAssistantsTurn(llm, 'tool twice');
          expect(requestsTo('POST', /\/submit_tool_outputs$/)).toBe(1);
        }
      } finally {
        await llm.aclose();
        await close();
      }
    },
    HANG_GUARD,
  );

  it(
    'SIGTERM with a short grace hands the run back and the turn still completes (a rolling restart costs no turn)',
    async () => {
      const { names, workers, close } = await fleet(`resume-term-${api}`, ['--grace-ms', '100']);
      const identity = session('term');
      const llm = llmFor(api, names, identity);
      let victim: WorkerProcess | undefined;
      let exitCode: Promise<number | null> | undefined;
      try {
        const { text, error } = await turn(llm.process('long restart'), 3, async () => {
          victim = await busyWorker(workers);
          exitCode = victim.stop('SIGTERM');
        });
        expect(error).toBeNull();
        expect(text).toBe(LONG);
        expect(await exitCode).toBe(0);
        expect(logged(victim!, 'unfinished runs handed back')).toEqual([
          expect.objectContaining({ handedBack: 1 }),
        ]);
        await expectResumedBy(workers.find((w) => w !== victim)!);
        await expectOneTurn(api, llm, 'long restart');
      } finally {
        await llm.aclose();
        await close();
      }
    },
    HANG_GUARD,
  );
});

describe.each(['responses', 'assistants'] as const)(
  'the %s API: a worker killed the moment it talks to the server',
  (api) => {
    /** Calls `hook` as the emulator records each request, before it answers it. */
    function onRequest(hook: (request: RecordedRequest) => void): () => void {
      const requests = fx.emulator.requests;
      const push = requests.push;
      requests.push = (...items: RecordedRequest[]) => {
        for (const item of items) hook(item);
        return push.apply(requests, items);
      };
      return () => {
        requests.push = push;
      };
    }

    const startsRun = (r: RecordedRequest) =>
      r.method === 'POST' &&
      (api === 'responses'
        ? r.path === '/v1/responses' &&
          !JSON.stringify(r.body.input).includes('function_call_output')
        : /^\/v1\/threads(\/[^/]+)?\/runs$/.test(r.path));
    const sendsOutputs = (r: RecordedRequest) =>
      r.method === 'POST' &&
      (api === 'responses'
        ? r.path === '/v1/responses' &&
          JSON.stringify(r.body.input).includes('function_call_output')
        : r.path.endsWith('/submit_tool_outputs'));

    it.each([
      { when: 'it asks for the run (before any chunk)', message: 'long early', at: startsRun },
      // Lost on Responses with a function call upstream nobody will answer: the session's next
      // turn must still work.
      { when: 'it asks for a run that calls a tool', message: 'tool early', at: startsRun },
      { when: 'it sends the tool outputs', message: 'tool late', at: sendsOutputs },
    ])(
      'killed the moment $when: the server got the request, the worker never heard back; the message once, nothing sent twice, the session goes on',
      async ({ message, at }) => {
        const names = uniqueNames(`resume-request-${api}`);
        const doomed = await startWorker(names, fx.baseURL, [], {}, START);
        const llm = llmFor(api, names, session('request'));
        let calls = 0;
        llm.onToolCallCreated = () => {
          calls++;
          return TOOL_OUTPUT;
        };
        let rescuer: Promise<WorkerProcess> | undefined;
        const restore = onRequest((request) => {
          if (rescuer || !at(request)) return;
          // Synchronously, as the request arrives: the worker dies before any answer reaches it.
          doomed.child.kill('SIGKILL');
          rescuer = startWorker(names, fx.baseURL, [], {}, START);
        });
        try {
          const { text, error } = await turn(llm.process(message), 0, async () => undefined);
          const tool = message.startsWith('tool');
          expect(rescuer).toBeDefined();
          // The request is found and followed to its end: on Assistants the run, by its tag; on
          // Responses the response whose id never reached the worker, by the items it adds to
          // the conversation. The whole reply, each tool called once.
          expect(error).toBeNull();
          expect(text).toBe(tool ? TOOL_REPLY : LONG);
          expect(calls).toBe(tool ? 1 : 0);
          expect(await userMessages(fx.client, api, llm.threadId!)).toEqual([message]);
          if (message === 'tool late' && api === 'responses') {
            const items = await fx.client.conversations.items.list(llm.threadId!, { limit: 100 });
            expect(items.data.filter((i) => i.type === 'function_call_output')).toHaveLength(1);
          }
          if (tool && api === 'assistants')
            expect(requestsTo('POST', /\/submit_tool_outputs$/)).toBe(1);
          expect(await collect(llm.process('after the crash'))).toBe('You said: after the crash');
        } finally {
          restore();
          await llm.aclose();
          await doomed.stop('SIGKILL');
          await (await rescuer)?.stop();
          await removeFleet(names);
        }
      },
      HANG_GUARD,
    );
  },
);

describe.each(['responses', 'assistants'] as const)(
  'the %s API: a worker paused while the answer to its ownership check is on its way',
  (api) => {
    it(
      'wakes after the run was taken over and finished, asks again and sends nothing: the message once',
      async () => {
        const names = uniqueNames(`resume-lease-${api}`);
        const proxy = await startRedisProxy();
        // The worker whose Redis traffic goes through the proxy, alone until it is stopped.
        const paused = await startWorker(names, fx.baseURL, [], { REDIS_URL: proxy.url }, START);
        const identity = session('lease');
        const llm = llmFor(api, names, identity);
        let rescuer: WorkerProcess | undefined;
        try {
          expect(await collect(llm.process('before the pause'))).toBe('You said: before the pause');
          // The ownership check before the next run's first write (its lease asks for the
          // job lock's time to live): stopped as it leaves, so the answer waits in the socket.
          proxy.arm('PTTL', async () => {
            signal(paused, 'SIGSTOP');
            await untilStopped(paused.pid);
          });
          const reply = collect(llm.process('at the check'));
          await proxy.matched;
          rescuer = await startWorker(names, fx.baseURL, [], {}, START);
          // The run is taken over, sent by the rescuer and finished while the first is stopped.
          expect(await reply).toBe('You said: at the check');
          signal(paused, 'SIGCONT');
          // Awake, it reads an answer that says the run is its own; that answer is older than
          // its lease, so it asks again, learns the run is another's and stops.
          // (A worker that trusted the stale answer sends the message a second time instead.)
          const messages = () => userMessages(fx.client, api, llm.threadId!);
          await expect
            .poll(async () => logged(paused, SUPERSEDED).length + (await messages()).length, {
              timeout: 30_000,
            })
            .toBeGreaterThan(2);
          expect(await messages()).toEqual(['before the pause', 'at the check']);
          expect(logged(paused, SUPERSEDED)).not.toEqual([]);
          expect(Object.values(await attempts(names, identity)).sort()).toEqual([1, 2]);
          expect(await collect(llm.process('after the pause'))).toBe('You said: after the pause');
        } finally {
          await llm.aclose();
          await paused.stop('SIGKILL');
          await rescuer?.stop();
          await proxy.close();
          await removeFleet(names);
        }
      },
      HANG_GUARD,
    );
  },
);

describe('an orphaned run', () => {
  it(
    'the room process dies mid-stream: its background response is cancelled upstream, the worker is free',
    async () => {
      const names = uniqueNames('resume-orphan');
      const worker = await startWorker(names, fx.baseURL, [], {}, START);
      const room = startRoomProcess(names, session('orphan'), 'endless please');
      try {
        await room.chunksReached(3);
        const [id] = responseIds();
        expect(id).toMatch(/^resp_/);
        room.child.kill('SIGKILL');
        await exited(room.child);
        const killedAt = Date.now();
        // Left alone, the response would stream for 100 s and end 'completed'.
        await expect
          .poll(async () => (await fx.client.responses.retrieve(id!)).status, {
            timeout: 90_000,
            interval: 250,
          })
          .not.toBe('in_progress');
        console.log(`orphan: response cancelled ${Date.now() - killedAt} ms after the room died`);
        expect((await fx.client.responses.retrieve(id!)).status).toBe('cancelled');
        expect(requestsTo('POST', new RegExp(`^/v1/responses/${id}/cancel$`))).toBe(1);
        await expect
          .poll(() => metric(worker, 'assistant_active_sessions'), { timeout: 30_000 })
          .toBe(0);
      } finally {
        room.child.kill('SIGKILL');
        await worker.stop();
        await removeFleet(names);
      }
    },
    HANG_GUARD,
  );
});
