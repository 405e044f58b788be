/**
 * A takeover: a worker began this run before and was lost (it died, stalled, or handed the run
 * back at shutdown). What it left in Redis says what to do:
 * - nothing, or a marker whose request never reached the server: start the run;
 * - a checkpoint, or a request the server has (a run found by its tag, a response whose id the
 *   lost worker never learnt, found by its message): continue the run from there, if the
 *   backend can (Responses in background mode, Assistants);
 * - otherwise the run must not start again (the user's message would be in the thread twice):
 *   it is ended upstream and the room told it was lost.
 */
import type { Backend, RunCheckpoint, RunRequest } from '../src/backends/backend.js';
import { workerLost, type RunFailure } from '../src/failures.js';
import type { Logger } from '../src/logger.js';
import { PENDING } from './run-start.js';

/** How long a takeover waits before it looks again for a request the lost attempt sent. */
export const PENDING_SETTLE_MS = 1_000;

export type Takeover =
  /** No attempt before this one, or the one before never reached the server: start the run. */
  | { kind: 'start' }
  /** Continue the run upstream from `checkpoint`. */
  | { kind: 'resume'; checkpoint: RunCheckpoint }
  /** The run is lost: `failure` goes to the room and the job fails; nothing is sent upstream. */
  | { kind: 'lost'; failure: RunFailure };

export interface TakeoverInput {
  backend: Backend;
  /** What the lost attempt left: PENDING, a checkpoint (JSON), or null on a first start. */
  marker: string | null;
  runId: string;
  request: RunRequest;
  threadId: string | undefined;
  /** The newest thread item the session's previous run saw, if stored (RunRequest.after). */
  after?: string | undefined;
  logger: Logger;
}

/** Decides how the run goes on after a lost attempt; ends it upstream when it cannot. */
export async function settleLostAttempt(input: TakeoverInput): Promise<Takeover> {
  const { backend, marker, runId, request, threadId, logger } = input;
  if (!marker) return { kind: 'start' };
  let checkpoint = parseCheckpoint(marker);
  if (marker === PENDING) {
    if (!threadId) return { kind: 'start' };
    const asked = { ...request, tag: runId, ...(input.after ? { after: input.after } : {}) };
    try {
      checkpoint = await backend.findStarted(threadId, asked);
      // The lost attempt may have been slow rather than dead, its request still on its way:
      // look again a little later before starting a second one.
      if (!checkpoint) {
        await new Promise((resolve) => setTimeout(resolve, PENDING_SETTLE_MS));
        checkpoint = await backend.findStarted(threadId, asked);
      }
    } catch (error) {
      // Not knowing is not "never started": starting again could add the message twice.
      logger.warn(
        'could not tell whether the lost attempt reached the server; the run ends as lost',
        { runId, error: (error as Error).message },
      );
      return { kind: 'lost', failure: workerLost(undefined, 'unchecked') };
    }
    if (!checkpoint) return { kind: 'start' };
  }
  if (checkpoint && backend.resumable) return { kind: 'resume', checkpoint };
  // A marker from an older version is the upstream id alone: it can be ended, not continued.
  const upstream =
    checkpoint?.upstreamId ?? (checkpoint || marker === PENDING ? undefined : marker);
  const thread = checkpoint?.threadId ?? threadId;
  if (thread && upstream) {
    try {
      await backend.abandon(thread, upstream);
    } catch (error) {
      // Logged; the room still hears that the run was lost. An upstream run left active ends
      // by itself (it expires), and until then the session's next run waits for the thread.
      logger.warn('could not end the lost attempt upstream', {
        runId,
        upstreamRunId: upstream,
        error: (error as Error).message,
      });
    }
  }
  return { kind: 'lost', failure: workerLost(upstream, 'ended') };
}

/** A checkpoint as RunRecord stored it; null for PENDING or anything else. */
function parseCheckpoint(marker: string): RunCheckpoint | null {
  if (!marker.startsWith('{')) return null;
  try {
    const value = JSON.parse(marker) as Partial<RunCheckpoint>;
    const { threadId, upstreamId, afterItemId, segment, textOffset } = value;
    if (
      typeof threadId === 'string' &&
      (typeof upstreamId === 'string' || typeof afterItemId === 'string') &&
      Number.isInteger(segment) &&
      Number.isInteger(textOffset)
    )
      return {
        threadId,
        ...(typeof upstreamId === 'string' ? { upstreamId } : { afterItemId: afterItemId! }),
        segment: segment!,
        textOffset: textOffset!,
      };
  } catch {
    // Handled: an unreadable marker is treated as an unknown one below (the run ends as lost).
  }
  return null;
}
