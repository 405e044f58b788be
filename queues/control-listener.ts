/**
 * The worker's side of a run's control stream: the room's tool outputs go to the run, a cancel
 * cancels it. Read by the worker's one StreamReader, from the id begin-run.lua returned, so a
 * message sent before the run began is neither missed nor read twice.
 */
import type { BackendRun } from '../src/backends/backend.js';
import type { Logger } from '../src/logger.js';
import type { StreamReader } from './stream-reader.js';
import { controlCodec } from './stream-codec.js';
import type { RunMeter } from './worker-metrics.js';

export interface ControlTarget {
  runId: string;
  run: BackendRun;
  meter: RunMeter;
  logger: Logger;
}

/** Obeys the control stream `key` after `fromId` until the returned function is called. */
export function listenForControl(
  reader: StreamReader,
  key: string,
  fromId: string,
  { runId, run, meter, logger }: ControlTarget,
): () => void {
  return reader.subscribe(
    key,
    (id, fields) => {
      const message = controlCodec.decode(fields);
      if (!message) {
        // Logged and skipped: only a room writes here, and a bad entry must not stop the run.
        logger.warn('ignored a malformed control message', { runId, id });
        return;
      }
      if (message.type === 'cancel') {
        // cancel() does not reject; the run's iteration ends with run.cancelled, which the
        // worker publishes like any other event.
        void run.cancel();
        return;
      }
      meter.toolOutputsArrived();
      try {
        run.submitToolOutputs(message.outputs);
      } catch (error) {
        logger.warn('tool outputs for a run that does not wait for them', {
          runId,
          error: (error as Error).message,
        });
      }
    },
    fromId,
  );
}
