/**
 * The run loop both backends share, driven directly through each backend against the local
 * server: a cancel before the first event, and the tool-output timeout with an upstream cancel
 * that fails (logged, never swallowed).
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendConfig } from '../src/backends/config.js';
import { createBackend } from '../src/backends/config.js';
import type { RunEventBody } from '../src/events.js';
import { EmulatorServer } from '../src/testing.js';
import { APIS, captureLogger, SCRIPTS, type Api } from './support/assistant.js';
import { startEmulator, TEST_API_KEY, type EmulatorFixture } from './support/emulator.js';

let fx: EmulatorFixture;

beforeAll(async () => {
  fx = await startEmulator({ scripts: SCRIPTS });
});
afterAll(() => fx.emulator.close());

const LIMITS = { toolOutputTimeoutMs: 200, streamIdleTimeoutMs: 5_000 };

function config(api: Api): BackendConfig {
  return api === 'assistants'
    ? { api, assistantId: EmulatorServer.defaultAssistantId, limits: LIMITS }
    : { api, model: 'emulator-1', limits: LIMITS };
}

async function newThread(api: Api): Promise<string> {
  return api === 'assistants'
    ? (await fx.client.beta.threads.create({})).id
    : (await fx.client.conversations.create({})).id;
}

async function events(run: AsyncIterable<RunEventBody>): Promise<RunEventBody[]> {
  const seen: RunEventBody[] = [];
  for await (const event of run) seen.push(event);
  return seen;
}

const text = (seen: RunEventBody[]) =>
  seen.flatMap((e) => (e.type === 'text.delta' ? [e.text] : [])).join('');

describe.each(APIS)('the run loop (%s API)', (api) => {
  it('ends a run cancelled before its first event with run.cancelled, and frees the thread', async () => {
    const logger = captureLogger();
    const backend = createBackend(config(api), fx.client, logger);
    const threadId = await newThread(api);
    const run = backend.startRun({ threadId, message: 'hello' });
    const reading = events(run);
    await run.cancel();
    const seen = await reading;
    expect(seen.at(-1)).toMatchObject({ type: 'run.cancelled' });
    expect(seen.filter((e) => e.type.startsWith('run.') && e.type !== 'run.started')).toHaveLength(
      1,
    );
    const next = await events(backend.startRun({ threadId, message: 'next' }));
    expect(next.at(-1)).toMatchObject({ type: 'run.completed' });
    expect(text(next)).toBe('You said: next');
  });

  it('fails a run whose tool outputs never come with tool_output_timeout, logging a cancel that fails', async () => {
    // The real SDK and server; only the cleanup requests fail, as a network error would.
    const failingCleanup: typeof fetch = (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (/\/cancel$|\/items$/.test(url) && init?.method === 'POST')
        return Promise.reject(new TypeError('fetch failed: connection reset'));
      return fetch(input, init);
    };
    const client = new OpenAI({
      apiKey: TEST_API_KEY,
      baseURL: fx.baseURL,
      maxRetries: 0,
      fetch: failingCleanup,
    });
    const logger = captureLogger();
    const run = createBackend(config(api), client, logger).startRun({ message: 'forecast' });
    const seen = await events(run);
    expect(seen.map((e) => e.type)).toEqual([
      'thread.created',
      'run.started',
      'tool_call.created',
      'tool_outputs.required',
      'run.failed',
    ]);
    expect(seen.at(-1)).toMatchObject({
      reason: 'tool_output_timeout',
      retryable: false,
      message: `No tool outputs arrived within ${LIMITS.toolOutputTimeoutMs} ms; the run was cancelled.`,
    });
    const warning = logger.lines.find((l) => l.message === 'could not cancel the run upstream');
    expect(warning).toMatchObject({
      level: 'warn',
      fields: { after: 'tool output timeout', error: expect.stringMatching(/Connection error/) },
    });
  });
});
