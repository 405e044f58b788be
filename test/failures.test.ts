/**
 * The failure table and its constructors, without a server: every code is documented in the
 * README, maps to one caller error and one framework error, and is retryable only by its rule.
 */
import { readFileSync } from 'node:fs';
import { APIConnectionError, APIStatusError, APITimeoutError } from '@livekit/agents';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { AssistantsApiUnavailableError, RunError, runErrorOf } from '../src/errors.js';
import {
  FAILURES,
  failureFromError,
  RUN_FAILURE_CODES,
  runFailure,
  StreamIdleError,
  type RunFailureCode,
} from '../src/failures.js';
import { frameworkErrorOf } from '../src/livekit-stream.js';

/** The rows of the README's reason table: reason → [meaning, retryable, with chat()]. */
function readmeReasons(): Map<string, string[]> {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('| reason ');
  expect(start, 'the README has a table headed "reason"').toBeGreaterThan(0);
  const rows = new Map<string, string[]>();
  for (const line of readme.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [reason, ...rest] = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    expect(rows.has(reason!), `${reason} is listed once`).toBe(false);
    rows.set(reason!.replace(/`/g, ''), rest);
  }
  return rows;
}

describe('the failure table', () => {
  it('the README lists every code, and only those, with its retry rule and framework error', () => {
    const rows = readmeReasons();
    expect([...rows.keys()].sort()).toEqual([...RUN_FAILURE_CODES].sort());
    for (const code of RUN_FAILURE_CODES) {
      const [, retryable, chat] = rows.get(code)!;
      const rule = FAILURES[code];
      expect(retryable === 'no', `${code}: retryable column`).toBe(rule.retry === 'never');
      const framework = rule.framework === 'status' ? 'APIStatusError' : rule.framework;
      expect(chat, `${code}: chat() column`).toContain(`\`${framework}\``);
    }
  });

  it.each(RUN_FAILURE_CODES)('maps %s to one caller error', (reason: RunFailureCode) => {
    const failure = runFailure(reason, 'what happened', { runId: 'run_1', status: 503 });
    const error = runErrorOf(failure);
    if (FAILURES[reason].error === 'AssistantsApiUnavailableError') {
      expect(error).toBeInstanceOf(AssistantsApiUnavailableError);
      expect(error).toMatchObject({ code: 'assistants_api_unavailable', message: 'what happened' });
      return;
    }
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({
      reason,
      code: reason,
      runId: 'run_1',
      status: 503,
      message: 'what happened',
    });
  });

  it("keeps OpenAI's own code beside the reason", () => {
    const error = runErrorOf(runFailure('failed', 'The model exploded.', { code: 'server_error' }));
    expect(error).toMatchObject({ reason: 'failed', code: 'server_error' });
  });

  it('leaves absent values out of the event, so it stays plain JSON', () => {
    const failure = runFailure('incomplete', 'cut short', { runId: undefined, code: null });
    expect(failure).toEqual({
      type: 'run.failed',
      reason: 'incomplete',
      message: 'cut short',
      retryable: false,
    });
  });
});

describe('failures from SDK and network errors', () => {
  const apiError = (status: number, code: string) =>
    OpenAI.APIError.generate(
      status,
      { error: { message: `status ${status}`, code } },
      undefined,
      new Headers(),
    );

  it('a client timeout or a silent stream is a timeout, retryable only before output', () => {
    for (const error of [new OpenAI.APIConnectionTimeoutError(), new StreamIdleError(300)]) {
      expect(failureFromError(error, { beforeOutput: true })).toMatchObject({
        reason: 'timeout',
        retryable: true,
      });
      expect(failureFromError(error, { beforeOutput: false }).retryable).toBe(false);
    }
  });

  it('an API error keeps its status and code; only 408, 429 and 5xx are retryable', () => {
    expect(
      failureFromError(apiError(429, 'rate_limit_exceeded'), { beforeOutput: true }),
    ).toMatchObject({
      reason: 'api_error',
      status: 429,
      code: 'rate_limit_exceeded',
      message: 'status 429',
      retryable: true,
    });
    expect(failureFromError(apiError(503, 'server_error'), { beforeOutput: true }).retryable).toBe(
      true,
    );
    expect(
      failureFromError(apiError(400, 'invalid_request'), { beforeOutput: true }).retryable,
    ).toBe(false);
    expect(
      failureFromError(apiError(429, 'rate_limit_exceeded'), { beforeOutput: false }).retryable,
    ).toBe(false);
  });

  it('a broken connection or anything else is a connection error', () => {
    const cause = new TypeError('fetch failed');
    for (const error of [new OpenAI.APIConnectionError({ cause }), new Error('stream ended')]) {
      expect(failureFromError(error, { runId: 'run_2', beforeOutput: true })).toMatchObject({
        reason: 'connection_error',
        runId: 'run_2',
        retryable: true,
      });
    }
  });
});

describe("the framework's errors", () => {
  it('picks the class from the table, retryable only by the rule and before anything was emitted', () => {
    const timeout = failureFromError(new StreamIdleError(300), { beforeOutput: true });
    expect(frameworkErrorOf(timeout, false)).toBeInstanceOf(APITimeoutError);
    expect(frameworkErrorOf(timeout, false).retryable).toBe(true);
    expect(frameworkErrorOf(timeout, true).retryable).toBe(false);

    const connection = failureFromError(new Error('reset'), { beforeOutput: true });
    expect(frameworkErrorOf(connection, false)).toBeInstanceOf(APIConnectionError);

    const status = runFailure('api_error', 'busy', { status: 503, beforeOutput: true });
    const statusError = frameworkErrorOf(status, false);
    expect(statusError).toBeInstanceOf(APIStatusError);
    expect(statusError).toMatchObject({ statusCode: 503, retryable: true });

    const unavailable = frameworkErrorOf(
      runFailure('assistants_api_unavailable', 'gone', { status: 404 }),
      false,
    );
    expect(unavailable).toMatchObject({ statusCode: 404, retryable: false });

    for (const reason of RUN_FAILURE_CODES.filter((r) => FAILURES[r].framework === 'APIError')) {
      const error = frameworkErrorOf(runFailure(reason, 'no', { runId: 'run_3' }), false);
      expect(error.constructor.name, reason).toBe('APIError');
      expect(error.retryable, reason).toBe(false);
      expect(error.body, reason).toMatchObject({ reason, runId: 'run_3' });
    }
  });
});
