/**
 * Reads any number of Redis streams over one connection: a single blocking XREAD names every
 * subscribed stream with the last id seen, so a process's connections do not grow with its
 * sessions. Streams keep their entries, so a reader that attaches late or reconnects resumes
 * from its last id: nothing is lost, nothing is read twice. Used by rooms for run events and
 * by workers for their control inbox. On Redis Cluster one XREAD must name keys of one slot: the
 * wake stream carries the reader's id as its hash tag, and every subscribed key must carry the same
 * (the room's inbox and the worker's control inbox are named after the reader's id).
 */
import { randomUUID } from 'node:crypto';
import { unlessAborted } from '../src/util/abortable.js';
import {
  connect,
  keySlot,
  resolveConnection,
  type FleetRedis,
  type RedisConnection,
  type ResolvedConnection,
} from './connection.js';
import type { Keys } from './keys.js';

type Entry = [id: string, fields: string[]];
type XReadReply = Array<[key: string, entries: Entry[]]> | null;

/** An entry's id and its values (name, value, ...); stream-codec.ts reads them. */
export type OnEntry = (id: string, fields: string[]) => void;

interface Subscription {
  lastId: string;
  onEntry: OnEntry;
}

export class StreamReader {
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly blocking: FleetRedis;
  private readonly wakeKey: string;
  /** On a cluster, the one slot every subscribed key must be in; null on one Redis. */
  private readonly slot: number | null;
  /** CLIENT SETNAME of the blocking connection, to find it in CLIENT LIST. */
  readonly connectionName: string;
  /** Our own wake stream is read from its last id (not '$'), so no wake-up is ever missed. */
  private wakeLastId = '0';
  private running = true;
  private readonly loop: Promise<void>;
  /**
   * Aborted by close(). ioredis never settles a command queued while it is reconnecting if
   * disconnect() comes then, so the loop stops waiting for its XREAD when this aborts.
   */
  private readonly closed = new AbortController();

  /**
   * @param commands   a connection for non-blocking commands (used to wake the reader)
   * @param connection where the reader's own blocking connection goes (connect() opens it)
   * @param onError    told of every failed read or wake-up and of a subscriber that threw; the
   *                   reader itself goes on
   * @param id         the reader's id, the hash tag of its wake stream (the room's inbox id, the
   *                   worker's id); default a new uuid
   */
  constructor(
    private readonly commands: FleetRedis,
    connection: RedisConnection | ResolvedConnection,
    keys: Keys,
    private readonly onError: (error: Error) => void,
    private readonly blockMs = 5_000,
    id: string = randomUUID(),
  ) {
    const resolved = resolveConnection(connection);
    this.connectionName = `${keys.prefix}-reader-${id.slice(0, 8)}`;
    this.blocking = connect(resolved, { connectionName: this.connectionName });
    // Handled: a lost connection fails the pending XREAD, which the loop reports to onError.
    this.blocking.on('error', () => undefined);
    this.wakeKey = keys.wake(id);
    this.slot = resolved.kind === 'cluster' ? keySlot(this.wakeKey) : null;
    this.loop = this.run();
  }

  get size(): number {
    return this.subscriptions.size;
  }

  /**
   * Delivers each entry's `field` payload after `fromId` ('0' = from the start), in order,
   * until unsubscribed. Returns the unsubscribe function.
   */
  subscribe(key: string, onEntry: OnEntry, fromId = '0'): () => void {
    if (this.slot !== null && keySlot(key) !== this.slot) {
      throw new Error(
        `StreamReader: ${key} is not in the slot of ${this.wakeKey}; on Redis Cluster one reader reads one slot`,
      );
    }
    this.subscriptions.set(key, { lastId: fromId, onEntry });
    this.wake();
    return () => {
      if (this.subscriptions.get(key)?.onEntry === onEntry) this.subscriptions.delete(key);
    };
  }

  private wake(): void {
    // An entry on our own wake stream ends the current XREAD, so it restarts with the new key.
    void this.commands
      .multi()
      .xadd(this.wakeKey, 'MAXLEN', '10', '*', 'w', '1')
      .expire(this.wakeKey, 60)
      .exec()
      // Logged; the reader still sees the new key when its current XREAD times out (blockMs).
      .catch((error: Error) => this.onError(error));
  }

  private async run(): Promise<void> {
    while (this.running) {
      const keys = [...this.subscriptions.keys()];
      const ids = keys.map((k) => this.subscriptions.get(k)!.lastId);
      let reply: XReadReply;
      try {
        const read = this.blocking.xread(
          'COUNT',
          1000,
          'BLOCK',
          this.blockMs,
          'STREAMS',
          this.wakeKey,
          ...keys,
          this.wakeLastId,
          ...ids,
        ) as Promise<XReadReply>;
        reply = await unlessAborted(read, this.closed.signal, null);
        if (!this.running) return;
      } catch (error) {
        if (!this.running) return;
        this.onError(error as Error);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      for (const [key, entries] of reply ?? []) {
        if (key === this.wakeKey) this.wakeLastId = entries.at(-1)?.[0] ?? this.wakeLastId;
        const subscription = this.subscriptions.get(key);
        if (!subscription) continue;
        for (const [id, fields] of entries) {
          subscription.lastId = id;
          try {
            subscription.onEntry(id, fields);
          } catch (error) {
            // One subscriber's bug must not stop the reader that every run of the process uses.
            this.onError(error as Error);
          }
          // The callback may have unsubscribed; stop delivering to it.
          if (this.subscriptions.get(key) !== subscription) break;
        }
      }
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.closed.abort();
    this.subscriptions.clear();
    this.blocking.disconnect();
    // Handled inside: the loop reports its errors to onError and never rejects.
    await this.loop;
    // The wake stream expires by itself (60 s), so a failed DEL is only logged; and a shutdown
    // does not wait on a Redis that is down.
    const removed = this.commands.del(this.wakeKey).catch((error: Error) => this.onError(error));
    await unlessAborted(removed, AbortSignal.timeout(1_000), undefined);
  }
}
