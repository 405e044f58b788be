/**
 * Appends a run's events to the inbox of the room process that started it, tagged with the run
 * id and numbered. Commands are sent plainly (no explicit pipeline) so that a connection with
 * auto-pipelining sends the events of all the runs a worker streams at once in one write.
 */
import type { Redis } from 'ioredis';
import type { RunEvent, RunEventBody } from '../src/events.js';
import { INBOX_MAXLEN } from './keys.js';

/**
 * Sequence numbers of attempt n start above n * ATTEMPT_SPAN: a worker that takes a run over
 * numbers its events after everything an earlier attempt sent, so the room drops nothing new
 * and nothing old is read twice.
 */
const ATTEMPT_SPAN = 1_000_000_000;

export class EventPublisher {
  private seq: number;

  constructor(
    private readonly redis: Redis,
    private readonly inbox: string,
    private readonly runId: string,
    attempt: number,
  ) {
    this.seq = attempt * ATTEMPT_SPAN;
  }

  async publish(body: RunEventBody): Promise<void> {
    const event: RunEvent = { ...body, seq: ++this.seq };
    // NOMKSTREAM: the room creates its inbox and deletes it when it closes; a run whose room is
    // gone writes nothing, rather than a stream nobody reads.
    await this.redis.xadd(
      this.inbox,
      'NOMKSTREAM',
      'MAXLEN',
      '~',
      String(INBOX_MAXLEN),
      '*',
      'e',
      JSON.stringify(event),
      'r',
      this.runId,
    );
  }
}
