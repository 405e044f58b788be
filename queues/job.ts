/** What a run job carries: enough to run it, nothing secret (the key lives in the worker's env). */
import type { RunRequest } from '../src/backends/backend.js';
import type { BackendConfig } from '../src/backends/config.js';
import type { RunOutcome } from '../src/events.js';
import { isUuid, type Keys, type SessionIdentity } from './keys.js';

export interface RunJobData {
  /** The session's key id (a digest), which names its Redis keys. */
  sid: string;
  /** Who the session is, for people reading Bull Board. */
  session: SessionIdentity;
  runId: string;
  /** The inbox of the room process that waits for the run's events. */
  replyTo: string;
  request: RunRequest;
  backend: BackendConfig;
  /** When the room queued the run (ms since epoch). */
  queuedAt: number;
}

export type { RunOutcome };

export interface RunJobResult {
  outcome: RunOutcome;
  threadId?: string;
  upstreamRunId?: string;
  /** ms from queued to the first event the worker published. */
  queueWaitMs: number;
  /** ms from the job's start to its end. */
  durationMs: number;
}

/** Messages from the room to the worker that owns a run. */
export type ControlMessage =
  | { type: 'tool_outputs'; outputs: Array<{ toolCallId: string; output: string }> }
  | { type: 'cancel' };

/**
 * What a worker checks before it acts on a job: the ids that name Redis keys must be the shapes
 * the room writes, and the inbox must be one under this worker's prefix, so that a job written
 * by hand cannot make a worker write into another session's keys. Returns the problem, if any.
 */
export function jobDataProblem(data: Partial<RunJobData>, keys: Keys): string | null {
  if (typeof data.sid !== 'string' || !/^[0-9a-f]{32}$/.test(data.sid))
    return `sid: expected 32 hex digits (a session id), got ${JSON.stringify(data.sid)}`;
  if (!isUuid(data.runId)) return `runId: expected a UUID, got ${JSON.stringify(data.runId)}`;
  if (!keys.isInbox(data.replyTo))
    return `replyTo: expected an inbox key ${keys.inbox('<uuid>')}, got ${JSON.stringify(data.replyTo)}`;
  if (typeof data.request?.message !== 'string') return 'request.message: expected a string';
  return null;
}
