/**
 * The Redis key layout of fleet mode: every key starts with one prefix, and every key carries a
 * hash tag, so that each command and script touches one slot on Redis Cluster: a session's keys
 * share its id's tag; a room process's inbox and its reader's wake stream share the inbox's uuid;
 * a worker's control inbox and its wake stream share the worker's uuid. The session id is a digest
 * of (room, participant): identities with `*`, `{`, `}`, `:`, spaces or newlines never reach a key.
 *
 * | key                               | type   | lifetime                                        |
 * | --------------------------------- | ------ | ----------------------------------------------- |
 * | <p>:inbox:{<uuid>}                | stream | a room process's run events; while it lives     |
 * | <p>:inbox:{<uuid>}:fence          | hash   | each run's newest attempt; as its inbox         |
 * | <p>:reader:{<uuid>}:wake          | stream | wakes a process's reader; 60 s after use        |
 * | <p>:worker:{<uuid>}:control       | stream | nudges "run <rid> has control"; while it lives  |
 * | <p>:{<sid>}:session               | hash   | threadId, api; expires sessionTtl after use     |
 * | <p>:{<sid>}:run:<rid>:control     | stream | tool outputs and cancel; expires after a run    |
 * | <p>:{<sid>}:run:<rid>:owner       | string | the control inbox of its worker; as control     |
 * | <p>:{<sid>}:run:<rid>:upstream    | string | the run's checkpoint upstream; as control       |
 * | <p>:{<sid>}:run:<rid>:attempt     | string | how many times a worker began it; as control    |
 * | <p>:{<sid>}:lock                  | string | <rid>:<attempt> of the running job (PX)         |
 * | bull:<queue>:*                    | BullMQ | one Redis: jobs removed by age and count        |
 * | bull:{<queue>}:<queue>:*          | BullMQ | the same on a cluster: one slot per queue       |
 */
import { KEY_PREFIX_PATTERN } from '../src/fleet-mode.js';

export { sessionId, type SessionIdentity } from '../src/session.js';

/** The key prefix rooms and workers use unless told otherwise. */
export const DEFAULT_PREFIX = 'ast';
/** The BullMQ queue rooms and workers use unless told otherwise. */
export const DEFAULT_QUEUE = 'assistant-runs';

/** How long keys live. Everything expires: nothing in Redis grows without bound. */
export const TTL = {
  /** A session's thread id, refreshed whenever the session runs. */
  sessionSeconds: 30 * 24 * 3600,
  /** A run's event and control streams while it is running (a safety net for lost runs). */
  runningSeconds: 24 * 3600,
  /** A finished run's streams, kept briefly for late readers. */
  finishedSeconds: 600,
  /** The thread lock, renewed while the job runs; after a crash it lapses within this. */
  lockMs: 6_000,
};

/**
 * A safety cap on a room's inbox: the room trims what it has read, so the inbox only grows this
 * far if its room stops reading while alive.
 */
export const INBOX_MAXLEN = 1_000_000;

/**
 * How long a room's inbox (and its fence) outlives the room's last refresh. The room refreshes
 * both every second, so a dead room's inbox is gone within this: a worker finding no inbox
 * for ORPHAN_GRACE_MS ends the run upstream (an orphaned run).
 */
export const INBOX_TTL_MS = 5_000;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UUID_ONLY = new RegExp(`^${UUID}$`);

/** True for a lowercase UUID, the shape of run ids and inbox ids (crypto.randomUUID()). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_ONLY.test(value);
}

/** The Redis keys of fleet mode under one prefix (see the table above). */
export class Keys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    if (!KEY_PREFIX_PATTERN.test(prefix)) {
      throw new Error(
        `prefix: expected 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(prefix)}`,
      );
    }
  }

  session(sid: string): string {
    return `${this.prefix}:{${sid}}:session`;
  }

  lock(sid: string): string {
    return `${this.prefix}:{${sid}}:lock`;
  }

  /**
   * A room process's inbox: every event of every run it started, tagged with the run id. The
   * hash tag keeps it and its fence in one slot on Redis Cluster.
   */
  inbox(readerId: string): string {
    return `${this.prefix}:inbox:{${readerId}}`;
  }

  /** The fence of an inbox: the newest attempt of each run writing to it (append-event.lua). */
  fence(inbox: string): string {
    return `${inbox}:fence`;
  }

  /** The uuid in an inbox key (its hash tag), which its reader's wake stream shares. */
  inboxId(inbox: string): string {
    return inbox.slice(this.prefix.length + ':inbox:{'.length, -1);
  }

  /** True if `key` is an inbox under this prefix: a worker writes to nothing else a job names. */
  isInbox(key: unknown): key is string {
    this.#inboxPattern ??= new RegExp(`^${escape(this.prefix)}:inbox:\\{${UUID}\\}$`);
    return typeof key === 'string' && this.#inboxPattern.test(key);
  }

  #inboxPattern: RegExp | undefined;

  /** True if `key` is a worker's control inbox under this prefix: a room nudges nothing else. */
  isWorkerControl(key: unknown): key is string {
    this.#controlPattern ??= new RegExp(`^${escape(this.prefix)}:worker:\\{${UUID}\\}:control$`);
    return typeof key === 'string' && this.#controlPattern.test(key);
  }

  #controlPattern: RegExp | undefined;

  attempt(sid: string, runId: string): string {
    return `${this.prefix}:{${sid}}:run:${runId}:attempt`;
  }

  control(sid: string, runId: string): string {
    return `${this.prefix}:{${sid}}:run:${runId}:control`;
  }

  upstream(sid: string, runId: string): string {
    return `${this.prefix}:{${sid}}:run:${runId}:upstream`;
  }

  /** The control inbox of the worker that runs the run, recorded by begin-run.lua. */
  owner(sid: string, runId: string): string {
    return `${this.prefix}:{${sid}}:run:${runId}:owner`;
  }

  /** A worker process's control inbox: which of its runs have new control messages. */
  workerControl(workerId: string): string {
    return `${this.prefix}:worker:{${workerId}}:control`;
  }

  /**
   * A process's wake-up stream for its multiplexed reader; it shares the hash tag of what the
   * reader reads (the room's inbox, the worker's control inbox), so one XREAD names one slot.
   */
  wake(readerId: string): string {
    return `${this.prefix}:reader:{${readerId}}:wake`;
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
