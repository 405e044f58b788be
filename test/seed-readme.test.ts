/**
 * Every code example of the user's README (../shared/spec/seed-README.md), taken from the file
 * itself: type-checked under strict TypeScript and run in a child process against the local
 * server, changing nothing but the ids; then again with only `api: 'responses'` added, and with
 * only a fleet `transport` added (runs execute in worker processes).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatorServer } from '../src/testing.js';
import { startEmulator, TEST_API_KEY, type EmulatorFixture } from './support/emulator.js';
import { REDIS_URL, startWorker, uniqueNames, type WorkerProcess } from './support/fleet.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SEED = fileURLToPath(new URL('../../shared/spec/seed-README.md', import.meta.url));
const BUILD = fileURLToPath(new URL('./.seed-build/', import.meta.url));
const ASSISTANT_ID = EmulatorServer.defaultAssistantId;

interface Example {
  heading: string;
  code: string;
}

/** The README's TypeScript blocks, each with the heading it stands under. */
function examples(): Example[] {
  const text = readFileSync(SEED, 'utf8');
  const found: Example[] = [];
  let heading = '';
  const pattern = /^(#{2,3}) (.+)$|^```typescript\n([\s\S]*?)^```/gm;
  for (const match of text.matchAll(pattern)) {
    if (match[2]) heading = match[2].trim();
    else if (match[3] !== undefined) found.push({ heading, code: match[3] });
  }
  return found;
}

function example(heading: string): string {
  const found = examples().filter((e) => e.heading === heading);
  if (found.length !== 1)
    throw new Error(`expected one example under "${heading}", found ${found.length}`);
  return found[0]!.code;
}

const IMPORT = "import { AssistantLLM } from '@livekit/agents-plugin-assistant';\n";
/** What the README's snippets assume from the examples before them or from the user's app. */
const GET_WEATHER =
  'async function getWeather(location: string, unit?: string) { return { location, unit: unit ?? "celsius", temperature: 18 }; }\n';

/** The variants: as written, with the Responses backend, and in fleet mode (workers in other processes). */
type Api = 'assistants' | 'responses' | 'fleet';

const FLEET = uniqueNames('seed');
const ADDED_OPTION: Record<Api, string> = {
  assistants: '',
  responses: "api: 'responses',",
  fleet: `transport: { redis: '${REDIS_URL}', prefix: '${FLEET.prefix}', queue: '${FLEET.queue}' },`,
};

/** Builds a runnable program from a README example; only ids (and the backend option) change. */
function program(code: string, ids: { thread: string }, api: Api, prelude = ''): string {
  let body = code
    .replaceAll("'YOUR_ASSISTANT_ID'", `'${ASSISTANT_ID}'`)
    .replaceAll("'EXISTING_THREAD_ID'", `'${ids.thread}'`)
    .replace(
      'new AssistantLLM({...})',
      `new AssistantLLM({ load_options: { assistant_id: '${ASSISTANT_ID}' } })`,
    );
  let head = prelude;
  if (ADDED_OPTION[api]) {
    body = body.replaceAll('new AssistantLLM({', `new AssistantLLM({ ${ADDED_OPTION[api]}`);
    head = head.replaceAll('new AssistantLLM({', `new AssistantLLM({ ${ADDED_OPTION[api]}`);
  }
  const needsImport =
    !/import \{[^}]*AssistantLLM[^}]*\} from/.test(body) &&
    !/import \{[^}]*AssistantLLM/.test(head);
  return `${needsImport ? IMPORT : ''}${head}\n${body}\nexport {};\n`;
}

let fx: EmulatorFixture;
const files: Array<{ api: Api; name: string; path: string }> = [];
const threads: Record<Api, string> = { assistants: '', responses: '', fleet: '' };
let workers: WorkerProcess[] = [];

const LLM_PRELUDE = (code: string) => `${GET_WEATHER}${code}`;

beforeAll(async () => {
  fx = await startEmulator({
    tokenDelayMs: 1,
    scripts: [
      {
        message: 'Tell me about TypeScript',
        script: {
          steps: [
            {
              functionCalls: [
                {
                  name: 'search_knowledge_base',
                  arguments: { query: 'TypeScript', max_results: 2 },
                },
              ],
            },
            { text: (ctx) => `TypeScript facts: ${ctx.toolOutputs[0]?.output ?? ''}` },
          ],
        },
      },
      {
        message: 'Analyze this code and check the weather',
        script: {
          steps: [
            { codeInterpreter: { input: 'print(1)', output: '1' } },
            { functionCalls: [{ name: 'get_weather', arguments: { location: 'Paris' } }] },
            { text: (ctx) => `Weather: ${ctx.toolOutputs[0]?.output ?? ''}` },
          ],
        },
      },
      {
        message: 'Long task',
        script: {
          tokenDelayMs: 100,
          steps: [{ text: Array.from({ length: 90 }, (_, i) => `w${i}`).join(' ') }],
        },
      },
      {
        message: '...',
        script: {
          steps: [
            { fail: { code: 'server_error', message: 'Scripted failure for the README example.' } },
          ],
        },
      },
    ],
  });
  threads.assistants = (await fx.client.beta.threads.create({})).id;
  threads.responses = (await fx.client.conversations.create({})).id;
  threads.fleet = (await fx.client.beta.threads.create({})).id;
  workers = [await startWorker(FLEET, fx.baseURL), await startWorker(FLEET, fx.baseURL)];

  rmSync(BUILD, { recursive: true, force: true });
  mkdirSync(BUILD, { recursive: true });
  const customFunctions = example('Using Custom Functions');
  const basic =
    `const llm = new AssistantLLM({ load_options: { assistant_id: 'YOUR_ASSISTANT_ID' } });\n`.replaceAll(
      "'YOUR_ASSISTANT_ID'",
      `'${ASSISTANT_ID}'`,
    );
  const sources: Array<[string, string, string]> = [
    ['quick-start', example('Quick Start'), ''],
    ['custom-functions', customFunctions, GET_WEATHER],
    ['existing-thread', example('Using Existing Thread'), ''],
    // The run-specific example continues the custom-functions one (its `llm`).
    [
      'run-specific-tools',
      example('Run-specific Tools'),
      LLM_PRELUDE(customFunctions.replaceAll("'YOUR_ASSISTANT_ID'", `'${ASSISTANT_ID}'`)),
    ],
    ['interruption', example('Interruption Handling'), ''],
    ['error-handling', example('Error Handling'), basic],
    [
      'assistant-options',
      example('Assistant Options'),
      "import type { BuiltInTool } from '@livekit/agents-plugin-assistant';\n",
    ],
  ];
  for (const api of ['assistants', 'responses', 'fleet'] as const) {
    for (const [name, code, prelude] of sources) {
      const path = `${BUILD}${api}-${name}.ts`;
      writeFileSync(path, program(code, { thread: threads[api] }, api, prelude));
      files.push({ api, name, path });
    }
  }
  writeFileSync(
    `${BUILD}tsconfig.json`,
    JSON.stringify({
      extends: '../../tsconfig.json',
      compilerOptions: { noEmit: true, noUnusedLocals: false },
      include: ['./*.ts'],
    }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await fx.emulator.close();
});

async function execute(path: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const env = {
    ...process.env,
    OPENAI_API_KEY: TEST_API_KEY,
    OPENAI_BASE_URL: fx.baseURL,
    OPENAI_MODEL: 'emulator-1',
  };
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path], {
      cwd: ROOT,
      env,
      timeout: 40_000,
      killSignal: 'SIGKILL',
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe("the user's README examples", () => {
  it('finds every example the README has', () => {
    expect(examples().map((e) => e.heading)).toEqual([
      'Quick Start',
      'Assistant Options',
      'Built-in Tools',
      'Using Custom Functions',
      'Using Existing Thread',
      'Run-specific Tools',
      'Interruption Handling',
      'Error Handling',
    ]);
  });

  it('type-check under strict TypeScript as written (every variant)', async () => {
    const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
    const result = await run(process.execPath, [tsc, '-p', `${BUILD}tsconfig.json`], {
      cwd: ROOT,
    }).then(
      () => '',
      (error: { stdout: string }) => error.stdout,
    );
    expect(result).toBe('');
  }, 120_000);

  describe.each(['assistants', 'responses', 'fleet'] as const)(
    'run against the local server (%s)',
    (api) => {
      const file = (name: string) => files.find((f) => f.api === api && f.name === name)!.path;

      it('Quick Start streams the reply, with the knowledge-base tool answered by the handler', async () => {
        const { stdout, code, stderr } = await execute(file('quick-start'));
        // The seed's file_search names no vector store; the Responses API needs them on the tool.
        expect(stderr).toEqual(
          api !== 'responses'
            ? ''
            : expect.stringMatching(/^\[assistant\] warn: file_search .* none are set\n$/),
        );
        expect(code).toBe(0);
        expect(stdout).toBe('TypeScript facts: {"results":["result1","result2"]}');
      });

      it('Using Custom Functions and Using Existing Thread construct as written', async () => {
        for (const name of ['custom-functions', 'existing-thread', 'assistant-options']) {
          const { code, stderr } = await execute(file(name));
          expect({ name, code, stderr }).toEqual({ name, code: 0, stderr: '' });
        }
      });

      it('Run-specific Tools use the run tools and the weather handler', async () => {
        fx.emulator.clearRecords();
        const { stdout, code } = await execute(file('run-specific-tools'));
        expect(code).toBe(0);
        expect(stdout).toBe('Weather: {"location":"Paris","unit":"celsius","temperature":18}');
        const runRequest = fx.emulator.requests.find((r) =>
          api !== 'responses' ? /\/runs$/.test(r.path) : r.path === '/v1/responses',
        );
        expect(JSON.stringify(runRequest?.body.tools)).toContain('Get current weather');
      });

      it('Interruption Handling stops the long task after 5 seconds with InterruptionError', async () => {
        const { stdout, stderr, code } = await execute(file('interruption'));
        expect(code).toBe(0);
        expect(stdout.split(' ').length).toBeGreaterThan(10);
        expect(stdout).not.toContain('w89');
        expect(stderr).toMatch(/Error: InterruptionError: The run was interrupted/);
      }, 30_000);

      it('Error Handling reports the failed run with its id', async () => {
        const { stderr, code } = await execute(file('error-handling'));
        expect(code).toBe(0);
        expect(stderr).toMatch(
          api !== 'responses' ? /Run failed: run_\w+/ : /Run failed: resp_\w+/,
        );
      });
    },
  );
});
