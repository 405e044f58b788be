/**
 * The worker's side of a run's control stream: the room's tool outputs go to the run, a cancel
 * cancels it. Read by the worker's one StreamReader, from the id begin-run.lua returned (from
 * the start on a takeover, so that outputs the room sent to a lost attempt are not asked for
 * twice), so a message sent before the run began is neither missed nor read twice.
 *
 * Outputs are kept by call id and handed to the run once it waits for all of the calls it
 * named: a takeover replays the run's events, and outputs read before the replay reaches
 * `tool_outputs.required` wait for it.
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

export class ControlListener {
  readonly #target: ControlTarget;
  readonly #unsubscribe: () => void;
  /** Outputs the room sent, by call id. */
  readonly #outputs = new Map<string, string>();
  /** The calls the run waits for, until their outputs are handed over. */
  #waiting: string[] | null = null;

  /** Obeys the control stream `key` after `fromId` until stop() is called. */
  constructor(reader: StreamReader, key: string, fromId: string, target: ControlTarget) {
    this.#target = target;
    this.#unsubscribe = reader.subscribe(key, (id, fields) => this.#obey(id, fields), fromId);
  }

  /** The run waits for these calls' outputs: they go to it as soon as all are here. */
  expect(callIds: string[]): void {
    this.#waiting = callIds;
    this.#handOver();
  }

  stop(): void {
    this.#unsubscribe();
  }

  #obey(id: string, fields: string[]): void {
    const { runId, run, logger } = this.#target;
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
    for (const { toolCallId, output } of message.outputs) this.#outputs.set(toolCallId, output);
    this.#handOver();
  }

  #handOver(): void {
    const waiting = this.#waiting;
    if (!waiting || !waiting.every((id) => this.#outputs.has(id))) return;
    this.#waiting = null;
    const { runId, run, meter, logger } = this.#target;
    meter.toolOutputsArrived();
    try {
      run.submitToolOutputs(
        waiting.map((toolCallId) => ({ toolCallId, output: this.#outputs.get(toolCallId)! })),
      );
    } catch (error) {
      logger.warn('tool outputs for a run that does not wait for them', {
        runId,
        error: (error as Error).message,
      });
    }
  }
}
