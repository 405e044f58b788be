/**
 * Every TypeScript example of the project's README.md, taken from the file itself, type-checks
 * under strict TypeScript. The examples the README started from (Quick start to Error handling)
 * also run in a child process against the local server, changing nothing but the ids; then again
 * with only `api: 'responses'` added, and with only a fleet `transport` added (runs execute in
 * worker processes); so does the Migrating example, from an assistant exported by the local
 * server. Removing or breaking one of them fails this file.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatorServer } from '../src/testing.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';
import { REDIS_URL, startWorker, uniqueNames, type WorkerProcess } from './support/fleet.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = fileURLToPath(new URL('../README.md', import.meta.url));
const BUILD = fileURLToPath(new URL('./.seed-build/', import.meta.url));
const ASSISTANT_ID = EmulatorServer.defaultAssistantId;
/** The Migrating example reads an exported assistant from here instead of ./assistant.json. */
const EXPORTED = `${BUILD}assistant.json`;

interface Example {
  heading: string;
  code: string;
}

/** The README's TypeScript blocks, each with the heading it stands under. */
function examples(): Example[] {
  const text = readFileSync(README, 'utf8');
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
    .replaceAll("'assistant.json'", `'${EXPORTED}'`)
    .replace(
      'new AssistantLLM({...})',
      `new AssistantLLM({ load_options: { assistant_id: '${ASSISTANT_ID}' } })`,
    );
  let head = prelude;
  // An example that already runs on the Responses API (the Migrating one) runs as written there.
  const onResponses = /optionsFromAssistant\(|api: 'responses'/.test(code);
  if (ADDED_OPTION[api] && !(api === 'responses' && onResponses)) {
    body = body.replaceAll('new AssistantLLM({', `new AssistantLLM({ ${ADDED_OPTION[api]}`);
    head = head.replaceAll('new AssistantLLM({', `new AssistantLLM({ ${ADDED_OPTION[api]}`);
  }
  const needsImport =
    !/import \{[^}]*AssistantLLM[^}]*\} from/.test(body) &&
    !/import \{[^}]*AssistantLLM/.test(head);
  return `${needsImport ? IMPORT : ''}${head}\n${body}\nexport {};\n`;
}

const fx = useEmulator(
  {
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
  },
  'none',
);
const files: Array<{ api: Api; name: string; path: string }> = [];
const threads: Record<Api, string> = { assistants: '', responses: '', fleet: '' };
let workers: WorkerProcess[] = [];

const LLM_PRELUDE = (code: string) => `${GET_WEATHER}${code}`;
const TOOL_TYPE = "import type { BuiltInTool } from '@livekit/agents-plugin-assistant';\n";
/** `tools` as the Fleet mode example assumes the user's app defines it. */
const USER_TOOLS = `${TOOL_TYPE}const tools: BuiltInTool[] = [];\n`;

/** Examples that are type-checked only: [file name, README heading, prelude]. */
const TYPE_CHECKED: Array<[string, string, string]> = [
  ['tools', 'Tools', ''],
  ['agent-session', 'With a LiveKit AgentSession', ''],
  ['fleet-mode', 'Fleet mode', USER_TOOLS],
  ['redis-cluster', 'On a Redis Cluster', ''],
  ['session-actors', 'One session actor per participant', ''],
  ['local-server', 'The local OpenAI-compatible server', ''],
];

beforeAll(async () => {
  threads.assistants = (await fx.client.beta.threads.create({})).id;
  threads.responses = (await fx.client.conversations.create({})).id;
  threads.fleet = (await fx.client.beta.threads.create({})).id;
  workers = [await startWorker(FLEET, fx.baseURL), await startWorker(FLEET, fx.baseURL)];

  rmSync(BUILD, { recursive: true, force: true });
  mkdirSync(BUILD, { recursive: true });
  const exported = await fx.client.beta.assistants.create({
    model: 'gpt-4o',
    instructions: 'You are the migrated assistant.',
    tools: [{ type: 'file_search' }],
    tool_resources: { file_search: { vector_store_ids: ['vs_migrated'] } },
  });
  writeFileSync(
    EXPORTED,
    JSON.stringify(await fx.client.beta.assistants.retrieve(exported.id), null, 2),
  );
  const customFunctions = example('Using custom functions');
  const basic =
    `const llm = new AssistantLLM({ load_options: { assistant_id: 'YOUR_ASSISTANT_ID' } });\n`.replaceAll(
      "'YOUR_ASSISTANT_ID'",
      `'${ASSISTANT_ID}'`,
    );
  const sources: Array<[string, string, string]> = [
    ['quick-start', example('Quick start'), ''],
    ['custom-functions', customFunctions, GET_WEATHER],
    ['existing-thread', example('Using an existing thread'), ''],
    // The run-specific example continues the custom-functions one (its `llm`).
    [
      'run-specific-tools',
      example('Run-specific tools'),
      LLM_PRELUDE(customFunctions.replaceAll("'YOUR_ASSISTANT_ID'", `'${ASSISTANT_ID}'`)),
    ],
    ['interruption', example('Interruption and the run queue'), ''],
    ['error-handling', example('Error handling'), basic],
    ['assistant-options', example('Configuration'), TOOL_TYPE],
    ['migrating', example('Migrating to the Responses API'), ''],
  ];
  for (const api of ['assistants', 'responses', 'fleet'] as const) {
    for (const [name, code, prelude] of sources) {
      const path = `${BUILD}${api}-${name}.ts`;
      writeFileSync(path, program(code, { thread: threads[api] }, api, prelude));
      files.push({ api, name, path });
    }
  }
  // The README's other examples are type-checked as written (with what they say comes from the
  // user's code); the suites named beside them run what they show.
  for (const [name, heading, prelude] of TYPE_CHECKED) {
    const path = `${BUILD}checked-${name}.ts`;
    writeFileSync(
      path,
      program(example(heading), { thread: threads.assistants }, 'assistants', prelude),
    );
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
  it('finds every example the README has, each under its heading', () => {
    // A new example belongs in the lists above, so that it is checked too.
    expect(examples().map((e) => e.heading)).toEqual([
      'Quick start',
      'Configuration',
      'Tools',
      'Using custom functions',
      'Using an existing thread',
      'Run-specific tools',
      'Interruption and the run queue',
      'Error handling',
      'With a LiveKit AgentSession',
      'Migrating to the Responses API',
      'Fleet mode',
      'On a Redis Cluster',
      'One session actor per participant',
      'The local OpenAI-compatible server',
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

      it('Quick start streams the reply, with the knowledge-base tool answered by the handler', async () => {
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

      it('Using custom functions, Using an existing thread and Configuration construct as written', async () => {
        for (const name of ['custom-functions', 'existing-thread', 'assistant-options']) {
          const { code, stderr } = await execute(file(name));
          expect({ name, code, stderr }).toEqual({ name, code: 0, stderr: '' });
        }
        // Three child processes one after the other: allow for a loaded machine.
      }, 90_000);

      it('Run-specific tools use the run tools and the weather handler', async () => {
        fx.emulator.clearRecords();
        const { stdout, code } = await execute(file('run-specific-tools'));
        expect(code).toBe(0);
        expect(stdout).toBe('Weather: {"location":"Paris","unit":"celsius","temperature":18}');
        const runRequest = fx.emulator.requests.find((r) =>
          api !== 'responses' ? /\/runs$/.test(r.path) : r.path === '/v1/responses',
        );
        expect(JSON.stringify(runRequest?.body.tools)).toContain('Get current weather');
      });

      it('Interruption and the run queue stops the long task after 5 seconds with InterruptionError', async () => {
        const { stdout, stderr, code } = await execute(file('interruption'));
        expect(code).toBe(0);
        expect(stdout.split(' ').length).toBeGreaterThan(10);
        expect(stdout).not.toContain('w89');
        expect(stderr).toMatch(/Error: InterruptionError: The run was interrupted/);
      }, 30_000);

      it("Migrating runs the exported assistant's definition on the Responses API", async () => {
        fx.emulator.clearRecords();
        const { stdout, stderr, code } = await execute(file('migrating'));
        expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
        expect(stdout).toBe('You said: What can you do?');
        const created = fx.emulator.requests.filter((r) => r.path === '/v1/responses');
        expect(created.map((r) => r.body)).toEqual([
          expect.objectContaining({
            model: 'gpt-5.6-terra',
            instructions: 'You are the migrated assistant.',
            tools: [{ type: 'file_search', vector_store_ids: ['vs_migrated'] }],
            safety_identifier: expect.stringMatching(/^[0-9a-f]{32}$/),
          }),
        ]);
      });

      it('Error handling reports the failed run with its id', async () => {
        const { stderr, code } = await execute(file('error-handling'));
        expect(code).toBe(0);
        expect(stderr).toMatch(
          api !== 'responses' ? /Run failed: run_\w+/ : /Run failed: resp_\w+/,
        );
      });
    },
  );
});
