/**
 * Logs fit LiveKit: in a LiveKit process the plugin writes through @livekit/agents' pino logger
 * (which carries the job's context), a `logger` option still wins, and the service commands
 * write pino's JSON lines, or readable lines on request.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AssistantLLM, ConfigError, pinoLogger } from '../src/index.js';
import { cli, exited, logRecords, ROOT, startCli } from './support/cli.js';

const run = promisify(execFile);

/** A Responses assistant whose options make the plugin warn at once (file_search without stores). */
const WARNS = `{ api: 'responses', model: 'm', apiKey: 'sk-x', tools: [{ type: 'file_search' }] }`;

describe('the plugin logs', () => {
  it("through @livekit/agents' logger once it is initialized, with the job's context; a logger option wins; the console before", async () => {
    const index = JSON.stringify(pathToFileURL(join(ROOT, 'src/index.ts')).href);
    // A job process replaces the framework's logger with a child carrying the job's id and
    // room; setting that child here is what the job process does (log_core's logger slot).
    const script = `
      const { AssistantLLM } = await import(${index});
      const agents = await import('@livekit/agents');
      const before = new AssistantLLM(${WARNS});
      agents.initializeLogger({ pretty: false, level: 'info' });
      const inJob = new AssistantLLM(${WARNS});
      globalThis[Symbol.for('@livekit/agents:logger')] = agents.log().child({ jobID: 'AJ_test', room_id: 'RM_test' });
      const laterInJob = new AssistantLLM(${WARNS});
      const lines = [];
      const own = { debug() {}, info() {}, warn: (m) => lines.push(m), error() {} };
      const overridden = new AssistantLLM({ ...${WARNS}, logger: own });
      console.error('own logger got ' + lines.length);
      await Promise.all([before, inJob, laterInJob, overridden].map((l) => l.aclose()));`;
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, timeout: 60_000 },
    );
    // Before initializeLogger(): the console, as before.
    expect(stderr).toMatch(/^\[assistant\] warn: file_search with api: 'responses'/);
    expect(stderr).toContain('own logger got 1\n');
    // After: pino's JSON lines on stdout, at warn (40), tagged as the plugin's.
    const records = logRecords(stdout);
    expect(records).toHaveLength(2);
    for (const record of records) {
      expect(record).toMatchObject({ level: 40, plugin: 'assistant' });
      expect(record.msg).toMatch(/^file_search with api: 'responses' searches only/);
    }
    expect(records[0]).not.toHaveProperty('jobID');
    // The job's logger, looked up at the time of the line, with its context.
    expect(records[1]).toMatchObject({ jobID: 'AJ_test', room_id: 'RM_test' });
  }, 60_000);

  it('takes a pino logger through pinoLogger(), and refuses a logger without the four methods', () => {
    const calls: unknown[][] = [];
    const at =
      (level: string) =>
      (...args: unknown[]) =>
        calls.push([level, ...args]);
    const logger = pinoLogger({
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    });
    const llm = new AssistantLLM({
      api: 'responses',
      model: 'm',
      apiKey: 'sk-x',
      tools: [{ type: 'file_search' }],
      logger,
    });
    void llm.aclose();
    expect(calls).toEqual([
      ['warn', {}, expect.stringMatching(/^file_search with api: 'responses'/)],
    ]);
    expect(
      () =>
        new AssistantLLM({
          api: 'responses',
          model: 'm',
          apiKey: 'sk-x',
          logger: { warn: () => undefined } as never,
        }),
    ).toThrow(ConfigError);
    expect(
      () =>
        new AssistantLLM({ api: 'responses', model: 'm', apiKey: 'sk-x', logger: 'pino' as never }),
    ).toThrow(/^logger: expected an object with debug, info, warn and error methods$/);
  });
});

describe('the service commands log', () => {
  it('readable lines with --log-format pretty', async () => {
    const { child, output } = await startCli(
      ['emulator', '--port', '0', '--log-format', 'pretty'],
      /emulator listening.*\n/,
    );
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    const lines = output().trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}OpenAI-compatible emulator listening; any bearer key is accepted url=http:\/\/127\.0\.0\.1:\d+\/v1 assistantId=asst_emulator protocols=\["assistants","responses"\]$/,
    );
    expect(lines.at(-1)).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}emulator stopped$/);
    expect(logRecords(output())).toEqual([]);
  });

  it('rejects an unknown format or level, naming the setting', async () => {
    const format = await cli(['emulator', '--port', '0'], { LOG_FORMAT: 'xml' });
    expect(format.code).toBe(2);
    expect(format.stderr).toBe(
      `assistant-host emulator: --log-format (LOG_FORMAT): expected 'json' or 'pretty', got "xml"\n`,
    );
    const level = await cli(['board', '--log-level', 'loud']);
    expect(level.code).toBe(2);
    expect(level.stderr).toBe(
      `assistant-host board: --log-level (LOG_LEVEL): expected 'debug', 'info', 'warn' or 'error', got "loud"\n`,
    );
  });
});
