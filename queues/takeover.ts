/**
 * A takeover: a worker began this run before and was lost (it died, or handed the run back at
 * shutdown). If that attempt may have reached the server, the run must not start again (the
 * user's message would be in the thread twice): it is ended there, and the room told so.
 */
import type { Backend, RunRequest } from '../src/backends/backend.js';
import { workerLost, type RunFailure } from '../src/failures.js';
import type { Logger } from '../src/logger.js';
import { PENDING } from './run-start.js';

export type Takeover =
  /** No attempt before this one, or the one before never reached the server: start the run. */
  | { lost: false }
  /** The run is lost: `failure` goes to the room and the job fails; nothing is sent upstream. */
  | { lost: true; failure: RunFailure };

export interface TakeoverInput {
  backend: Backend;
  /** What the lost attempt left: PENDING, the upstream run id, or null on a first start. */
  marker: string | null;
  runId: string;
  request: RunRequest;
  threadId: string | undefined;
  logger: Logger;
}

/** Decides whether the run may start, and ends the lost attempt upstream when it reached it. */
export async function settleLostAttempt(input: TakeoverInput): Promise<Takeover> {
  const { backend, marker, runId, request, threadId, logger } = input;
  if (!marker) return { lost: false };
  let upstream: string | null = marker === PENDING ? null : marker;
  if (marker === PENDING && threadId) {
    try {
      upstream = await backend.findStarted(threadId, { ...request, tag: runId });
    } catch (error) {
      // Not knowing is not "never started": starting again could add the message twice.
      logger.warn(
        'could not tell whether the lost attempt reached the server; the run ends as lost',
        { runId, error: (error as Error).message },
      );
      return { lost: true, failure: workerLost(undefined, 'unchecked') };
    }
  }
  if (!upstream) return { lost: false };
  if (threadId) {
    try {
      await backend.abandon(threadId, upstream);
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
  return { lost: true, failure: workerLost(upstream, 'ended') };
}
