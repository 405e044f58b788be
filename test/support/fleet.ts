/**
 * Fleet fixtures shared by the tests and the benchmarks: unique queue and prefix names, worker
 * child processes started through the CLI, fleet-mode AssistantLLMs, and the scan and clean-up
 * of a run's Redis keys. Nothing here depends on vitest, so bench/ imports it too.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { AssistantLLM, type AssistantOptions } from '../../src/index.js';
import { EmulatorServer } from '../../src/testing.js';
import type { RedisTransportOptions } from '../../queues/index.js';
import { TEST_API_KEY } from './api-key.js';
import type { Api } from './assistant.js';
import { exited, logLine, startCli, type StartOptions } from './cli.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface FleetNames {
  prefix: string;
  queue: string;
}

/** A prefix and a queue no other test file or benchmark run uses. */
export function uniqueNames(label: string): FleetNames {
  const tag = `${label}-${process.pid}-${Date.now().toString(36)}`;
  return { prefix: `t-${tag}`, queue: `q-${tag}` };
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  output: () => string;
  /** Base URL of /healthz, /readyz and /metrics. */
  healthURL: string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Workers still running; killed when this process exits, even after a failed test. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The arguments of `assistant-host worker` on `names`; `httpPort` '-1' turns health off. */
export function workerArgs(names: FleetNames, httpPort = '0'): string[] {
  return [
    'worker',
    '--queue',
    names.queue,
    '--prefix',
    names.prefix,
    // info: the level of the worker's lifecycle lines ("worker ready"), which tests wait for.
    '--log-level',
    'info',
    '--http-port',
    httpPort,
  ];
}

/**
 * `assistant-host worker` in its own process, as operators run it; resolves once it is ready.
 * `extra`: more CLI arguments (e.g. ['--concurrency', '20']); `env`: more environment
 * (OPENAI_API_KEY defaults to TEST_API_KEY); `start`: how the process is started.
 */
export async function startWorker(
  names: FleetNames,
  baseURL: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
  start: StartOptions = {},
): Promise<WorkerProcess> {
  const { child, output, match } = await startCli(
    [...workerArgs(names), ...extra],
    logLine('worker ready', 'healthUrl'),
    { OPENAI_API_KEY: TEST_API_KEY, OPENAI_BASE_URL: baseURL, REDIS_URL, ...env },
    start,
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  return {
    child,
    pid: child.pid!,
    output,
    healthURL: match[1]!,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null && !child.killed) child.kill(signal);
      return exited(child);
    },
  };
}

/** An AssistantLLM whose runs go to the fleet named `names`, for one session. */
export function fleetLLM(
  api: Api,
  names: FleetNames,
  session: { room: string; participant: string },
  extra: Partial<AssistantOptions> = {},
): AssistantLLM {
  const transport: RedisTransportOptions = { redis: REDIS_URL, ...names, session };
  if (api === 'assistants') {
    return new AssistantLLM({
      load_options: { assistant_id: EmulatorServer.defaultAssistantId },
      transport,
      ...extra,
    } as AssistantOptions);
  }
  return new AssistantLLM({
    api: 'responses',
    model: 'emulator-1',
    instructions: 'You are a test assistant.',
    transport,
    ...extra,
  } as AssistantOptions);
}

/** Every key matching `pattern` (SCAN, so a busy shared Redis is not blocked). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Every key under `prefix` with its TTL in seconds (-1: none). */
export async function keysWithTtl(prefix: string): Promise<Array<{ key: string; ttl: number }>> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await scanKeys(redis, `${prefix}:*`);
    return Promise.all(keys.map(async (key) => ({ key, ttl: await redis.ttl(key) })));
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under `prefix`; returns how many there were. */
export async function removeKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await scanKeys(redis, `${prefix}:*`);
    return keys.length > 0 ? await redis.del(...keys) : 0;
  } finally {
    redis.disconnect();
  }
}

/** Deletes the run queue's BullMQ keys and every key under the prefix; returns how many keys. */
export async function removeFleet(names: FleetNames): Promise<number> {
  const queue = new Queue(names.queue, { connection: { url: REDIS_URL } });
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
  }
  return removeKeys(names.prefix);
}

/**
 * Redis connections held by these processes (by default this test process), counted from the
 * socket table: other test files running at the same time have their own connections.
 */
export function connectedClients(pids: number[] = [process.pid]): number {
  const port = new URL(REDIS_URL).port || '6379';
  const table = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`], {
    encoding: 'utf8',
  });
  return table.split('\n').filter((line) => pids.some((pid) => line.includes(`pid=${pid},`)))
    .length;
}
