/**
 * Faults from the OpenAI side and bad input, on both backends (the Responses one in both
 * streaming modes), in one process and through a worker: every run ends, nothing hangs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RunError, type ToolCall } from '../src/index.js';
import {
  captureLogger,
  collect,
  makeLLM as makeLLMFor,
  modeOptions,
  MODES,
  type Api,
} from './support/assistant.js';
import { useEmulator } from './support/emulator.js';
import { fleetLLM, startWorker, uniqueNames, type WorkerProcess } from './support/fleet.js';

const LONG = Array.from({ length: 12 }, (_, i) => `w${i}`).join(' ');

const fx = useEmulator(
  {
    scripts: [
      {
        message: 'drop',
        script: {
          tokenDelayMs: 5,
          steps: [{ text: 'before the drop ' }, { dropConnection: true }, { text: 'and after it' }],
        },
      },
      {
        message: 'stall',
        script: { steps: [{ text: 'waiting ' }, { stallMs: 3_000 }, { text: 'late' }] },
      },
      { message: 'expire', script: { steps: [{ expire: true }] } },
      {
        message: 'bad json',
        script: {
          steps: [
            { functionCalls: [{ name: 'get_weather', arguments: '{"location": "Par' }] },
            { text: (c) => `got ${c.toolOutputs[0]?.output}` },
          ],
        },
      },
      {
        message: 'unknown fn',
        script: {
          steps: [
            { functionCalls: [{ name: 'no_such_fn', arguments: {} }] },
            { text: (c) => `got ${c.toolOutputs[0]?.output}` },
          ],
        },
      },
      { message: 'long', script: { steps: [{ text: LONG }] } },
      {
        message: 'big output',
        script: {
          steps: [
            { functionCalls: [{ name: 'get_weather', arguments: { location: 'Paris' } }] },
            { text: (c) => `got ${c.toolOutputs[0]?.output.length} chars` },
          ],
        },
      },
    ],
  },
  'events',
);

const failure = (stream: AsyncIterable<string>) =>
  collect(stream).then(
    () => null,
    (e: unknown) => e,
  );

/** A rule that answers the first `times` requests with `status`, then a reply. */
function flaky(api: Api, status: number, times: number): string {
  const message = `flaky ${api} ${status} ${times} ${Math.random()}`;
  fx.emulator.addScript({
    message,
    script: { failRequests: { status, times, retryAfterSeconds: 0 }, steps: [{ text: 'served' }] },
  });
  return message;
}

/**
 * The status of the response a failed run's id names. A streamed response is cancelled once the
 * server notices its client left, a moment after the run ended: callers poll.
 */
async function responseStatus(error: unknown): Promise<string> {
  const id = (error as RunError).runId!;
  return (await fx.client.responses.retrieve(id)).status ?? 'unknown';
}

describe.each(MODES)('faults on the $name API', (mode) => {
  const api = mode.api;
  const makeLLM = (a: Api, baseURL: string, extra: Parameters<typeof makeLLMFor>[2] = {}) =>
    makeLLMFor(a, baseURL, { ...modeOptions(mode), ...extra });

  it('retries 429 (with Retry-After) and 5xx with backoff, then succeeds', async () => {
    const llm = makeLLM(api, fx.baseURL, { maxRetries: 2 });
    expect(await collect(llm.process(flaky(api, 429, 2)))).toBe('served');
    expect(await collect(llm.process(flaky(api, 503, 1)))).toBe('served');
    expect(fx.emulator.requests.filter((r) => r.status === 429 || r.status === 503)).toHaveLength(
      3,
    );
  });

  it('gives up after the retries with RunError carrying the status, and the thread takes the next run', async () => {
    const llm = makeLLM(api, fx.baseURL, { maxRetries: 1 });
    const error = await failure(llm.process(flaky(api, 429, 5)));
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect(await collect(llm.process('next'))).toBe('You said: next');
  });

  it(
    mode.background
      ? 'resumes a dropped stream where it left off'
      : 'ends a dropped stream cleanly and frees the thread',
    async () => {
      const llm = makeLLM(api, fx.baseURL);
      const chunks: string[] = [];
      const error = await (async () => {
        for await (const chunk of llm.process('drop please')) chunks.push(chunk);
      })().then(
        () => null,
        (e: unknown) => e,
      );
      if (mode.background) {
        expect(error).toBeNull();
        expect(chunks.join('')).toBe('before the drop and after it');
        expect(
          fx.emulator.requests.some((r) => r.method === 'GET' && /\/responses\/resp_/.test(r.path)),
        ).toBe(true);
      } else {
        expect(error).toBeInstanceOf(RunError);
        expect(error).toMatchObject({ code: 'connection_error' });
        // Whatever arrived before the connection broke, and nothing after it.
        expect(chunks.length).toBeGreaterThan(0);
        expect('before the drop '.startsWith(chunks.join(''))).toBe(true);
        // A streamed response stops with its connection: it cannot be resumed.
        if (api === 'responses') await expect.poll(() => responseStatus(error)).toBe('cancelled');
      }
      expect(await collect(llm.process('next'))).toBe('You said: next');
    },
  );

  it('times out a stalled stream with RunError (code timeout) and cancels the run', async () => {
    const llm = makeLLM(api, fx.baseURL, { streamIdleTimeoutMs: 300 });
    const error = await failure(llm.process('stall'));
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({ code: 'timeout' });
    // A streamed response is cancelled by closing its stream; the others by the API's cancel.
    expect(fx.emulator.requests.some((r) => r.path.endsWith('/cancel'))).toBe(
      mode.background !== false,
    );
    if (api === 'responses') await expect.poll(() => responseStatus(error)).toBe('cancelled');
    expect(await collect(llm.process('next'))).toBe('You said: next');
  });

  it('turns an expired run into RunError', async () => {
    const error = await failure(makeLLM(api, fx.baseURL).process('expire'));
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject(
      api === 'assistants' ? { reason: 'expired', code: 'expired' } : { reason: 'failed' },
    );
  });

  it('survives malformed argument JSON from the model: the handler error becomes the output', async () => {
    const logger = captureLogger();
    const llm = makeLLM(api, fx.baseURL, { logger });
    llm.onToolCallCreated = (call: ToolCall) =>
      call.type === 'function' ? JSON.parse(call.function.arguments) : null;
    const text = await collect(llm.process('bad json'));
    expect(text).toMatch(/^got \{"error":"Function get_weather failed: .*JSON/);
    expect(logger.lines.some((l) => l.message === 'tool handler threw')).toBe(true);
  });

  it('answers a call to an unknown function with an error output', async () => {
    const llm = makeLLM(api, fx.baseURL, { logger: captureLogger() });
    llm.onToolCallCreated = (call) =>
      call.type === 'function' && call.function.name === 'get_weather' ? 'sunny' : null;
    expect(await collect(llm.process('unknown fn'))).toBe(
      'got {"error":"Function no_such_fn returned no output."}',
    );
  });

  it('refuses an oversized message before anything reaches the server', () => {
    const llm = makeLLM(api, fx.baseURL);
    expect(() => llm.process('x'.repeat(256_001))).toThrow(ConfigError);
    expect(() => llm.process('x'.repeat(256_001))).toThrow(
      /message: expected at most 256000 characters/,
    );
    expect(fx.emulator.requests).toEqual([]);
  });
});

describe.each(MODES)('the same faults through a worker process ($name API)', (mode) => {
  const api = mode.api;
  const names = uniqueNames(`upstream-${api}-${String(mode.background)}`);
  let worker: WorkerProcess;
  let sessions = 0;
  beforeAll(async () => {
    worker = await startWorker(names, fx.baseURL);
  }, 60_000);
  afterAll(async () => {
    expect(await worker.stop()).toBe(0);
  });
  const fleet = (extra: Parameters<typeof fleetLLM>[3] = {}) =>
    fleetLLM(
      api,
      names,
      { room: 'faults', participant: `p${++sessions}` },
      { ...modeOptions(mode), ...extra },
    );

  it("retries 429 and 5xx with the worker's client, then succeeds", async () => {
    const llm = fleet();
    expect(await collect(llm.process(flaky(api, 429, 2)))).toBe('served');
    expect(await collect(llm.process(flaky(api, 503, 1)))).toBe('served');
    expect(fx.emulator.requests.filter((r) => r.status === 429 || r.status === 503)).toHaveLength(
      3,
    );
    await llm.aclose();
  });

  it('times out a stalled stream in the worker: RunError (timeout), run cancelled, thread free', async () => {
    const llm = fleet({ streamIdleTimeoutMs: 300 });
    const error = await failure(llm.process('stall'));
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({ code: 'timeout' });
    expect(fx.emulator.requests.some((r) => r.path.endsWith('/cancel'))).toBe(
      mode.background !== false,
    );
    if (api === 'responses') await expect.poll(() => responseStatus(error)).toBe('cancelled');
    expect(await collect(llm.process('next'))).toBe('You said: next');
    await llm.aclose();
  });

  it(
    mode.background
      ? 'resumes a dropped stream in the worker'
      : 'ends a dropped stream cleanly in the worker',
    async () => {
      const llm = fleet();
      const outcome = await collect(llm.process('drop please')).then(
        (text) => text,
        (e: unknown) => e,
      );
      if (mode.background) expect(outcome).toBe('before the drop and after it');
      else expect(outcome).toMatchObject({ name: 'RunError', code: 'connection_error' });
      expect(await collect(llm.process('next'))).toBe('You said: next');
      await llm.aclose();
    },
  );

  it('turns an expired run into RunError', async () => {
    const llm = fleet();
    const error = await failure(llm.process('expire'));
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject(api === 'assistants' ? { code: 'expired' } : { reason: 'failed' });
    await llm.aclose();
  });

  it('carries a 500 KB tool output across the control stream; a 1 MB one is capped', async () => {
    const llm = fleet({ logger: captureLogger() });
    const size = { value: 500 * 1024 };
    llm.onToolCallCreated = () => 'x'.repeat(size.value);
    expect(await collect(llm.process('big output'))).toBe(`got ${500 * 1024} chars`);
    size.value = 1024 * 1024;
    const capped = await collect(llm.process('big output'));
    const errorText = `{"error":"Function get_weather returned ${1024 * 1024} bytes, more than the ${512 * 1024}-byte limit."}`;
    expect(capped).toBe(`got ${errorText.length} chars`);
    await llm.aclose();
  });
});
