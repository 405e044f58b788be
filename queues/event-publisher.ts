/**
 * Appends a run's events to the inbox of the room process that started it, tagged with the run
 * id and numbered, through append-event.lua: an attempt that another worker's later attempt has
 * superseded writes nothing (the fence), and nothing is written to an inbox that is gone.
 * Commands are sent plainly (no explicit pipeline) so that a connection with auto-pipelining
 * sends the events of all the runs a worker streams at once in one write.
 */
import type { FleetRedis } from './connection.js';
import type { RunEvent, RunEventBody } from '../src/events.js';
import { INBOX_MAXLEN, INBOX_TTL_MS, type Keys } from './keys.js';
import { withScripts, type ScriptedRedis } from './scripts.js';
import { inboxCodec } from './stream-codec.js';

/**
 * Sequence numbers of attempt n start above n * ATTEMPT_SPAN, so the room can tell attempts
 * apart and see a gap within one.
 */
export const ATTEMPT_SPAN = 1_000_000_000;

/** What became of an append: written, refused by the fence, or no inbox to write to. */
export type Delivery = 'delivered' | 'superseded' | 'no inbox';

const DELIVERY = { 1: 'delivered', 0: 'superseded', [-1]: 'no inbox' } as const;

export class EventPublisher {
  readonly #redis: ScriptedRedis;
  readonly #inbox: string;
  readonly #fence: string;
  readonly #runId: string;
  readonly #attempt: number;
  #seq: number;

  constructor(redis: FleetRedis, keys: Keys, inbox: string, runId: string, attempt: number) {
    this.#redis = withScripts(redis);
    this.#inbox = inbox;
    this.#fence = keys.fence(inbox);
    this.#runId = runId;
    this.#attempt = attempt;
    this.#seq = attempt * ATTEMPT_SPAN;
  }

  /** The inbox the events go to. */
  get inbox(): string {
    return this.#inbox;
  }

  /**
   * Raises the fence to this attempt without an event: a worker taking a run over calls this
   * first, so that nothing the earlier attempt still sends reaches the room.
   */
  claim(): Promise<Delivery> {
    return this.#append([]);
  }

  /**
   * Appends one event; a `text.delta` carries `textOffset`, where its text starts in the run's
   * text. A refused event keeps its number, so the next one does not look like a gap.
   */
  async publish(body: RunEventBody, textOffset?: number): Promise<Delivery> {
    const event: RunEvent = { ...body, seq: this.#seq + 1 };
    const delivery = await this.#append(
      inboxCodec.encode({
        runId: this.#runId,
        event,
        ...(textOffset === undefined ? {} : { textOffset }),
      }),
    );
    if (delivery === 'delivered') this.#seq++;
    return delivery;
  }

  /** True while the room's inbox exists (its room process is alive, or back after a Redis restart). */
  async roomAlive(): Promise<boolean> {
    return (await this.#redis.exists(this.#inbox)) === 1;
  }

  async #append(fields: string[]): Promise<Delivery> {
    const reply = await this.#redis.appendEvent(
      this.#inbox,
      this.#fence,
      this.#runId,
      this.#attempt,
      INBOX_MAXLEN,
      INBOX_TTL_MS,
      ...fields,
    );
    return DELIVERY[reply];
  }
}
