/** Operating workers: health and metrics, graceful shutdown, and runs handed back to the queue. */
import { describe, expect, it } from 'vitest';
import { InterruptionError, RunError } from '../src/index.js';
import { cli } from './support/cli.js';
import { useEmulator } from './support/emulator.js';
import { fleetLLM, startWorker, uniqueNames } from './support/fleet.js';
import { collect, SCRIPTS, streamTurn, userMessages } from './support/assistant.js';

const LONG = Array.from({ length: 80 }, (_, i) => `l${i}`).join(' ');

const fx = useEmulator(
  {
    scripts: [
      ...SCRIPTS,
      {
        message: 'steady',
        script: {
          tokenDelayMs: 40,
          steps: [{ text: Array.from({ length: 30 }, (_, i) => `s${i}`).join(' ') }],
        },
      },
      {
        message: 'long',
        script: { tokenDelayMs: 50, steps: [{ text: LONG }] },
      },
      {
        message: 'endless',
        script: {
          tokenDelayMs: 200,
          steps: [{ text: Array.from({ length: 200 }, (_, i) => `e${i}`).join(' ') }],
        },
      },
    ],
  },
  'none',
);

function metric(body: string, name: string): number {
  const line = body.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

describe('worker operations', () => {
  it('serves liveness, readiness and Prometheus metrics that count runs, waits, first tokens and tool round trips', async () => {
    const names = uniqueNames('metrics');
    const worker = await startWorker(names, fx.baseURL);
    try {
      expect((await fetch(`${worker.healthURL}/healthz`)).status).toBe(200);
      expect((await fetch(`${worker.healthURL}/readyz`)).status).toBe(200);
      const llm = fleetLLM('assistants', names, { room: 'm', participant: 'metrics' });
      llm.onToolCallCreated = () => 'ok';
      await collect(llm.process('hello'));
      await collect(llm.process('weather'));
      const scrape = async () => (await fetch(`${worker.healthURL}/metrics`)).text();
      // The room hears run.completed before the worker has finished its bookkeeping.
      await expect.poll(async () => metric(await scrape(), 'assistant_active_sessions')).toBe(0);
      const body = await scrape();
      expect(metric(body, 'assistant_runs_started_total{api="assistants"}')).toBe(2);
      expect(metric(body, 'assistant_runs_ended_total{api="assistants",outcome="completed"}')).toBe(
        2,
      );
      expect(metric(body, 'assistant_run_queue_wait_seconds_count')).toBe(2);
      expect(metric(body, 'assistant_run_time_to_first_token_seconds_count')).toBe(2);
      expect(metric(body, 'assistant_tool_round_trip_seconds_count')).toBe(1);
      expect(metric(body, 'assistant_active_sessions')).toBe(0);
    } finally {
      await worker.stop();
    }
  });

  it('counts failed and cancelled runs by outcome; a session is active only while its run is in flight', async () => {
    const names = uniqueNames('outcomes');
    const worker = await startWorker(names, fx.baseURL);
    const scrape = async () => (await fetch(`${worker.healthURL}/metrics`)).text();
    const ended = (outcome: string) =>
      `assistant_runs_ended_total{api="assistants",outcome="${outcome}"}`;
    try {
      const llm = fleetLLM('assistants', names, { room: 'o', participant: 'outcomes' });
      const failed = await collect(llm.process('explode')).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(RunError);
      expect(failed).toMatchObject({ code: 'server_error' });
      await expect.poll(async () => metric(await scrape(), ended('failed'))).toBe(1);

      // A run the room interrupts while it streams: the gauge counts it while it runs.
      const chunks: string[] = [];
      let activeWhileStreaming = NaN;
      const interrupted = (async () => {
        for await (const chunk of llm.process('endless')) {
          chunks.push(chunk);
          if (chunks.length === 2) {
            activeWhileStreaming = metric(await scrape(), 'assistant_active_sessions');
            void llm.interrupt();
          }
        }
      })().catch((e: unknown) => e);
      expect(await interrupted).toBeInstanceOf(InterruptionError);
      expect(activeWhileStreaming).toBe(1);
      await expect.poll(async () => metric(await scrape(), ended('cancelled'))).toBe(1);
      await expect.poll(async () => metric(await scrape(), 'assistant_active_sessions')).toBe(0);

      const body = await scrape();
      expect(metric(body, 'assistant_runs_started_total{api="assistants"}')).toBe(2);
      expect(metric(body, ended('failed'))).toBe(1);
      expect(metric(body, ended('cancelled'))).toBe(1);
      // Neither run is counted as completed: no such series exists yet.
      expect(metric(body, ended('completed'))).toBeNaN();
      // The session still works after both.
      expect(await collect(llm.process('hello'))).toBe('You said: hello');
    } finally {
      await worker.stop();
    }
  });

  it('on SIGTERM answers /readyz with 503 while it drains a run in flight; /healthz and /metrics still answer', async () => {
    const names = uniqueNames('draining');
    const worker = await startWorker(names, fx.baseURL, ['--grace-ms', '20000']);
    const health = (path: string) => fetch(`${worker.healthURL}${path}`);
    expect((await health('/readyz')).status).toBe(200);
    const llm = fleetLLM('assistants', names, { room: 'd', participant: 'draining' });
    const { chunks, reached, ended } = streamTurn(llm.process('endless'), 2, () => {
      worker.child.kill('SIGTERM');
    });
    await reached;
    await expect.poll(() => worker.output()).toMatch(/"msg":"worker stopping/);
    const readyz = await health('/readyz');
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toBe('not ready\n');
    expect((await health('/healthz')).status).toBe(200);
    expect(metric(await (await health('/metrics')).text(), 'assistant_active_sessions')).toBe(1);
    // The run is still streaming: draining lets it go on.
    const streamed = chunks.length;
    await expect.poll(() => chunks.length).toBeGreaterThan(streamed);
    expect(worker.child.exitCode).toBeNull();
    // A draining worker still obeys the room's cancel; with nothing left in flight it exits.
    await llm.interrupt();
    expect(await ended).toBeInstanceOf(InterruptionError);
    expect(await worker.stop()).toBe(0);
    expect(worker.output()).toMatch(/"handedBack":0,"msg":"worker stopped/);
  });

  it('on SIGTERM stops taking jobs and lets the run in flight finish', async () => {
    const names = uniqueNames('graceful');
    const worker = await startWorker(names, fx.baseURL, ['--grace-ms', '10000']);
    const llm = fleetLLM('assistants', names, { room: 'g', participant: 'graceful' });
    const chunks: string[] = [];
    const reply = (async () => {
      for await (const chunk of llm.process('steady')) {
        chunks.push(chunk);
        if (chunks.length === 3) worker.child.kill('SIGTERM');
      }
    })();
    await reply;
    expect(chunks.join('')).toBe(Array.from({ length: 30 }, (_, i) => `s${i}`).join(' '));
    expect(await worker.stop()).toBe(0);
    expect(worker.output()).toMatch(/"handedBack":0,"msg":"worker stopped/);
  });

  it('hands runs still going after the grace period back; another worker continues them and the turn completes', async () => {
    const names = uniqueNames('handback');
    const leaving = await startWorker(names, fx.baseURL, ['--grace-ms', '300']);
    const llm = fleetLLM(
      'responses',
      names,
      { room: 'h', participant: `handback-${Date.now()}` },
      { background: true },
    );
    let stayingStarted: Promise<Awaited<ReturnType<typeof startWorker>>> | undefined;
    const { chunks, reached, ended } = streamTurn(llm.process('long'), 2, () => {
      leaving.child.kill('SIGTERM');
      stayingStarted = startWorker(names, fx.baseURL);
    });
    await reached;
    const leftWith = await leaving.stop();
    expect(leaving.output()).toMatch(/"handedBack":1,"msg":"worker stopped/);
    expect(leftWith).toBe(0);
    const error = await ended;
    const staying = await stayingStarted!;
    try {
      // A rolling restart costs no turn: the whole reply, each word once.
      expect(error).toBeNull();
      expect(chunks.join('')).toBe(LONG);
      expect(staying.output()).toMatch(/resuming a run taken over/);
      expect(await collect(llm.process('hello again'))).toBe('You said: hello again');
      expect(await userMessages(fx.client, 'responses', llm.threadId!)).toEqual([
        'long',
        'hello again',
      ]);
    } finally {
      await staying.stop();
      await llm.aclose();
    }
  }, 60_000);

  it('refuses to start without OPENAI_API_KEY, naming it', async () => {
    const result = await cli(['worker']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/OPENAI_API_KEY: required/);
  });
});
