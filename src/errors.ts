/**
 * The errors a caller sees. AssistantError is the base; RunError and InterruptionError are the
 * seed's; ConfigError names the option that is wrong.
 */

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

export type RunEndReason = 'failed' | 'expired' | 'incomplete' | 'cancelled';

/** A run ended upstream without completing. */
export class RunError extends AssistantError {
  readonly runId: string | undefined;
  readonly reason: RunEndReason;
  /** HTTP status of the API error behind this failure, when there was one. */
  readonly status: number | undefined;

  constructor(
    message: string,
    options: {
      runId?: string;
      reason: RunEndReason;
      code?: string;
      status?: number;
      cause?: unknown;
    },
  ) {
    super(message, options);
    this.runId = options.runId;
    this.reason = options.reason;
    this.status = options.status;
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

  static at(baseURL: string, cause?: unknown): AssistantsApiUnavailableError {
    return new AssistantsApiUnavailableError(
      `The Assistants API is not available at ${baseURL}: OpenAI shut it down on 2026-08-26. ` +
        `Switch to the Responses backend: new AssistantLLM({ api: 'responses', model: '...', ` +
        `instructions: '...', tools }) (see "Migrating to the Responses API" in the README), or ` +
        `point baseURL at a server that still serves the Assistants API.`,
      cause,
    );
  }
}
