import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { cli, exited, startCli } from './support/cli.js';

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
  });

  it('runs the emulator until SIGTERM; the official SDK talks to it', async () => {
    const { child, match } = await startCli(
      ['emulator', '--port', '0'],
      /listening on (http:\/\/\S+)/,
    );
    try {
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

  it('demo: on the Responses backend too', async () => {
    const demo = await cli(['demo', '--api', 'responses', '--token-delay-ms', '5']);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toContain('[tool call] search_knowledge_base');
    expect(demo.stdout).toMatch(/Thread conv_\w+ holds the whole conversation/);
  });
});
