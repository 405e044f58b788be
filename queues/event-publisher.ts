/**
 * Appends a run's events to the inbox of the room process that started it, tagged with the run
 * id and numbered. Commands are sent plainly (no explicit pipeline) so that a connection with
 * auto-pipelining sends the events of all the runs a worker streams at once in one write.
 */
import type { Redis } from 'ioredis';
import type { RunEvent, RunEventBody } from '../src/events.js';
import { INBOX_MAXLEN } from './keys.js';
import { inboxCodec } from './stream-codec.js';

/**
 * Sequence numbers of attempt n start above n * ATTEMPT_SPAN: a worker that takes a run over
 * numbers its events after everything an earlier attempt sent, so the room drops nothing new
 * and nothing old is read twice.
 */
const ATTEMPT_SPAN = 1_000_000_000;

export class EventPublisher {
  readonly #redis: Redis;
  readonly #inbox: string;
  readonly #runId: string;
  #seq: number;

  constructor(redis: Redis, inbox: string, runId: string, attempt: number) {
    this.#redis = redis;
    this.#inbox = inbox;
    this.#runId = runId;
    this.#seq = attempt * ATTEMPT_SPAN;
  }

  async publish(body: RunEventBody): Promise<void> {
    const event: RunEvent = { ...body, seq: ++this.#seq };
    // NOMKSTREAM: the room creates its inbox and deletes it when it closes; a run whose room is
    // gone writes nothing, rather than a stream nobody reads.
    await this.#redis.xadd(
      this.#inbox,
      'NOMKSTREAM',
      'MAXLEN',
      '~',
      String(INBOX_MAXLEN),
      '*',
      ...inboxCodec.encode({ runId: this.#runId, event }),
    );
  }
}
