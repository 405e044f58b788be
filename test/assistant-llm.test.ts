import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import {
  AssistantError,
  ConfigError,
  InterruptionError,
  RunError,
  type ToolCall,
} from '../src/index.js';
import {
  APIS,
  captureLogger,
  collect,
  makeLLM as makeLLMFor,
  modeOptions,
  MODES,
  SCRIPTS,
  type Api,
} from './support/assistant.js';
import { invalidRequests, startEmulator, TEST_API_KEY, useEmulator } from './support/emulator.js';

const fx = useEmulator({ scripts: SCRIPTS });

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Get the weather',
    parameters: {
      type: 'object' as const,
      properties: { location: { type: 'string', description: 'City' } },
      required: ['location'],
    },
  },
};

function cancelRequests(): string[] {
  return fx.emulator.requests.filter((r) => r.path.endsWith('/cancel')).map((r) => r.path);
}

/** Requests that carried tool outputs, with the outputs each carried. */
function toolSubmissions(api: Api): Array<Array<{ id: string; output: string }>> {
  if (api === 'assistants') {
    return fx.emulator.requests
      .filter((r) => r.path.endsWith('/submit_tool_outputs'))
      .map((r) =>
        (r.body.tool_outputs as Array<{ tool_call_id: string; output: string }>).map((o) => ({
          id: o.tool_call_id,
          output: o.output,
        })),
      );
  }
  return fx.emulator.requests
    .filter(
      (r) =>
        r.path === '/v1/responses' &&
        Array.isArray(r.body.input) &&
        (r.body.input as Array<{ type?: string }>).some((i) => i.type === 'function_call_output'),
    )
    .map((r) =>
      (r.body.input as Array<{ call_id: string; output: string }>).map((o) => ({
        id: o.call_id,
        output: o.output,
      })),
    );
}

function runRequests(api: Api) {
  return fx.emulator.requests.filter((r) =>
    api === 'assistants' ? /\/runs$/.test(r.path) : r.path === '/v1/responses',
  );
}

/** True once the server has asked for tool outputs. */
function toolCallsSeen(api: Api): boolean {
  return fx.emulator.events.some((e) =>
    api === 'assistants'
      ? e.event === 'thread.run.requires_action'
      : e.event === 'response.completed',
  );
}

function refused(): string[] {
  return fx.emulator.requests
    .filter((r) => (r.status ?? 200) >= 400)
    .map((r) => `${r.method} ${r.path} ${r.status}`);
}

describe.each(MODES)('AssistantLLM on the $name API', (mode) => {
  const api = mode.api;
  const makeLLM = (a: Api, baseURL: string, extra: Parameters<typeof makeLLMFor>[2] = {}) =>
    makeLLMFor(a, baseURL, { ...modeOptions(mode), ...extra });
  /** A streamed response is cancelled by closing its stream, not by a request. */
  const cancels = mode.background === false ? 0 : 1;
  /**
   * Requests refused. After a streamed response is interrupted, the next one may find the
   * conversation locked until the server has noticed the closed stream; the queue retries it.
   */
  const refusedBesidesLocked = () =>
    refused().filter((r) => !(mode.background === false && r === 'POST /v1/responses 400'));
  it('streams chunks, creates a thread on first use and reuses it', async () => {
    const llm = makeLLM(api, fx.baseURL);
    expect(llm.threadId).toBeUndefined();
    const chunks: string[] = [];
    for await (const chunk of llm.process('Tell me about TypeScript')) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.join('')).toBe('You said: Tell me about TypeScript');
    const threadId = llm.threadId;
    expect(threadId).toMatch(api === 'assistants' ? /^thread_/ : /^conv_/);
    expect(await collect(llm.process('And again'))).toBe('You said: And again');
    expect(llm.threadId).toBe(threadId);
    const creations = fx.emulator.requests.filter(
      (r) => r.method === 'POST' && (r.path === '/v1/threads' || r.path === '/v1/conversations'),
    );
    expect(creations).toHaveLength(1);
  });

  it('uses a given thread id and never creates one', async () => {
    const first = makeLLM(api, fx.baseURL);
    await collect(first.process('first message'));
    fx.emulator.clearRecords();
    const second = makeLLM(api, fx.baseURL, { thread_id: first.threadId! });
    expect(second.threadId).toBe(first.threadId);
    expect(await collect(second.process('second message'))).toBe('You said: second message');
    expect(
      fx.emulator.requests.some((r) => r.path === '/v1/threads' || r.path === '/v1/conversations'),
    ).toBe(false);
    expect(second.threadId).toBe(first.threadId);
  });

  it('queues process() calls in FIFO order without overlapping runs', async () => {
    const llm = makeLLM(api, fx.baseURL);
    const streams = ['slow one', 'second', 'third'].map((m) => llm.process(m));
    const texts = await Promise.all(streams.map(collect));
    expect(texts[1]).toBe('You said: second');
    expect(texts[2]).toBe('You said: third');
    expect(refused()).toEqual([]);
    const order = runRequests(api).map((r) =>
      JSON.stringify(r.body.additional_messages ?? r.body.input),
    );
    expect(order.map((o) => ['slow one', 'second', 'third'].find((m) => o.includes(m)))).toEqual([
      'slow one',
      'second',
      'third',
    ]);
  });

  it('with allowInterruption, cancels the active run: its caller gets InterruptionError', async () => {
    const llm = makeLLM(api, fx.baseURL);
    const first = llm.process('slow story');
    const firstChunks: string[] = [];
    const firstDone = (async () => {
      for await (const chunk of first) firstChunks.push(chunk);
    })().then(
      () => null,
      (error: unknown) => error,
    );
    await expect.poll(() => firstChunks.length).toBeGreaterThan(1);
    const second = await collect(llm.process('Hello again', true));
    expect(await firstDone).toBeInstanceOf(InterruptionError);
    expect(second).toBe('You said: Hello again');
    expect(cancelRequests()).toHaveLength(cancels);
    expect(refusedBesidesLocked()).toEqual([]);
  });

  it('interrupt() stops the stream at once, cancels upstream, and the next process() works', async () => {
    const llm = makeLLM(api, fx.baseURL);
    const chunks: string[] = [];
    let interrupted: Promise<void> | undefined;
    const consumed = (async () => {
      for await (const chunk of llm.process('slow please')) {
        chunks.push(chunk);
        if (chunks.length === 2) interrupted = llm.interrupt();
      }
    })();
    const error = await consumed.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InterruptionError);
    // No chunk arrives after interrupt(), even though the server was still streaming.
    expect(chunks).toHaveLength(2);
    await interrupted;
    expect(cancelRequests()).toHaveLength(cancels);
    expect(await collect(llm.process('after the interruption'))).toBe(
      'You said: after the interruption',
    );
    expect(refusedBesidesLocked()).toEqual([]);
  });

  it('interrupt() does not wait for a handler that never answers, and frees the thread', async () => {
    const llm = makeLLM(api, fx.baseURL);
    llm.onToolCallCreated = () => new Promise(() => undefined);
    const done = collect(llm.process('weather')).then(
      () => null,
      (e: unknown) => e,
    );
    await expect.poll(() => toolCallsSeen(api)).toBe(true);
    await llm.interrupt();
    expect(await done).toBeInstanceOf(InterruptionError);
    if (api === 'responses') {
      // The waiting calls are answered on the conversation, which then takes new input.
      const posted = fx.emulator.requests.filter(
        (r) => r.method === 'POST' && /\/conversations\/[^/]+\/items$/.test(r.path),
      );
      expect(posted).toHaveLength(1);
    } else {
      expect(cancelRequests()).toHaveLength(1);
    }
    expect(await collect(llm.process('next question'))).toBe('You said: next question');
  });

  it('answers several function calls of one step in one submission and streams on', async () => {
    const llm = makeLLM(api, fx.baseURL, { tools: [weatherTool] });
    const seen: ToolCall[] = [];
    llm.onToolCallCreated = async (call) => {
      seen.push(call);
      if (call.type !== 'function') return null;
      const args = JSON.parse(call.function.arguments) as Record<string, string>;
      return call.function.name === 'get_weather'
        ? { location: args.location, sky: 'sunny' }
        : '10:00';
    };
    const text = await collect(llm.process("What's the weather?"));
    expect(text).toBe('Let me check. Outputs: {"location":"Paris","sky":"sunny"} | 10:00');
    expect(seen.map((c) => c.type === 'function' && c.function.name)).toEqual([
      'get_weather',
      'get_time',
    ]);
    const submissions = toolSubmissions(api);
    expect(submissions).toHaveLength(1);
    expect(submissions[0]!.map((o) => o.output)).toEqual([
      '{"location":"Paris","sky":"sunny"}',
      '10:00',
    ]);
  });

  it('reports code_interpreter and file_search calls to the handler and never submits them', async () => {
    const llm = makeLLM(api, fx.baseURL, {
      tools: [{ type: 'code_interpreter' }, { type: 'file_search' }],
    });
    const seen: ToolCall[] = [];
    llm.onToolCallCreated = (call) => {
      seen.push(call);
      return 'ignored';
    };
    expect(await collect(llm.process('analyse this'))).toBe('Analysis done.');
    expect(seen.map((c) => c.type)).toEqual(['code_interpreter', 'file_search']);
    expect(seen[0]).toMatchObject({
      code_interpreter: { input: 'print(6*7)', outputs: [{ type: 'logs', logs: '42' }] },
    });
    expect(toolSubmissions(api)).toEqual([]);
  });

  it.each([
    ['throws', () => Promise.reject(new Error('database down')), /failed: database down/],
    ['returns null', () => null, /returned no output/],
    ['returns something unserialisable', () => ({ big: 10n }), /cannot be encoded as JSON/],
    ['is missing', undefined, /No handler is registered/],
  ])(
    'submits a clear error output when the handler %s, and logs it',
    async (_label, handler, expected) => {
      const logger = captureLogger();
      const llm = makeLLM(api, fx.baseURL, { logger });
      llm.onToolCallCreated = handler;
      const text = await collect(llm.process('weather'));
      expect(text).toMatch(/^Let me check\. Outputs: /);
      const outputs = toolSubmissions(api)[0]!.map(
        (o) => JSON.parse(o.output) as { error: string },
      );
      expect(outputs).toHaveLength(2);
      for (const output of outputs) expect(output.error).toMatch(expected);
      expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(2);
    },
  );

  it('caps oversized handler outputs with an error output', async () => {
    const logger = captureLogger();
    const llm = makeLLM(api, fx.baseURL, { logger, maxToolOutputBytes: 1024 });
    llm.onToolCallCreated = () => 'x'.repeat(1_000_000);
    await collect(llm.process('weather'));
    const outputs = toolSubmissions(api)[0]!.map((o) => o.output);
    expect(outputs.every((o) => o.length < 200 && /1000000 bytes/.test(o))).toBe(true);
  });

  it('applies per-run tools and additional instructions to that run only', async () => {
    const llm = makeLLM(api, fx.baseURL, { tools: [{ type: 'code_interpreter' }] });
    await collect(llm.process('first', false, 'Be concise', [weatherTool]));
    await collect(llm.process('second'));
    const [first, second] = runRequests(api).map((r) => r.body);
    const names = (tools: unknown) =>
      (tools as Array<{ type: string; name?: string; function?: { name: string } }>).map(
        (t) => t.name ?? t.function?.name ?? t.type,
      );
    expect(names(first!.tools)).toEqual(['get_weather']);
    expect(names(second!.tools)).toEqual(['code_interpreter']);
    if (api === 'assistants') {
      expect(first!.additional_instructions).toBe('Be concise');
      expect(second!.additional_instructions).toBeUndefined();
    } else {
      expect(first!.instructions).toBe('You are a test assistant.\nBe concise');
      expect(second!.instructions).toBe('You are a test assistant.');
    }
  });

  it('raises RunError with the run id and OpenAI code when a run fails', async () => {
    const llm = makeLLM(api, fx.baseURL);
    const error = await collect(llm.process('explode')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({
      code: 'server_error',
      reason: 'failed',
      message: 'The model exploded.',
    });
    expect((error as RunError).runId).toMatch(api === 'assistants' ? /^run_/ : /^resp_/);
    const incomplete = await collect(llm.process('too long')).catch((e: unknown) => e);
    expect(incomplete).toMatchObject({ reason: 'incomplete' });
    expect(await collect(llm.process('still works'))).toBe('You said: still works');
  });

  it(
    mode.background === false
      ? 'an outside cancel of a streamed response is refused (only background responses can be cancelled): the run goes on'
      : 'rejects with RunError (reason cancelled, with the run id) when someone else cancels the run upstream',
    async () => {
      const llm = makeLLM(api, fx.baseURL);
      const response = llm.process('slow story cancelled elsewhere');
      const chunks: string[] = [];
      let outside: unknown;
      const error = await (async () => {
        for await (const chunk of response) {
          chunks.push(chunk);
          if (chunks.length !== 2) continue;
          // Not through this AssistantLLM: another client ends the run on the server.
          const runId = response.runId!;
          outside =
            api === 'assistants'
              ? await fx.client.beta.threads.runs.cancel(runId, { thread_id: llm.threadId! })
              : await fx.client.responses.cancel(runId).catch((e: unknown) => e);
        }
      })().then(
        () => null,
        (e: unknown) => e,
      );
      expect(response.runId).toMatch(api === 'assistants' ? /^run_/ : /^resp_/);
      // Only the outside cancel reached the server: the plugin did not cancel on its own.
      expect(cancelRequests()).toHaveLength(1);
      if (mode.background === false) {
        expect(outside).toMatchObject({ status: 400 });
        expect(error).toBeNull();
        expect(chunks.join('')).toMatch(/^one two three .* twenty$/);
      } else {
        expect(error).toBeInstanceOf(RunError);
        expect(error).not.toBeInstanceOf(InterruptionError);
        expect(error).toMatchObject({ reason: 'cancelled', runId: response.runId });
        expect(chunks.length).toBeLessThan(20);
      }
      expect(await collect(llm.process('after the outside cancel'))).toBe(
        'You said: after the outside cancel',
      );
    },
  );

  it('fails fast on bad input with ConfigError naming the field', () => {
    const llm = makeLLM(api, fx.baseURL);
    expect(() => llm.process('')).toThrow(ConfigError);
    expect(() => llm.process('  ')).toThrow(/message: expected a non-empty string/);
    expect(() => llm.process(42 as unknown as string)).toThrow(/message/);
    expect(() =>
      llm.process('hi', false, undefined, [
        { type: 'function', function: { name: 'bad name!' } },
      ] as never),
    ).toThrow(/runTools\[0\]\.function\.name/);
    expect(() => makeLLM(api, fx.baseURL, { tools: [{ type: 'retrieval' }] as never })).toThrow(
      /tools\[0\]\.type: expected 'code_interpreter', 'file_search' or 'function'/,
    );
    expect(() =>
      makeLLM(api, fx.baseURL, {
        tools: [
          { type: 'function', function: { name: 'f', parameters: { type: 'array' } } },
        ] as never,
      }),
    ).toThrow(/tools\[0\]\.function\.parameters/);
    expect(() => makeLLM(api, fx.baseURL, { toolOutputTimeoutMs: -1 })).toThrow(
      /toolOutputTimeoutMs/,
    );
    expect(fx.emulator.requests).toEqual([]);
  });
});

describe('AssistantLLM options and servers', () => {
  it('requires an assistant id for the Assistants API', async () => {
    const { AssistantLLM } = await import('../src/index.js');
    expect(() => new AssistantLLM({ load_options: {} } as never)).toThrow(
      /load_options\.assistant_id: required/,
    );
    expect(() => new AssistantLLM({ load_options: { assistant_id: '' } })).toThrow(ConfigError);
    expect(() => new AssistantLLM({ api: 'responses', model: '' })).toThrow(
      /model: expected a non-empty string/,
    );
    expect(() => new AssistantLLM({ api: 'graphql' } as never)).toThrow(
      /api: expected 'assistants' or 'responses'/,
    );
  });

  it.each(APIS)(
    'sends every request of the %s backend through the given openai client',
    async (api) => {
      const other = await startEmulator({ scripts: SCRIPTS });
      try {
        const sent: Array<{ url: string; header: string | null }> = [];
        const client = new OpenAI({
          apiKey: TEST_API_KEY,
          baseURL: other.baseURL,
          maxRetries: 0,
          defaultHeaders: { 'x-test-client': 'given' },
          fetch: (url, init) => {
            sent.push({
              url: String(url),
              header: new Headers(init?.headers).get('x-test-client'),
            });
            return fetch(url, init);
          },
        });
        // baseURL and apiKey point at the shared emulator; the given client must win over them.
        const llm = makeLLMFor(api, fx.baseURL, { openai: client });
        expect(await collect(llm.process('through the given client'))).toBe(
          'You said: through the given client',
        );
        expect(fx.emulator.requests).toEqual([]);
        const paths = other.emulator.requests.map((r) => `${r.method} ${r.path}`);
        expect(paths).toEqual(
          api === 'assistants'
            ? ['POST /v1/threads', `POST /v1/threads/${llm.threadId}/runs`]
            : ['POST /v1/conversations', 'POST /v1/responses'],
        );
        expect(sent.map((s) => new URL(s.url).pathname)).toEqual(
          other.emulator.requests.map((r) => r.path),
        );
        expect(sent.every((s) => s.header === 'given')).toBe(true);
        expect(invalidRequests(other.emulator)).toEqual([]);
      } finally {
        await other.emulator.close();
      }
    },
  );

  it('says the Assistants API was shut down, and how to switch, on a server without it', async () => {
    const responsesOnly = await startEmulator({ protocols: ['responses'] });
    try {
      const llm = makeLLMFor('assistants', responsesOnly.baseURL);
      const error = await collect(llm.process('hello')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AssistantError);
      expect((error as Error).message).toMatch(
        /Assistants API is not available .* shut it down on 2026-08-26/,
      );
      expect((error as Error).message).toMatch(/api: 'responses'/);
    } finally {
      await responsesOnly.emulator.close();
    }
  });
});
