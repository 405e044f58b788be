/** What a run job carries: enough to run it, nothing secret (the key lives in the worker's env). */
import type { RunRequest } from '../src/backends/backend.js';
import type { BackendConfig } from '../src/backends/config.js';
import type { SessionIdentity } from './keys.js';

export interface RunJobData {
  /** The session's key id (a digest), which names its Redis keys. */
  sid: string;
  /** Who the session is, for people reading Bull Board. */
  session: SessionIdentity;
  runId: string;
  request: RunRequest;
  backend: BackendConfig;
  /** When the room queued the run (ms since epoch). */
  queuedAt: number;
}

export type RunOutcome = 'completed' | 'failed' | 'cancelled';

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
