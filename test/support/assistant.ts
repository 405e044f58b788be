/** Builds AssistantLLMs for either backend against the emulator, with a logger tests can read. */
import type OpenAI from 'openai';
import {
  AssistantLLM,
  type AssistantOptions,
  type Logger,
  type ResponsesApiOptions,
} from '../../src/index.js';
import { EmulatorServer, type ScriptRule } from '../../src/testing.js';
import { TEST_API_KEY } from './api-key.js';

export const APIS = ['assistants', 'responses'] as const;
export type Api = (typeof APIS)[number];

/** Each backend, and the Responses backend in both streaming modes. */
export const MODES = [
  { name: 'assistants', api: 'assistants', background: undefined },
  { name: 'responses, streamed', api: 'responses', background: false },
  { name: 'responses, background', api: 'responses', background: true },
] as const;
export type Mode = (typeof MODES)[number];

/** The options that select `mode`'s streaming mode (none for the Assistants API). */
export function modeOptions(mode: Mode): { background?: boolean } {
  return mode.background === undefined ? {} : { background: mode.background };
}

export interface CapturedLogger extends Logger {
  lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
}

export function captureLogger(): CapturedLogger {
  const lines: CapturedLogger['lines'] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, ...(fields ? { fields } : {}) });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Any option of either API (the Responses ones are ignored by the Assistants backend). */
type Extra = Partial<Omit<ResponsesApiOptions, 'api' | 'load_options'>> & { thread_id?: string };

export function makeLLM(api: Api, baseURL: string, extra: Extra = {}): AssistantLLM {
  const { thread_id, ...rest } = extra;
  const common = { baseURL, apiKey: TEST_API_KEY, maxRetries: 0, ...rest };
  if (api === 'assistants') {
    return new AssistantLLM({
      ...common,
      load_options: {
        assistant_id: EmulatorServer.defaultAssistantId,
        ...(thread_id ? { thread_id } : {}),
      },
    } as AssistantOptions);
  }
  return new AssistantLLM({
    ...common,
    api: 'responses',
    model: 'emulator-1',
    instructions: 'You are a test assistant.',
    fileSearch: { vectorStoreIds: ['vs_test'] },
    ...(thread_id ? { load_options: { thread_id } } : {}),
  } as AssistantOptions);
}

export async function collect(stream: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk;
  return text;
}

/** Scripts shared by the behaviour suites. Each is chosen by a word in the user's message. */
export const SCRIPTS: ScriptRule[] = [
  {
    message: 'weather',
    script: {
      steps: [
        { text: 'Let me check. ' },
        {
          functionCalls: [
            { name: 'get_weather', arguments: { location: 'Paris' } },
            { name: 'get_time', arguments: { zone: 'CET' } },
          ],
        },
        { text: (ctx) => `Outputs: ${ctx.toolOutputs.map((o) => o.output).join(' | ')}` },
      ],
    },
  },
  {
    message: 'forecast',
    script: {
      steps: [
        { functionCalls: [{ name: 'get_weather', arguments: { location: 'Paris' } }] },
        { text: (ctx) => `Forecast: ${ctx.toolOutputs.map((o) => o.output).join(' | ')}` },
      ],
    },
  },
  {
    message: 'lookup',
    script: {
      steps: [
        { functionCalls: [{ name: 'search_knowledge_base', arguments: { query: 'TypeScript' } }] },
        { text: (ctx) => `Found: ${ctx.toolOutputs.map((o) => o.output).join(' | ')}` },
      ],
    },
  },
  {
    message: 'analyse',
    script: {
      steps: [
        { codeInterpreter: { input: 'print(6*7)', output: '42' } },
        {
          fileSearch: {
            query: 'typescript',
            results: [{ fileName: 'ts.md', score: 0.9, text: 'TS' }],
          },
        },
        { text: 'Analysis done.' },
      ],
    },
  },
  {
    message: 'explode',
    script: {
      steps: [
        { text: 'partial ' },
        { fail: { code: 'server_error', message: 'The model exploded.' } },
      ],
    },
  },
  { message: 'expire', script: { steps: [{ expire: true }] } },
  {
    message: 'too long',
    script: { steps: [{ text: 'cut ' }, { incomplete: 'max_completion_tokens' }] },
  },
  {
    message: 'slow',
    script: {
      tokenDelayMs: 30,
      steps: [
        {
          text: 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty',
        },
      ],
    },
  },
];

/** The user messages of a thread (Assistants) or conversation (Responses), oldest first. */
export async function userMessages(client: OpenAI, api: Api, threadId: string): Promise<string[]> {
  if (api === 'assistants') {
    const list = await client.beta.threads.messages.list(threadId, { order: 'asc', limit: 100 });
    return list.data
      .filter((m) => m.role === 'user')
      .map((m) => (m.content[0]?.type === 'text' ? m.content[0].text.value : ''));
  }
  const items = await client.conversations.items.list(threadId, { order: 'asc', limit: 100 });
  return items.data.flatMap((item) =>
    item.type === 'message' && item.role === 'user'
      ? [item.content.map((c) => ('text' in c ? c.text : '')).join('')]
      : [],
  );
}

export interface StreamedTurn {
  /** The chunks so far. */
  chunks: string[];
  /** Resolves once `onChunk` ran for the `at`th chunk. */
  reached: Promise<void>;
  /** Resolves when the turn ends: null, or the error it ended with. */
  ended: Promise<unknown>;
}

/** Reads a turn's chunks, calling `onChunk` once after the `at`th, e.g. to kill a worker then. */
export function streamTurn(
  stream: AsyncIterable<string>,
  at: number,
  onChunk: () => void | Promise<void>,
): StreamedTurn {
  const chunks: string[] = [];
  let reachedAt!: () => void;
  const reached = new Promise<void>((resolve) => (reachedAt = resolve));
  const ended = (async () => {
    for await (const chunk of stream) {
      chunks.push(chunk);
      if (chunks.length === at) {
        await onChunk();
        reachedAt();
      }
    }
  })().then(
    () => null,
    (error: unknown) => error,
  );
  return { chunks, reached, ended };
}
