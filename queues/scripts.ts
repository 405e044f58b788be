/**
 * The one loader of the fleet's Lua scripts. Each script is a file in queues/lua/ whose header
 * says what its KEYS and ARGV are and what it returns; it is read from disk once per process and
 * defined once per connection (ioredis `defineCommand`: EVALSHA, and the script sent again if
 * Redis lost it). The files sit next to this module, in the sources and in dist/ alike (the build
 * copies them), so tsx, vitest and the built package load the same text.
 */
import { readFileSync } from 'node:fs';
import type { FleetRedis } from './connection.js';

/** Each script's file and its fixed number of keys (null: the caller passes the count). */
export const SCRIPT_FILES = {
  beginRun: { file: 'begin-run.lua', keys: 6 },
  sendControl: { file: 'send-control.lua', keys: 2 },
  renewLocks: { file: 'renew-locks.lua', keys: null },
  releaseLock: { file: 'release-lock.lua', keys: 1 },
  appendEvent: { file: 'append-event.lua', keys: 2 },
} as const;

export type ScriptName = keyof typeof SCRIPT_FILES;

/** begin-run.lua's reply; see its header. */
export type BeginRunReply = [0] | [1, number, string | null, 0 | 1, string | null, string | null];

type Arg = string | number;

/** A connection with the scripts defined on it, as commands. */
export interface ScriptCommands {
  beginRun(...keysThenArgs: Arg[]): Promise<BeginRunReply>;
  /** renewLocks(numberOfKeys, ...keys, ttlMs, ...owners): 1, or the lock's current owner, or 0 */
  renewLocks(numberOfKeys: number, ...keysThenArgs: Arg[]): Promise<Array<0 | 1 | string>>;
  releaseLock(key: string, owner: string): Promise<0 | 1>;
  /** appendEvent(inbox, fence, runId, attempt, maxLen, fenceTtlMs, ...fields): 1, 0 or -1 */
  appendEvent(...keysThenArgs: Arg[]): Promise<1 | 0 | -1>;
  /** sendControl(controlKey, ownerKey, field, message, ttlSeconds): [entry id, owner or null] */
  sendControl(...keysThenArgs: Arg[]): Promise<[string, string | null]>;
}

export type ScriptedRedis = FleetRedis & ScriptCommands;

let sources: Record<ScriptName, string> | undefined;

/** The scripts' text, read once. */
export function scriptSources(): Record<ScriptName, string> {
  sources ??= Object.fromEntries(
    Object.entries(SCRIPT_FILES).map(([name, { file }]) => [
      name,
      readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8'),
    ]),
  ) as Record<ScriptName, string>;
  return sources;
}

const defined = new WeakSet<FleetRedis>();

/** `redis` with every script defined on it; defines them on the first call for a connection. */
export function withScripts(redis: FleetRedis): ScriptedRedis {
  if (!defined.has(redis)) {
    const text = scriptSources();
    for (const [name, { keys }] of Object.entries(SCRIPT_FILES)) {
      redis.defineCommand(name, {
        lua: text[name as ScriptName],
        ...(keys === null ? {} : { numberOfKeys: keys }),
      });
    }
    defined.add(redis);
  }
  return redis as ScriptedRedis;
}
