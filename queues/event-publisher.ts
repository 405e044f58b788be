/**
 * Appends a run's events to its Redis stream, numbered. Commands are sent plainly (no explicit
 * pipeline) so that a connection with auto-pipelining sends the events of all the runs a worker
 * streams at once in one write: per-chunk cost is then mostly Redis's, not a round trip's.
 */
import type { Redis } from 'ioredis';
import { isTerminal, type RunEvent, type RunEventBody } from '../src/events.js';
import { STREAM_MAXLEN, TTL } from './keys.js';

export class EventPublisher {
  private seq = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  /**
   * After a takeover, continue the numbering after the last event already published, so that
   * readers drop nothing and see no repeat.
   */
  continueAfter(lastEventPayload: string | null): void {
    if (lastEventPayload) this.seq = (JSON.parse(lastEventPayload) as RunEvent).seq;
  }

  async publish(body: RunEventBody): Promise<void> {
    const event: RunEvent = { ...body, seq: ++this.seq };
    const added = this.redis.xadd(
      this.key,
      'MAXLEN',
      '~',
      String(STREAM_MAXLEN),
      '*',
      'e',
      JSON.stringify(event),
    );
    // The stream expires: a day while running (a safety net), minutes once the run is over.
    if (this.seq === 1 || isTerminal(body)) {
      const ttl = isTerminal(body) ? TTL.finishedSeconds : TTL.runningSeconds;
      await Promise.all([added, this.redis.expire(this.key, ttl)]);
    } else {
      await added;
    }
  }
}
