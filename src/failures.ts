/**
 * Why a run ends without completing. The closed list of reasons, the one table that says what
 * each becomes for the caller (which error, which of the framework's APIErrors, retryable or
 * not), and the only constructors of a `run.failed` event: backends, transports and the fleet
 * build their failures here, never by hand.
 *
 * Nothing here imports @livekit/agents or the fleet: fleet workers load this module too.
 */
import OpenAI from 'openai';

/** Every reason a run can fail for. The README's error table lists each one. */
export const RUN_FAILURE_CODES = [
  'failed',
  'expired',
  'incomplete',
  'cancelled',
  'api_error',
  'timeout',
  'connection_error',
  'tool_output_timeout',
  'assistants_api_unavailable',
  'queue_error',
  'queue_timeout',
  'cancel_timeout',
  'worker_lost',
  'lock_lost',
  'events_lost',
] as const;

/** Why a run failed: one of RUN_FAILURE_CODES. */
export type RunFailureCode = (typeof RUN_FAILURE_CODES)[number];

/** The `run.failed` event. Build it with the functions below. */
export interface RunFailure {
  type: 'run.failed';
  runId?: string;
  /** Why the run failed. */
  reason: RunFailureCode;
  /**
   * OpenAI's own code when the failure carried one: an API error's code (`rate_limit_exceeded`),
   * a failed run's `last_error.code`, an incomplete run's reason (`max_output_tokens`).
   */
  code?: string;
  message: string;
  /** HTTP status when the failure was an API error. */
  status?: number;
  /** True when nothing was produced yet and the failure is transient: the same turn may be sent again. */
  retryable: boolean;
}

/** When a failure may be retried. */
type RetryRule = 'never' | 'before_output' | 'transient_before_output';

export interface FailureRule {
  /** What process() throws: RunError, or the error that explains the missing Assistants API. */
  error: 'RunError' | 'AssistantsApiUnavailableError';
  /**
   * What chat() raises, so the framework's retry policy applies: `status` is APIStatusError
   * when the failure has an HTTP status (APIError otherwise).
   */
  framework: 'APITimeoutError' | 'APIConnectionError' | 'status' | 'APIError';
  retry: RetryRule;
}

const RUN: FailureRule = { error: 'RunError', framework: 'APIError', retry: 'never' };

/** The one mapping from a reason to the caller's error and the framework's. */
export const FAILURES: Readonly<Record<RunFailureCode, FailureRule>> = {
  failed: RUN,
  expired: RUN,
  incomplete: RUN,
  cancelled: RUN,
  api_error: { error: 'RunError', framework: 'status', retry: 'transient_before_output' },
  timeout: { error: 'RunError', framework: 'APITimeoutError', retry: 'before_output' },
  connection_error: { error: 'RunError', framework: 'APIConnectionError', retry: 'before_output' },
  tool_output_timeout: RUN,
  assistants_api_unavailable: {
    error: 'AssistantsApiUnavailableError',
    framework: 'status',
    retry: 'never',
  },
  queue_error: RUN,
  queue_timeout: RUN,
  cancel_timeout: RUN,
  worker_lost: RUN,
  lock_lost: RUN,
  events_lost: RUN,
};

/** 408, 429 and 5xx (or no status at all) may pass if tried again. */
function transient(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

/**
 * Builds a failure. `beforeOutput` says that the run produced nothing yet (no text, no tool
 * call); with the table's rule and the status it decides `retryable`. Absent values (undefined
 * or an API's null) are left out, so the event stays plain JSON.
 */
export function runFailure(
  reason: RunFailureCode,
  message: string,
  extra: {
    runId?: string | undefined;
    code?: string | null | undefined;
    status?: number | undefined;
    beforeOutput?: boolean;
  } = {},
): RunFailure {
  const rule = FAILURES[reason].retry;
  const beforeOutput = extra.beforeOutput === true;
  const retryable =
    rule === 'before_output'
      ? beforeOutput
      : rule === 'transient_before_output'
        ? beforeOutput && transient(extra.status)
        : false;
  return {
    type: 'run.failed',
    ...(extra.runId != null ? { runId: extra.runId } : {}),
    reason,
    ...(extra.code != null ? { code: extra.code } : {}),
    message,
    ...(extra.status != null ? { status: extra.status } : {}),
    retryable,
  };
}

/** What an upstream run (Assistants) or response (Responses) is called in messages. */
type Upstream = 'run' | 'response';

/** The upstream run or response failed, with OpenAI's error when it gave one. */
export function upstreamFailed(
  what: Upstream,
  runId: string | undefined,
  error: { code?: string | null; message?: string | null } | null | undefined,
): RunFailure {
  return runFailure('failed', error?.message ?? `The ${what} failed.`, {
    runId,
    code: error?.code,
  });
}

/** The upstream run or response ended incomplete; OpenAI's reason becomes the code. */
export function upstreamIncomplete(
  what: Upstream,
  runId: string | undefined,
  reason: string | null | undefined,
): RunFailure {
  return runFailure('incomplete', `The ${what} ended incomplete: ${reason ?? 'incomplete'}.`, {
    runId,
    code: reason,
  });
}

/** A stream that sent nothing for too long. */
export class StreamIdleError extends Error {
  constructor(ms: number) {
    super(`The stream sent nothing for ${ms} ms.`);
  }
}

/** The one translation of SDK and network errors into a failure. */
export function failureFromError(
  error: unknown,
  context: { runId?: string | undefined; beforeOutput: boolean },
): RunFailure {
  const extra = { runId: context.runId, beforeOutput: context.beforeOutput };
  const message = messageOf(error);
  if (error instanceof OpenAI.APIConnectionTimeoutError || error instanceof StreamIdleError) {
    return runFailure('timeout', message, extra);
  }
  if (error instanceof OpenAI.APIError && !(error instanceof OpenAI.APIConnectionError)) {
    return runFailure('api_error', message, {
      ...extra,
      code: typeof error.code === 'string' ? error.code : undefined,
      status: typeof error.status === 'number' ? error.status : undefined,
    });
  }
  // A connection error, or anything else that broke the stream.
  return runFailure('connection_error', message, extra);
}

/** The run waited longer than `ms` for tool outputs and was cancelled. */
export function toolOutputTimeout(runId: string | undefined, ms: number): RunFailure {
  return runFailure(
    'tool_output_timeout',
    `No tool outputs arrived within ${ms} ms; the run was cancelled.`,
    { runId },
  );
}

/** The run was cancelled upstream, by someone other than its caller. */
export function cancelledUpstream(runId: string | undefined): RunFailure {
  return runFailure('cancelled', 'The run was cancelled upstream', { runId });
}

/** The server does not serve the Assistants API routes. */
export function assistantsApiUnavailable(baseURL: string): RunFailure {
  return runFailure(
    'assistants_api_unavailable',
    `The Assistants API is not available at ${baseURL}: OpenAI shut it down on 2026-08-26. ` +
      `Switch to the Responses backend: new AssistantLLM({ api: 'responses', model: '...', ` +
      `instructions: '...', tools }) (see "Migrating to the Responses API" in the README), or ` +
      `point baseURL at a server that still serves the Assistants API.`,
    { status: 404 },
  );
}

/** Fleet: the job could not be added to the queue. */
export function queueError(error: unknown): RunFailure {
  return runFailure('queue_error', `Could not queue the run: ${messageOf(error)}`);
}

/** Fleet: no worker started the run in time. */
export function queueTimeout(ms: number): RunFailure {
  return runFailure(
    'queue_timeout',
    `No worker started the run within ${ms} ms; is a worker running (assistant-host worker)?`,
  );
}

/** Fleet: no worker confirmed a cancel in time. */
export function cancelTimeout(ms: number): RunFailure {
  return runFailure('cancel_timeout', `No worker confirmed the cancel within ${ms} ms.`);
}

const RETRY = 'Send the message again to retry.';

/**
 * Fleet: the worker running the run was lost. `ended`: the run reached the server and was ended
 * there; `unchecked`: whether it reached the server could not be checked, so it was not sent
 * again (sending it could put the message in the thread twice).
 */
export function workerLost(
  runId: string | undefined,
  how: 'ended' | 'unchecked' = 'ended',
): RunFailure {
  return runFailure(
    'worker_lost',
    how === 'ended'
      ? `The worker running this run stopped; the run was ended so the thread is free. ${RETRY}`
      : `The worker running this run stopped, and whether the run had reached the server could not be checked, so it was not sent again. ${RETRY}`,
    { runId },
  );
}

/**
 * Fleet: the worker lost the run's thread lock and stopped the run. `lapsed`: it could not
 * renew the lock in time; `taken`: another worker holds it now.
 */
export function lockLost(runId: string | undefined, why: 'lapsed' | 'taken'): RunFailure {
  return runFailure(
    'lock_lost',
    why === 'lapsed'
      ? `The worker could not renew the thread lock of the run (Redis did not answer in time), so it stopped the run. ${RETRY}`
      : `The thread lock of the run was taken from this worker, so it stopped the run. ${RETRY}`,
    { runId },
  );
}

/**
 * Fleet mode: the room found a gap in the run's events (Redis lost some, as an unsynchronised
 * replica promoted after a crash can); the reply is incomplete, so the run is not delivered as
 * if it were whole.
 */
export function eventsLost(runId: string | undefined): RunFailure {
  return runFailure(
    'events_lost',
    `Some of the run's events were lost on their way from the worker (Redis lost them), so the reply is incomplete. ${RETRY}`,
    { runId },
  );
}

export function messageOf(error: unknown): string {
  if (error instanceof OpenAI.APIError) {
    // The SDK prefixes the status; OpenAI's own message is clearer on its own.
    const inner = (error.error as { message?: unknown } | undefined)?.message;
    return typeof inner === 'string' ? inner : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
