/**
 * The worker's side of a run's control stream: the room's tool outputs go to the run, a cancel
 * cancels it.
 *
 * Each worker process has one control inbox, `<p>:worker:{<uuid>}:control`, read by its one
 * StreamReader (a single XREAD, one slot on Redis Cluster). begin-run.lua records it as the run's
 * owner; the room appends a control message to the run's own control stream (the durable record,
 * in the session's slot) and then nudges the owner's inbox with the run id. On a nudge the worker
 * reads the run's control stream after the last id it has seen (XRANGE), so nothing is read
 * twice; and it reads it once itself when it begins or takes over a run, so a message sent before
 * the owner was recorded is not missed either. Starting a run costs the same whatever the number
 * of runs: no reader has to be told about a new key.
 *
 * Outputs are kept by call id and handed to the run once it waits for all of the calls it
 * named: a takeover replays the run's events, and outputs read before the replay reaches
 * `tool_outputs.required` wait for it. The run's control stream is read from the id
 * begin-run.lua returned (from the start on a takeover, so that outputs the room sent to a lost
 * attempt are not asked for twice).
 */
import type { BackendRun } from '../src/backends/backend.js';
import type { Logger } from '../src/logger.js';
import type { FleetRedis } from './connection.js';
import type { Keys } from './keys.js';
import type { OnEntry, StreamReader } from './stream-reader.js';
import { controlCodec, nudgeCodec } from './stream-codec.js';
import type { RunMeter } from './worker-metrics.js';

export interface ControlTarget {
  runId: string;
  run: BackendRun;
  meter: RunMeter;
  logger: Logger;
}

type Entry = [id: string, fields: string[]];

interface Watch {
  key: string;
  lastId: string;
  onEntry: OnEntry;
  /** The read in progress; a nudge meanwhile asks for one more. */
  pulling: Promise<void> | null;
  again: boolean;
}

/** Entries read per XRANGE; a run's control stream rarely holds more than a few. */
const PAGE = 100;
/** The control inbox outlives a dead worker by at most this long. */
const INBOX_TTL_SECONDS = 600;
/** Nudges kept; the room appends with NOMKSTREAM and this cap. */
export const CONTROL_INBOX_MAXLEN = 10_000;

/** A worker process's control inbox and the runs it watches. */
export class ControlInbox {
  /** The inbox's key: what begin-run.lua records as a run's owner. */
  readonly key: string;
  readonly #redis: FleetRedis;
  readonly #logger: Logger;
  readonly #runs = new Map<string, Watch>();
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  #created: Promise<void>;
  /** Set when a read may have missed a nudge (reader or XRANGE errors): every run is read again. */
  #recheck = false;
  #ticks = 0;

  constructor(
    redis: FleetRedis,
    reader: StreamReader,
    keys: Keys,
    workerId: string,
    logger: Logger,
  ) {
    this.#redis = redis;
    this.#logger = logger;
    this.key = keys.workerControl(workerId);
    this.#created = this.#keep();
    // Reported by ready(); the housekeeping tick creates it again meanwhile.
    this.#created.catch(() => undefined);
    this.#unsubscribe = reader.subscribe(this.key, (_id, fields) => {
      const runId = nudgeCodec.decode(fields);
      const watch = runId === null ? undefined : this.#runs.get(runId);
      if (runId !== null && watch) this.#pull(runId, watch);
    });
    this.#timer = setInterval(() => this.#housekeeping(), 1_000);
    this.#timer.unref();
  }

  /** Resolves once the inbox exists: a run may name it as its owner only then. */
  ready(): Promise<void> {
    // A first attempt that failed (Redis not up yet) is made again.
    this.#created = this.#created.catch(() => this.#keep());
    return this.#created;
  }

  get size(): number {
    return this.#runs.size;
  }

  /**
   * Delivers the control messages of `runId` after `fromId`, in order and once each, until the
   * returned function is called; reads the stream once now.
   */
  watch(runId: string, key: string, fromId: string, onEntry: OnEntry): () => void {
    const watch: Watch = { key, lastId: fromId, onEntry, pulling: null, again: false };
    this.#runs.set(runId, watch);
    this.#pull(runId, watch);
    return () => {
      if (this.#runs.get(runId) === watch) this.#runs.delete(runId);
    };
  }

  /** A nudge may have been missed (the reader lost its connection): read every run again. */
  recheck(): void {
    this.#recheck = true;
  }

  #pull(runId: string, watch: Watch): void {
    if (watch.pulling) {
      watch.again = true;
      return;
    }
    watch.pulling = (async () => {
      do {
        watch.again = false;
        const entries = (await this.#redis.xrange(
          watch.key,
          `(${watch.lastId}`,
          '+',
          'COUNT',
          PAGE,
        )) as Entry[];
        for (const [id, fields] of entries) {
          if (this.#runs.get(runId) !== watch) return;
          watch.lastId = id;
          try {
            watch.onEntry(id, fields);
          } catch (error) {
            // One run's handler must not stop the others' control messages.
            this.#logger.warn('a control message handler failed', {
              runId,
              error: (error as Error).message,
            });
          }
        }
        if (entries.length === PAGE) watch.again = true;
      } while (watch.again && this.#runs.get(runId) === watch);
    })()
      .catch((error: Error) => {
        // Logged; the housekeeping tick reads the run's stream again from its last id.
        this.#logger.warn('could not read a run control stream; retrying', {
          runId,
          error: error.message,
        });
        this.#recheck = true;
      })
      .finally(() => (watch.pulling = null));
  }

  #housekeeping(): void {
    if (this.#recheck) {
      this.#recheck = false;
      for (const [runId, watch] of this.#runs) this.#pull(runId, watch);
    }
    if (++this.#ticks % 60 === 0) {
      this.#keep().catch((error: Error) =>
        // Logged; the next refresh tries again, long before the inbox would expire.
        this.#logger.warn('could not refresh the control inbox', { error: error.message }),
      );
    }
  }

  /** Creates the inbox (a first entry) or keeps it; it expires if this process dies. */
  async #keep(): Promise<void> {
    await this.#redis
      .multi()
      .xadd(
        this.key,
        'MAXLEN',
        '~',
        String(CONTROL_INBOX_MAXLEN),
        '*',
        'hello',
        String(process.pid),
      )
      .expire(this.key, INBOX_TTL_SECONDS)
      .exec();
  }

  /** Stops watching; deletes the inbox (rooms then nudge nobody; runs are handed back anyway). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#unsubscribe();
    this.#runs.clear();
    // It expires by itself, so a failed DEL is only logged.
    await this.#redis.del(this.key).catch((error: Error) =>
      this.#logger.debug('could not delete the control inbox; it expires', {
        error: error.message,
      }),
    );
  }
}

export class ControlListener {
  readonly #target: ControlTarget;
  readonly #unsubscribe: () => void;
  /** Outputs the room sent, by call id. */
  readonly #outputs = new Map<string, string>();
  /** The calls the run waits for, until their outputs are handed over. */
  #waiting: string[] | null = null;

  /**
   * Obeys the control stream `key` after `fromId` until stop() is called, through the worker's
   * control inbox (the one place that obeys control messages).
   */
  constructor(inbox: ControlInbox, key: string, fromId: string, target: ControlTarget) {
    this.#target = target;
    this.#unsubscribe = inbox.watch(target.runId, key, fromId, (id, fields) =>
      this.#obey(id, fields),
    );
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
