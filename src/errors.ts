/**
 * The errors a caller sees. AssistantError is the base; RunError and InterruptionError are the
 * seed's; ConfigError names the option that is wrong. runErrorOf turns a failed run into one,
 * by the table in failures.ts.
 */
import { FAILURES, type RunFailure, type RunFailureCode } from './failures.js';

/** The base of every error the plugin raises; `code` says which failure it was. */
export class AssistantError extends Error {
  /** OpenAI's error code when there was one (for example `rate_limit_exceeded`). */
  readonly code: string | undefined;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
  }
}

/** Bad options or input. `field` is the path of the offending value, e.g. `tools[1].function.name`. */
export class ConfigError extends AssistantError {
  readonly field: string;

  constructor(field: string, expectation: string) {
    super(`${field}: ${expectation}`, { code: 'invalid_config' });
    this.field = field;
  }
}

/** A run ended without completing: it failed, expired, was cancelled upstream, or could not run. */
export class RunError extends AssistantError {
  readonly runId: string | undefined;
  /** Why: one of RUN_FAILURE_CODES (the README's error table says what each means). */
  readonly reason: RunFailureCode;
  /** HTTP status of the API error behind this failure, when there was one. */
  readonly status: number | undefined;
  /** True when nothing was produced and the failure is transient: sending the message again may work. */
  readonly retryable: boolean;

  constructor(
    message: string,
    options: {
      runId?: string;
      reason: RunFailureCode;
      code?: string;
      status?: number;
      retryable?: boolean;
      cause?: unknown;
    },
  ) {
    super(message, options);
    this.runId = options.runId;
    this.reason = options.reason;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}

/** The caller's run was interrupted, by interrupt() or by a newer message that may interrupt. */
export class InterruptionError extends AssistantError {
  readonly runId: string | undefined;

  constructor(message = 'The run was interrupted', runId?: string) {
    super(message, { code: 'interrupted' });
    this.runId = runId;
  }
}

/** The server does not speak the Assistants API (OpenAI shut it down on 2026-08-26). */
export class AssistantsApiUnavailableError extends AssistantError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'assistants_api_unavailable', cause });
  }
}

/**
 * The caller's error for a failed run. `code` is OpenAI's code when the failure carried one,
 * else the reason.
 */
export function runErrorOf(failure: RunFailure): AssistantError {
  if (FAILURES[failure.reason].error === 'AssistantsApiUnavailableError')
    return new AssistantsApiUnavailableError(failure.message);
  return new RunError(failure.message, {
    reason: failure.reason,
    code: failure.code ?? failure.reason,
    retryable: failure.retryable,
    ...(failure.runId !== undefined ? { runId: failure.runId } : {}),
    ...(failure.status !== undefined ? { status: failure.status } : {}),
  });
}
