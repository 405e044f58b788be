/**
 * What Redis remembers about one run besides its lock and its events: the session's thread, the
 * upstream marker (the run may have reached the server; later its checkpoint) and, once the run
 * is over, the short expiry of the run's keys. Writes are sent as they are asked for, on the
 * worker's command connection, so they leave in order with the event they belong to.
 */
import type { ApiKind, RunCheckpoint } from '../src/backends/backend.js';
import type { FleetRedis } from './connection.js';
import type { RunEventBody } from '../src/events.js';
import { TTL, type Keys } from './keys.js';
import { PENDING } from './run-start.js';

export class RunRecord {
  readonly #redis: FleetRedis;
  readonly #api: ApiKind;
  readonly #session: string;
  readonly #upstream: string;
  readonly #attempt: string;
  readonly #control: string;
  readonly #owner: string;

  constructor(redis: FleetRedis, keys: Keys, sid: string, runId: string, api: ApiKind) {
    this.#redis = redis;
    this.#api = api;
    this.#session = keys.session(sid);
    this.#upstream = keys.upstream(sid, runId);
    this.#attempt = keys.attempt(sid, runId);
    this.#control = keys.control(sid, runId);
    this.#owner = keys.owner(sid, runId);
  }

  /**
   * Marks the run as begun before it may reach the server. begin-run.lua does so on a first
   * start; a takeover that found the lost attempt never reached the server does it here.
   */
  async markBegun(): Promise<void> {
    await this.#redis.set(this.#upstream, PENDING, 'EX', TTL.runningSeconds);
  }

  /** The writes `event` calls for (none for most events), already sent. */
  writesFor(event: RunEventBody): Array<Promise<unknown>> {
    const writes: Array<Promise<unknown>> = [];
    if (event.type === 'thread.created' || event.type === 'run.started') {
      writes.push(
        this.#redis.hset(this.#session, 'threadId', event.threadId, 'api', this.#api),
        this.#redis.expire(this.#session, TTL.sessionSeconds),
      );
    }
    return writes;
  }

  /**
   * Remembers the newest thread item the run saw (Responses), as the session's: a worker that
   * takes the session's next run over looks for that run's message after it.
   */
  rememberLastItem(itemId: string): Promise<unknown> {
    return this.#redis.hset(this.#session, 'lastItem', itemId);
  }

  /** The newest thread item the session's last finished run saw, if stored. */
  async lastItem(): Promise<string | undefined> {
    return (await this.#redis.hget(this.#session, 'lastItem')) ?? undefined;
  }

  /**
   * Stores where the run stands upstream, in place of the marker: a worker taking the run over
   * continues it from there rather than starting another.
   */
  checkpoint(checkpoint: RunCheckpoint): Promise<unknown> {
    return this.#redis.set(this.#upstream, JSON.stringify(checkpoint), 'EX', TTL.runningSeconds);
  }

  /** The run is over here: its keys are kept briefly, for late readers and a late takeover. */
  async expireFinished(): Promise<void> {
    await this.#redis
      .multi()
      .expire(this.#control, TTL.finishedSeconds)
      .expire(this.#upstream, TTL.finishedSeconds)
      .expire(this.#attempt, TTL.finishedSeconds)
      .expire(this.#owner, TTL.finishedSeconds)
      .exec();
  }
}
