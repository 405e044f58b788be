/**
 * The thread locks a worker holds, one per run it executes (taken by begin-run.lua), kept alive
 * together: one timer per worker and one call of renew-locks.lua for all of them, whatever the
 * number of runs (on Redis Cluster, one call per slot among them: a script names one slot). A lock that could not be kept is reported to its run, which must stop: another
 * run (or another worker taking this one over) may own the thread now.
 */
import { keySlot, type FleetRedis } from './connection.js';
import type { Logger } from '../src/logger.js';
import { TTL } from './keys.js';
import { withScripts, type ScriptedRedis } from './scripts.js';

/**
 * Why a lock was lost. `taken`: Redis says the lock is gone or names another run. `lapsed`: no
 * renewal went through for as long as the lock lives, so it has expired whatever Redis says later.
 */
export type LockLoss = 'taken' | 'lapsed';

export interface ThreadLockOptions {
  /** How long a lock lives after each renewal. Default TTL.lockMs. */
  ttlMs?: number;
  /** How often the locks are renewed. Default a third of ttlMs. */
  renewEveryMs?: number;
}

/** One run's lock, as its run sees it. */
export interface HeldLock {
  /** Stops renewing and frees the lock if it is still the run's. Safe to call more than once. */
  release(): Promise<void>;
}

interface Entry {
  key: string;
  /** <runId>:<attempt>, as begin-run.lua set it. */
  owner: string;
  /** When the last renewal that went through was sent (the lock lives at least ttl from then). */
  confirmedAt: number;
  onLost: OnLockLost;
}

/** Told why a lock was lost and, when it was taken, who holds it now. */
export type OnLockLost = (why: LockLoss, holder: string | null) => void;

export class ThreadLocks {
  readonly #redis: ScriptedRedis;
  readonly #logger: Logger;
  readonly #ttlMs: number;
  /** By lock key: a session runs one run at a time, so one key names one held lock. */
  readonly #held = new Map<string, Entry>();
  readonly #timer: NodeJS.Timeout;
  /** The renewal in flight; a tick that finds one skips, so calls never pile up. */
  #renewing: Promise<void> | null = null;

  constructor(redis: FleetRedis, logger: Logger, options: ThreadLockOptions = {}) {
    this.#redis = withScripts(redis);
    this.#logger = logger;
    this.#ttlMs = options.ttlMs ?? TTL.lockMs;
    this.#timer = setInterval(
      () => {
        if (this.#held.size > 0 && !this.#renewing) {
          this.#renewing = this.renewNow().finally(() => (this.#renewing = null));
        }
      },
      options.renewEveryMs ?? this.#ttlMs / 3,
    );
    this.#timer.unref();
  }

  get size(): number {
    return this.#held.size;
  }

  /**
   * Keeps the lock `key` that `owner` (<runId>:<attempt>) took at `takenAt` (ms, the time the
   * taking call was sent) until it is released; `onLost` is called once if it cannot be kept.
   */
  hold(key: string, owner: string, takenAt: number, onLost: OnLockLost): HeldLock {
    const entry: Entry = { key, owner, confirmedAt: takenAt, onLost };
    this.#held.set(key, entry);
    let released: Promise<void> | null = null;
    return {
      release: () => {
        // Off the renewal list first: no renewal may bring back a lock the run gave up.
        if (this.#held.get(key) === entry) this.#held.delete(key);
        // Sent synchronously, so it leaves in order with the run's other writes.
        released ??= this.#redis.releaseLock(key, owner).then(
          () => undefined,
          (error: Error) =>
            // Logged, and safe: the lock lapses within ttl and the session's next run waits.
            this.#logger.warn('could not release a thread lock; it lapses by itself', {
              owner,
              error: error.message,
            }),
        );
        return released;
      },
    };
  }

  /**
   * Renews every held lock, in one call (one per slot on a cluster, sent together); reports
   * those lost. The timer calls it; tests may too.
   */
  async renewNow(): Promise<void> {
    const entries = [...this.#held.values()];
    if (entries.length === 0) return;
    if (!this.#redis.isCluster) return this.#renew(entries);
    const bySlot = new Map<number, Entry[]>();
    for (const entry of entries) {
      const slot = keySlot(entry.key);
      const group = bySlot.get(slot);
      if (group) group.push(entry);
      else bySlot.set(slot, [entry]);
    }
    await Promise.all([...bySlot.values()].map((group) => this.#renew(group)));
  }

  async #renew(entries: Entry[]): Promise<void> {
    const sentAt = Date.now();
    let renewed: Array<0 | 1 | string>;
    try {
      renewed = await this.#redis.renewLocks(
        entries.length,
        ...entries.map((e) => e.key),
        this.#ttlMs,
        ...entries.map((e) => e.owner),
      );
    } catch (error) {
      this.#logger.warn('could not renew the thread locks; retrying', {
        locks: entries.length,
        error: (error as Error).message,
      });
      // Past its time to live a lock has expired, whether or not Redis answers again.
      for (const entry of entries) {
        if (Date.now() - entry.confirmedAt >= this.#ttlMs) this.#lose(entry, 'lapsed', null);
      }
      return;
    }
    await Promise.all(
      entries.map(async (entry, i) => {
        const reply = renewed[i];
        if (reply === 1) entry.confirmedAt = sentAt;
        else if (reply === 0) await this.#reclaim(entry, sentAt);
        else this.#lose(entry, 'taken', reply ?? null);
      }),
    );
  }

  /**
   * A lock that is gone (it lapsed while this process was slow, or Redis lost it) but that
   * nobody took is taken back, if it is still held here: the run goes on. Another run that took
   * it meanwhile keeps it, and this one stops; a later attempt of the same run overwrites it
   * (begin-run.lua), so the next renewal names it.
   */
  async #reclaim(entry: Entry, sentAt: number): Promise<void> {
    if (this.#held.get(entry.key) !== entry) return;
    let taken: string | null;
    try {
      taken = await this.#redis.set(entry.key, entry.owner, 'PX', this.#ttlMs, 'NX');
    } catch (error) {
      // Logged; the next renewal tries again, and the lock counts as lapsed after its ttl.
      this.#logger.warn('could not take back a lapsed thread lock', {
        owner: entry.owner,
        error: (error as Error).message,
      });
      return;
    }
    if (taken === 'OK') {
      this.#logger.info('took back a thread lock that had lapsed', { owner: entry.owner });
      entry.confirmedAt = sentAt;
    } else {
      this.#lose(entry, 'taken', null);
    }
  }

  #lose(entry: Entry, why: LockLoss, holder: string | null): void {
    // A lock released meanwhile is no longer anyone's concern.
    if (this.#held.get(entry.key) !== entry) return;
    this.#held.delete(entry.key);
    this.#logger.warn('lost a thread lock; its run stops', { owner: entry.owner, why });
    entry.onLost(why, holder);
  }

  /** Stops the timer; locks still held lapse within ttl. */
  close(): void {
    clearInterval(this.#timer);
  }
}
