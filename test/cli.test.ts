import OpenAI from 'openai';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PREFIX, DEFAULT_QUEUE } from '../queues/keys.js';
import { demoScripts } from '../src/testing.js';
import { collect } from './support/assistant.js';
import { cli, exited, logLine, logRecords, startCli } from './support/cli.js';
import { startEmulator, TEST_API_KEY } from './support/emulator.js';
import { fleetLLM, REDIS_URL, startWorker, uniqueNames, workerArgs } from './support/fleet.js';

/** The TCP ports process `pid` listens on, from the socket table. */
function listeningPorts(pid: number): number[] {
  const table = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  return table
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => Number(line.trim().split(/\s+/)[3]!.split(':').at(-1)));
}

function metric(body: string, name: string): number {
  const line = body.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

describe('assistant-host CLI', () => {
  it('lists its commands, and each command has --help', async () => {
    const main = await cli(['--help']);
    expect(main.code).toBe(0);
    expect(main.stdout).toMatch(/Commands:\n\s+demo .*\n\s+emulator /);
    for (const command of ['demo', 'emulator']) {
      const help = await cli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: assistant-host ${command} [options]`);
    }
  });

  it('worker --help prints its usage and every option with its environment variable and default', async () => {
    // No OPENAI_API_KEY: help needs none, and starts no worker.
    const help = await cli(['worker', '--help']);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    const lines = help.stdout.split('\n');
    expect(lines[0]).toBe('Usage: assistant-host worker [options]');
    expect(help.stdout).toContain('Run assistant runs from the Redis queue');
    const option = (flag: string) => lines.find((l) => l.trimStart().startsWith(`${flag} `));
    for (const [name, env, fallback] of [
      ['redis', 'REDIS_URL', 'redis://127.0.0.1:6379'],
      ['concurrency', 'WORKER_CONCURRENCY', '50'],
      ['prefix', 'ASSISTANT_PREFIX', 'ast'],
      ['queue', 'ASSISTANT_QUEUE', 'assistant-runs'],
      ['log-level', 'LOG_LEVEL', 'info'],
      ['log-format', 'LOG_FORMAT', 'json'],
      ['http-host', 'WORKER_HTTP_HOST', '127.0.0.1'],
      ['http-port', 'WORKER_HTTP_PORT', '9464'],
      ['grace-ms', 'WORKER_GRACE_MS', '25000'],
    ]) {
      expect(option(`--${name} <value>`), name).toContain(`(env ${env}, default ${fallback})`);
    }
    expect(option('--http-port <value>')).toMatch(/-1 turns them off/);
    expect(option('--help')).toMatch(/Show this help$/);
    expect(help.stdout).not.toMatch(/worker ready/);
  });

  it('rejects unknown commands and bad settings naming the setting', async () => {
    const unknown = await cli(['wizard']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "wizard"/);
    const badPort = await cli(['emulator', '--port', 'eighty']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toBe(
      'assistant-host emulator: --port (EMULATOR_PORT): expected a whole number from 0 to 65535, got "eighty"\n',
    );
    const badEnv = await cli(['emulator'], { EMULATOR_PROTOCOLS: 'soap' });
    expect(badEnv.stderr).toMatch(
      /--protocols \(EMULATOR_PROTOCOLS\): expected 'assistants' and\/or 'responses', got "soap"/,
    );
    const badRedis = await cli(['worker'], { OPENAI_API_KEY: 'sk-x', REDIS_URL: 'http://nope' });
    expect(badRedis.code).toBe(2);
    expect(badRedis.stderr).toMatch(
      /--redis \(REDIS_URL\): expected a redis:\/\/ or rediss:\/\/ URL/,
    );
    const badPrefix = await cli(['worker', '--prefix', 'a b'], { OPENAI_API_KEY: 'sk-x' });
    expect(badPrefix.stderr).toMatch(/--prefix \(ASSISTANT_PREFIX\): expected 1 to 64 letters/);
    const badFlag = await cli(['demo', '--colour']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/Unknown option '--colour'/);
  }, 120_000); // six CLI processes one after the other: allow for a loaded machine

  it('takes negative numbers as flag values in every command, and checks them like any value', async () => {
    // parseArgs alone calls `--port -1` ambiguous; each of these must reach the setting's check.
    const cases: Array<[string[], string]> = [
      [
        ['emulator', '--port', '-1'],
        'assistant-host emulator: --port (EMULATOR_PORT): expected a whole number from 0 to 65535, got "-1"\n',
      ],
      [
        ['demo', '--token-delay-ms', '-1'],
        'assistant-host demo: --token-delay-ms (EMULATOR_TOKEN_DELAY_MS): expected a whole number from 0 to 10000, got "-1"\n',
      ],
      [
        ['board', '--port', '-1'],
        'assistant-host board: --port (BOARD_PORT): expected a whole number from 0 to 65535, got "-1"\n',
      ],
      [
        ['worker', '--concurrency', '-4'],
        'assistant-host worker: --concurrency (WORKER_CONCURRENCY): expected a whole number from 1 to 10000, got "-4"\n',
      ],
      // -1 is the lowest --http-port; below it is refused.
      [
        ['worker', '--http-port', '-2'],
        'assistant-host worker: --http-port (WORKER_HTTP_PORT): expected a whole number from -1 to 65535, got "-2"\n',
      ],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    expect(results.map((r) => ({ code: r.code, stderr: r.stderr }))).toEqual(
      cases.map(([, stderr]) => ({ code: 2, stderr })),
    );
    // A value that starts with '-' is still the flag's value, whatever it looks like.
    const dashed = await cli(['board', '--port', '--help']);
    expect(dashed.stderr).toMatch(/--port \(BOARD_PORT\): expected a whole number .* got "--help"/);
  }, 120_000);

  it('worker --http-port -1, as its help offers, runs with /healthz, /readyz and /metrics off', async () => {
    const fx = await startEmulator();
    const off = uniqueNames('http-off');
    const env = { OPENAI_API_KEY: TEST_API_KEY, OPENAI_BASE_URL: fx.baseURL, REDIS_URL };
    // The same worker with --http-port 0 shows what the socket check sees when the port is on.
    const [worker, reference] = await Promise.all([
      startCli(workerArgs(off, '-1'), /"msg":"worker ready"[^\n]*\n/, env),
      startWorker(uniqueNames('http-on'), fx.baseURL),
    ]);
    try {
      expect(logRecords(worker.output()).find((r) => r.msg === 'worker ready')).not.toHaveProperty(
        'healthUrl',
      );
      expect(listeningPorts(worker.child.pid!)).toEqual([]);
      expect(listeningPorts(reference.child.pid!)).toEqual([
        Number(new URL(reference.healthURL).port),
      ]);
      // It still serves runs.
      const llm = fleetLLM('assistants', off, { room: 'cli', participant: `p-${Date.now()}` });
      try {
        expect(await collect(llm.process('ports off'))).toBe('You said: ports off');
      } finally {
        await llm.aclose();
      }
      worker.child.kill('SIGTERM');
      expect(await exited(worker.child)).toBe(0);
      expect(worker.output()).toMatch(/"handedBack":0,"msg":"worker stopped/);
    } finally {
      worker.child.kill('SIGKILL');
      await reference.stop();
      await fx.emulator.close();
    }
  }, 60_000);

  it('runs the emulator until SIGTERM; the official SDK talks to it', async () => {
    const { child, match, output } = await startCli(
      ['emulator', '--port', '0'],
      logLine('OpenAI-compatible emulator listening', 'url'),
    );
    try {
      // A JSON line from pino, named after the command.
      expect(logRecords(output())[0]).toMatchObject({
        level: 30,
        name: 'assistant-host emulator',
        pid: child.pid,
        assistantId: 'asst_emulator',
      });
      const client = new OpenAI({ apiKey: 'sk-anything', baseURL: match[1]!, maxRetries: 0 });
      const response = await client.responses.create({
        model: 'emulator-1',
        input: 'Tell me about TypeScript',
      });
      expect(response.output_text).toMatch(/^TypeScript is JavaScript with syntax for types/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
  });

  it('demo: without OPENAI_API_KEY it starts the local server and shows text, tool calls and an interruption', async () => {
    const demo = await cli(['demo', '--token-delay-ms', '5']);
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(
      /No OPENAI_API_KEY is set, so this demo uses the local OpenAI-compatible server/,
    );
    expect(demo.stdout).toContain('[tool call] get_weather({"location":"Paris","unit":"celsius"})');
    expect(demo.stdout).toContain('[tool output] {"location":"Paris","temperature":18');
    expect(demo.stdout).toContain('[code_interpreter] sum(range(10)) -> 45');
    expect(demo.stdout).toMatch(/word1 word2 .* \[interrupted\]/);
    expect(demo.stdout).toMatch(/Thread thread_\w+ holds the whole conversation/);
  });

  it('demo --fleet: without OPENAI_API_KEY the conversation goes through a worker to the local server; the worker counts its runs', async () => {
    const fx = await startEmulator({ scripts: demoScripts(), tokenDelayMs: 5 });
    // The demo uses the default prefix and queue: a Redis database of its own keeps this run
    // apart from other suites (and benchmarks) on database 0.
    const url = new URL(REDIS_URL);
    url.pathname = '/11';
    const redis = url.toString();
    const worker = await startWorker(
      { prefix: DEFAULT_PREFIX, queue: DEFAULT_QUEUE },
      fx.baseURL,
      [],
      { REDIS_URL: redis },
    );
    try {
      const demo = await cli(['demo', '--fleet', redis]);
      expect(demo.stderr).toBe('');
      expect(demo.code).toBe(0);
      const out = demo.stdout;
      expect(out).toContain(
        `Fleet mode: runs go through ${redis} to assistant-host worker processes.`,
      );
      expect(out).not.toMatch(/No OPENAI_API_KEY is set/);
      expect(out).toContain('Backend: assistants.');
      expect(out).toContain(
        '> You: Tell me about TypeScript\n< Assistant: TypeScript is JavaScript with syntax for types',
      );
      expect(out).toContain('[tool call] get_weather({"location":"Paris","unit":"celsius"})');
      expect(out).toContain(
        '[tool output] {"location":"Paris","temperature":18,"unit":"celsius","sky":"partly cloudy"}',
      );
      // The room's tool output went back through Redis to the worker and into the reply.
      expect(out).toContain('The weather service says: {"location":"Paris","temperature":18');
      expect(out).toContain('[tool call] search_knowledge_base');
      expect(out).toContain('From the knowledge base: {"results":["TypeScript adds static types');
      expect(out).toContain('[code_interpreter] sum(range(10)) -> 45');
      expect(out).toContain('[file_search] style.md (0.82)');
      expect(out).toMatch(/< Assistant: word1 word2 .* \[interrupted\]\n/);
      expect(out).not.toContain('word120');
      expect(out).toContain('> You: Thanks!\n< Assistant: You said: Thanks!');
      expect(out).toMatch(/Thread thread_\w+ holds the whole conversation/);

      // The numbers the README quotes after the demo.
      const scrape = async () => (await fetch(`${worker.healthURL}/metrics`)).text();
      const ended = (outcome: string) =>
        `assistant_runs_ended_total{api="assistants",outcome="${outcome}"}`;
      await expect.poll(async () => metric(await scrape(), ended('completed'))).toBe(5);
      const body = await scrape();
      expect(metric(body, 'assistant_runs_started_total{api="assistants"}')).toBe(6);
      expect(metric(body, ended('cancelled'))).toBe(1);
      expect(metric(body, ended('failed'))).toBeNaN();
      expect(metric(body, 'assistant_tool_round_trip_seconds_count')).toBe(2);
      expect(metric(body, 'assistant_active_sessions')).toBe(0);
    } finally {
      await worker.stop();
      await fx.emulator.close();
    }
  }, 60_000);

  it('demo: on the Responses backend too', async () => {
    const demo = await cli(['demo', '--api', 'responses', '--token-delay-ms', '5']);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toContain('[tool call] search_knowledge_base');
    expect(demo.stdout).toMatch(/Thread conv_\w+ holds the whole conversation/);
  });
});
