/**
 * Fleet fixtures shared by the tests and the benchmarks: unique queue and prefix names, worker
 * child processes started through the CLI, fleet-mode AssistantLLMs, and the scan and clean-up
 * of a run's Redis keys. Nothing here depends on vitest, so bench/ imports it too.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
import { Cluster, type Redis } from 'ioredis';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { bullOptions } from '../../queues/bull.js';
import { connect, resolveConnection, type FleetRedis } from '../../queues/connection.js';
import { AssistantLLM, type AssistantOptions } from '../../src/index.js';
import { EmulatorServer } from '../../src/testing.js';
import type { RedisTransportOptions } from '../../queues/index.js';
import { TEST_API_KEY } from './api-key.js';
import type { Api } from './assistant.js';
import { exited, logLine, startCli, type StartOptions } from './cli.js';

/**
 * The local test cluster (scripts/redis-cluster.sh): 3 primaries, 3 replicas on ports
 * REDIS_CLUSTER_PORT (default 7000) to +5. The failover suite has a cluster of its own.
 */
const CLUSTER_BASE = Number(process.env.REDIS_CLUSTER_PORT ?? 7000);
export const CLUSTER_PORTS = Array.from({ length: 6 }, (_, i) => CLUSTER_BASE + i);
export const CLUSTER_URL = CLUSTER_PORTS.slice(0, 3)
  .map((port) => `redis://127.0.0.1:${port}`)
  .join(',');
/** True in the `cluster` vitest project: the fleet suites run against the local Redis Cluster. */
export const ON_CLUSTER = process.env.FLEET_REDIS === 'cluster';
/** Where the fleet suites' Redis is: one URL, or the cluster's seed URLs separated by commas. */
export const REDIS_URL = ON_CLUSTER
  ? CLUSTER_URL
  : (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

/** A connection to the suites' Redis (a Cluster client on the cluster). */
export function openRedis(): FleetRedis {
  return connect(REDIS_URL);
}

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

/**
 * Every key matching `pattern` (SCAN, so a busy shared Redis is not blocked); on a cluster, on
 * every primary.
 */
export async function scanKeys(redis: FleetRedis, pattern: string): Promise<string[]> {
  // A new Cluster client knows its nodes once it is ready.
  if (redis instanceof Cluster && redis.status !== 'ready') {
    await new Promise((resolve) => redis.once('ready', resolve));
  }
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  return keys;
}

/** Every key under `prefix` with its TTL in seconds (-1: none). */
export async function keysWithTtl(prefix: string): Promise<Array<{ key: string; ttl: number }>> {
  const redis = openRedis();
  try {
    const keys = await scanKeys(redis, `${prefix}:*`);
    return Promise.all(keys.map(async (key) => ({ key, ttl: await redis.ttl(key) })));
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key under `prefix`; returns how many there were. */
export async function removeKeys(prefix: string): Promise<number> {
  const redis = openRedis();
  try {
    const keys = await scanKeys(redis, `${prefix}:*`);
    // One DEL per key: on a cluster the keys are in many slots.
    const deleted = await Promise.all(keys.map((key) => redis.del(key)));
    return deleted.reduce((sum, n) => sum + n, 0);
  } finally {
    redis.disconnect();
  }
}

/**
 * A BullMQ queue on the suites' Redis as the fleet names it (hash-tagged on a cluster); close()
 * also closes its connection.
 */
export function testQueue(name: string): Queue {
  const connection = resolveConnection(REDIS_URL);
  const shared = connection.kind === 'cluster' ? connect(connection) : undefined;
  const queue = new Queue(
    name,
    bullOptions(connection, name, shared) as { connection: ConnectionOptions },
  );
  const close = queue.close.bind(queue);
  queue.close = async () => {
    await close();
    shared?.disconnect();
  };
  return queue;
}

/** Deletes the run queue's BullMQ keys and every key under the prefix; returns how many keys. */
export async function removeFleet(names: FleetNames): Promise<number> {
  const queue = testQueue(names.queue);
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
  const ports = ON_CLUSTER ? CLUSTER_PORTS : [new URL(REDIS_URL).port || '6379'];
  const filter = `( ${ports.map((port) => `dport = :${port}`).join(' or ')} )`;
  const table = execFileSync('ss', ['-tnpH', 'state', 'established', filter], {
    encoding: 'utf8',
  });
  return table.split('\n').filter((line) => pids.some((pid) => line.includes(`pid=${pid},`)))
    .length;
}
