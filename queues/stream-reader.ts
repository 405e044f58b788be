/**
 * Reads any number of Redis streams over one connection: a single blocking XREAD names every
 * subscribed stream with the last id seen, so a process's connections do not grow with its
 * sessions. Streams keep their entries, so a reader that attaches late or reconnects resumes
 * from its last id: nothing is lost, nothing is read twice. Used by rooms for run events and
 * by workers for control messages.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { unlessAborted } from '../src/util/abortable.js';
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
  private readonly blocking: Redis;
  private readonly wakeKey: string;
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
   * @param commands a connection for non-blocking commands (used to wake the reader)
   * @param connect  options for the reader's own blocking connection
   * @param onError  told of every failed read or wake-up and of a subscriber that threw; the
   *                 reader itself goes on
   */
  constructor(
    private readonly commands: Redis,
    connect: RedisOptions,
    keys: Keys,
    private readonly onError: (error: Error) => void,
    private readonly blockMs = 5_000,
  ) {
    const id = randomUUID();
    this.connectionName = `${keys.prefix}-reader-${id.slice(0, 8)}`;
    this.blocking = new Redis({
      ...connect,
      maxRetriesPerRequest: null,
      connectionName: this.connectionName,
    });
    // Handled: a lost connection fails the pending XREAD, which the loop reports to onError.
    this.blocking.on('error', () => undefined);
    this.wakeKey = keys.wake(id);
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
