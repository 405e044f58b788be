/**
 * What the resume tests and the resume bench share: which worker runs a session's run (read from
 * each worker's /metrics), the lines a worker logged, signals to worker processes, and a room
 * (a fleet-mode AssistantLLM) in a child process that can be killed. Nothing here depends on
 * vitest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Keys, sessionId, type SessionIdentity } from '../../queues/keys.js';
import { logRecords, ROOT, type LogRecord } from './cli.js';
import { REDIS_URL, scanKeys, type FleetNames, type WorkerProcess } from './fleet.js';

/** A gauge or counter of a worker's /metrics, summed over its labels; 0 when absent. */
export async function metric(worker: WorkerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${worker.healthURL.replace(/\/$/, '')}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.eE+-]+)$`).exec(line);
    if (match) sum += Number(match[1]);
  }
  return sum;
}

/** The workers running at least one run now, each with how many (asked over /metrics). */
export async function busyWorkers(
  workers: WorkerProcess[],
): Promise<Array<{ worker: WorkerProcess; active: number }>> {
  const counts = await Promise.all(
    workers.map(async (worker) => ({
      worker,
      active: await metric(worker, 'assistant_active_sessions'),
    })),
  );
  return counts.filter((c) => c.active > 0).sort((a, b) => b.active - a.active);
}

/** The one worker running runs now; throws when none or several are. */
export async function busyWorker(workers: WorkerProcess[]): Promise<WorkerProcess> {
  const busy = await busyWorkers(workers);
  if (busy.length !== 1)
    throw new Error(`expected one busy worker, found ${busy.length} (asked /metrics)`);
  return busy[0]!.worker;
}

/** The worker's pino lines whose message contains `text`. */
export function logged(worker: WorkerProcess, text: string): LogRecord[] {
  return logRecords(worker.output()).filter((r) => r.msg.includes(text));
}

/** The log line a worker writes when it takes a run over and resumes it. */
export const RESUMING = 'resuming a run taken over';
/** What a stale worker's line says once it finds another worker owns its run. */
export const SUPERSEDED = 'superseded';
/**
 * The counter of runs a worker resumed. The task named it assistant_worker_runs_resumed_total;
 * the worker names it as its other run counters (assistant_runs_started_total, ...).
 */
export const RUNS_RESUMED = 'assistant_runs_resumed_total';

export function signal(worker: WorkerProcess, name: NodeJS.Signals): void {
  process.kill(worker.pid, name);
}

/** The attempt counters of `session`'s runs, by run id (the number of times a worker began each). */
export async function attempts(
  names: FleetNames,
  session: SessionIdentity,
): Promise<Record<string, number>> {
  const keys = new Keys(names.prefix);
  const sid = sessionId(session);
  const redis = new Redis(REDIS_URL);
  try {
    const found = await scanKeys(redis, keys.attempt(sid, '*'));
    const out: Record<string, number> = {};
    for (const key of found) {
      const runId = key.slice(0, -':attempt'.length).split(':run:')[1]!;
      out[runId] = Number(await redis.get(key));
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

const ROOM_ENTRY = fileURLToPath(new URL('./room-process.ts', import.meta.url));

/** A room in its own process: one fleet-mode AssistantLLM taking one turn. */
export interface RoomProcess {
  child: ChildProcess;
  /** The chunks it printed so far. */
  chunks: string[];
  /** Resolves once it printed `count` chunks. */
  chunksReached(count: number): Promise<void>;
  output: () => string;
}

/**
 * Starts a room process (test/support/room-process.ts) that sends `message` on the Responses API
 * in fleet mode, background responses, and prints every chunk as a JSON line.
 */
export function startRoomProcess(
  names: FleetNames,
  session: SessionIdentity,
  message: string,
): RoomProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ROOM_ENTRY], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL,
      ROOM_FLEET: JSON.stringify(names),
      ROOM_SESSION: JSON.stringify(session),
      ROOM_MESSAGE: message,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  let output = '';
  let buffered = '';
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  child.stdout!.on('data', (data: Buffer) => {
    output += data.toString();
    buffered += data.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{"chunk"')) continue;
      chunks.push((JSON.parse(line) as { chunk: string }).chunk);
    }
    for (const w of waiters.filter((w) => chunks.length >= w.count)) w.resolve();
  });
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  process.once('exit', () => child.kill('SIGKILL'));
  return {
    child,
    chunks,
    output: () => output,
    chunksReached: (count) =>
      new Promise<void>((resolve, reject) => {
        if (chunks.length >= count) return resolve();
        waiters.push({ count, resolve });
        child.once('exit', (code) =>
          reject(new Error(`the room exited (${code}) before chunk ${count}:\n${output}`)),
        );
      }),
  };
}
