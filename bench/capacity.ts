/**
 * 6. Capacity: the figures the sizing model (bench/capacity-model.ts) rests on, with real
 * processes against a Redis of the bench's own, so that other load on 127.0.0.1:6379 does not
 * count.
 *
 * - A redis-server on a free loopback port, and a Redis Cluster of 3 primaries and 3 replicas on
 *   7100-7105, each started and stopped here (no persistence).
 * - Worker processes (`assistant-host worker`) and one room process (bench/capacity-room.ts:
 *   many fleet-mode AssistantLLMs) as children; the local OpenAI-compatible server stays in the
 *   bench process.
 * - Streaming: every session streams a paced reply and sends its next message when it ended.
 *   CPU per delivered chunk = a process's CPU time over a window ÷ chunks the room received in
 *   it: the room from its own process.cpuUsage(), workers from /proc/<pid>/stat, Redis from INFO
 *   cpu (used_cpu_user + used_cpu_sys) of every node. Median over repeated windows.
 * - Run starts: every session sends a message whose reply is one word, at once, again and again,
 *   with more worker slots than sessions, so runs wait on the queue and not on a worker. Rate =
 *   first chunks at the room per second (queued → a worker began it → first event at the room).
 * - BullMQ alone, with the fleet's job options, on one queue and on 3 hash-tagged queues: the
 *   Redis CPU per job on the primary that holds a queue's slot sets one queue's ceiling.
 *
 * The run starts of the streaming phase are subtracted from its per-chunk figures with the
 * run-start phase's per-start figures, so that the model does not count them twice. The fleet
 * runs on the cluster only where it takes seed nodes (fleetTakesCluster).
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startWorker, uniqueNames, type WorkerProcess } from '../test/support/fleet.js';
import {
  describeAssumptions,
  DEFAULT_ASSUMPTIONS,
  sizingTable,
  type MeasuredFigures,
} from './capacity-model.js';
import type { RoomConfig, RoomSample } from './capacity-room.js';
import { API_KEY, ROOT, type BenchEnv } from './env.js';
import { round, shuffle, summarize } from './stats.js';
import { table } from './table.js';
import type { Benchmark, BenchResult } from './types.js';

const run = promisify(execFile);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const STREAM = 'bench-capacity-stream';
const START = 'bench-capacity-start';

/** A Redis the bench owns: one server, or a cluster. */
export interface RedisTarget {
  label: string;
  /** What the room's transport takes as `redis`. */
  transportRedis: RoomConfig['redis'];
  /** REDIS_URL for the workers. */
  workerRedisUrl: string;
  /** Redis CPU seconds so far of every node, by port. */
  cpu(): Promise<RedisCpu>;
  /** A connection for BullMQ alone. */
  bullmq(): Redis | Cluster;
  /**
   * BullMQ key prefixes for `count` queues; on a cluster hash-tagged, each queue on another
   * primary where there are enough.
   */
  bullPrefixes(count: number): Promise<string[]>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** CPU seconds per node, keyed by port, and whether it is a primary. */
export type RedisCpu = Record<number, { primary: boolean; cpu: number }>;

function infoCpu(info: string): number {
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

interface ServerProcess {
  child: ChildProcess;
  port: number;
  client: Redis;
}

const servers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of servers) child.kill('SIGKILL');
});

/** A redis-server child on `port`, without persistence, its files in `dir`; resolves when it answers PING. */
async function redisServer(
  port: number,
  dir: string,
  extra: string[] = [],
): Promise<ServerProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      join(dir, `redis-${port}.log`),
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  servers.add(child);
  child.once('exit', () => servers.delete(child));
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  // Connection refusals while the server starts are expected; the loop below retries.
  client.on('error', () => undefined);
  for (let i = 0; ; i++) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (error) {
      if (i >= 100 || child.exitCode !== null)
        throw new Error(`redis-server on port ${port} did not start: ${(error as Error).message}`, {
          cause: error,
        });
      client.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { child, port, client };
}

async function stopServer(server: ServerProcess): Promise<void> {
  server.client.disconnect();
  if (server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
}

/** One redis-server of the bench's own on a free loopback port. */
export async function singleNode(): Promise<RedisTarget> {
  const dir = mkdtempSync(join(os.tmpdir(), 'capacity-redis-'));
  const server = await redisServer(await freePort(), dir);
  const url = `redis://127.0.0.1:${server.port}`;
  return {
    label: `single node (:${server.port})`,
    transportRedis: url,
    workerRedisUrl: url,
    async cpu() {
      return { [server.port]: { primary: true, cpu: infoCpu(await server.client.info('cpu')) } };
    },
    bullmq: () => new Redis(url, { maxRetriesPerRequest: null }),
    bullPrefixes: async (count) => Array.from({ length: count }, (_, k) => `bull${k}`),
    async stop() {
      await stopServer(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Ports of the bench's own Redis Cluster: 3 primaries and 3 replicas. */
export const CLUSTER_PORTS = [7100, 7101, 7102, 7103, 7104, 7105];

async function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(true));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
  });
}

/**
 * A Redis Cluster of the bench's own on CLUSTER_PORTS (3 primaries, 1 replica each), made with
 * redis-server's cluster mode and `redis-cli --cluster create`; stop() ends every node.
 */
export async function redisCluster(): Promise<RedisTarget> {
  for (const port of CLUSTER_PORTS) {
    if (await portTaken(port))
      throw new Error(`cluster: port ${port} is in use; expected ${CLUSTER_PORTS.join(', ')} free`);
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'capacity-cluster-'));
  const nodes: ServerProcess[] = [];
  const stopAll = async () => {
    for (const node of nodes) await stopServer(node);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of CLUSTER_PORTS) {
      nodes.push(
        await redisServer(port, dir, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '5000',
        ]),
      );
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...CLUSTER_PORTS.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    for (let i = 0; ; i++) {
      const states = await Promise.all(nodes.map((n) => n.client.cluster('INFO')));
      if (states.every((info) => /cluster_state:ok/.test(String(info)))) break;
      if (i > 100) throw new Error('cluster: cluster_state not ok on every node after 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const urls = CLUSTER_PORTS.map((p) => `redis://127.0.0.1:${p}`);
  return {
    label: `cluster 3+3 (:${CLUSTER_PORTS[0]}-${CLUSTER_PORTS.at(-1)})`,
    transportRedis: urls as unknown as RoomConfig['redis'],
    workerRedisUrl: urls.join(','),
    async cpu() {
      const figures = await Promise.all(
        nodes.map(async (n) => {
          const [replication, cpu] = await Promise.all([
            n.client.info('replication'),
            n.client.info('cpu'),
          ]);
          return [n.port, { primary: /role:master/.test(replication), cpu: infoCpu(cpu) }] as const;
        }),
      );
      return Object.fromEntries(figures);
    },
    bullmq: () =>
      new Cluster(
        CLUSTER_PORTS.map((port) => ({ host: '127.0.0.1', port })),
        { redisOptions: { maxRetriesPerRequest: null } },
      ),
    async bullPrefixes(count) {
      // Hash-tagged prefixes (BullMQ's advice for clusters), one per primary as far as they go.
      const client = nodes[0]!.client;
      const ranges = await client.cluster('SLOTS');
      const owner = (slot: number) => ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2]![1];
      const chosen: string[] = [];
      const used = new Set<number>();
      for (let k = 0; chosen.length < count && k < 1000; k++) {
        const tag = `bull${k}`;
        const port = owner(await client.cluster('KEYSLOT', tag));
        if (used.has(port) && used.size < ranges.length) continue;
        used.add(port);
        chosen.push(`{${tag}}`);
      }
      return chosen;
    },
    stop: stopAll,
  };
}

function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
}

class RoomChild {
  private waiters = new Map<string, (message: unknown) => void>();
  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: { type: string }) => {
      const waiter = this.waiters.get(message.type);
      this.waiters.delete(message.type);
      waiter?.(message);
    });
  }

  private next<T>(type: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`room process: no "${type}" within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const exit = (code: number | null) => reject(new Error(`room process exited with ${code}`));
      this.child.once('exit', exit);
      this.waiters.set(type, (message) => {
        clearTimeout(timer);
        this.child.off('exit', exit);
        resolve(message as T);
      });
    });
  }

  static async start(config: RoomConfig): Promise<RoomChild> {
    const child = spawn(process.execPath, ['--import', 'tsx', here('./capacity-room.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, CAPACITY_ROOM: JSON.stringify(config) },
    });
    servers.add(child);
    child.once('exit', () => servers.delete(child));
    const room = new RoomChild(child);
    await room.next('ready', 180_000);
    return room;
  }

  go(): void {
    this.child.send({ type: 'go' });
  }

  sample(): Promise<RoomSample> {
    const reply = this.next<RoomSample>('sample', 30_000);
    this.child.send({ type: 'sample' });
    return reply;
  }

  async stop(): Promise<void> {
    const stopped = this.next('stopped', 60_000);
    this.child.send({ type: 'stop' });
    await stopped;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** What the load's driver counts: the room process, or BullMQ alone in this process. */
interface Counters {
  chunks: number;
  /** Run starts (first chunks at the room), or BullMQ jobs completed. */
  starts: number;
  failedRuns: number;
  /** CPU µs of the driver's process when it is a child (the room); 0 for this process. */
  cpuMicros: number;
  lastError: string | null;
}

interface Snapshot {
  at: number;
  counters: Counters;
  workers: number;
  redis: RedisCpu;
  bench: number;
  machine: number;
}

/** One window's figures. */
export interface Window {
  seconds: number;
  chunks: number;
  starts: number;
  failedRuns: number;
  /** CPU seconds per process over the window. */
  room: number;
  workers: number;
  redis: number;
  redisReplicas: number;
  /** The busiest primary's CPU seconds: what one queue's slot, or one shard, has to carry. */
  redisBusiest: number;
  /** The bench process: the local OpenAI-compatible server (and BullMQ alone in that phase). */
  server: number;
  /** Busy cores of the machine that none of the above used: the other load. */
  otherCores: number;
  loadAverage: number;
}

async function snapshot(
  counters: () => Promise<Counters>,
  workerPids: number[],
  redis: RedisTarget,
): Promise<Snapshot> {
  const [c, redisCpu] = await Promise.all([counters(), redis.cpu()]);
  const bench = process.cpuUsage();
  return {
    at: performance.now(),
    counters: c,
    workers: workerPids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0),
    redis: redisCpu,
    bench: (bench.user + bench.system) / 1e6,
    machine: machineBusySeconds(),
  };
}

function windowOf(a: Snapshot, b: Snapshot): Window {
  const seconds = (b.at - a.at) / 1000;
  const w = {
    seconds,
    chunks: b.counters.chunks - a.counters.chunks,
    starts: b.counters.starts - a.counters.starts,
    failedRuns: b.counters.failedRuns - a.counters.failedRuns,
    room: (b.counters.cpuMicros - a.counters.cpuMicros) / 1e6,
    workers: b.workers - a.workers,
    redis: 0,
    redisReplicas: 0,
    redisBusiest: 0,
    server: b.bench - a.bench,
    otherCores: 0,
    loadAverage: os.loadavg()[0]!,
  };
  for (const [port, node] of Object.entries(b.redis)) {
    const used = node.cpu - (a.redis[Number(port)]?.cpu ?? 0);
    if (node.primary) {
      w.redis += used;
      w.redisBusiest = Math.max(w.redisBusiest, used);
    } else w.redisReplicas += used;
  }
  const ours = w.room + w.workers + w.redis + w.redisReplicas + w.server;
  w.otherCores = Math.max(0, (b.machine - a.machine - ours) / seconds);
  return w;
}

export interface PhaseSpec {
  kind: 'stream' | 'start' | 'queue' | 'shards' | 'startShards';
  /** BullMQ alone, or the fleet's `queues`: how many queues the runs are spread over. */
  shards?: number;
  sessions: number;
  workers: number;
  concurrency: number;
  /** The room's sessions start their loops spread over this long. */
  spreadMs: number;
  warmupMs: number;
  windowMs: number;
  windows: number;
  message: string;
}

export interface PhaseResult {
  spec: PhaseSpec;
  target: string;
  /** Before the load: the same processes, connected, with nothing to do. */
  idle: Window;
  windows: Window[];
  /** The last failed run's error, if any failed. */
  lastError: string | null;
}

const median = (values: number[]) => summarize(values).p50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An idle window, `go`, the warm-up, then the measured windows. */
async function measure(
  spec: PhaseSpec,
  redis: RedisTarget,
  counters: () => Promise<Counters>,
  workerPids: number[],
  go: () => void,
): Promise<{ idle: Window; windows: Window[]; lastError: string | null }> {
  const before = await snapshot(counters, workerPids, redis);
  await sleep(spec.windowMs);
  const idle = windowOf(before, await snapshot(counters, workerPids, redis));
  go();
  await sleep(spec.warmupMs);
  const windows: Window[] = [];
  let previous = await snapshot(counters, workerPids, redis);
  for (let i = 0; i < spec.windows; i++) {
    await sleep(spec.windowMs);
    const current = await snapshot(counters, workerPids, redis);
    windows.push(windowOf(previous, current));
    previous = current;
  }
  // Failed runs (e.g. a lock not renewed in time on a starved machine) are reported, not hidden:
  // the windows still measure CPU per delivered unit.
  return { idle, windows, lastError: previous.counters.lastError };
}

/** Streaming or run starts: worker processes and a room process against `redis`. */
async function fleetPhase(
  env: BenchEnv,
  redis: RedisTarget,
  spec: PhaseSpec,
): Promise<PhaseResult> {
  const names = uniqueNames(`cap-${spec.kind}`);
  const workers: WorkerProcess[] = [];
  let room: RoomChild | null = null;
  try {
    for (let i = 0; i < spec.workers; i++) {
      workers.push(
        await startWorker(
          names,
          env.baseURL,
          [
            '--concurrency',
            String(spec.concurrency),
            ...(spec.shards ? ['--queues', String(spec.shards)] : []),
          ],
          { OPENAI_API_KEY: API_KEY, REDIS_URL: redis.workerRedisUrl },
          { keepOutput: 20_000, readyTimeoutMs: 60_000 },
        ),
      );
    }
    room = await RoomChild.start({
      redis: redis.transportRedis,
      prefix: names.prefix,
      queue: names.queue,
      room: `capacity-${spec.kind}`,
      sessions: spec.sessions,
      message: spec.message,
      spreadMs: spec.spreadMs,
      ...(spec.shards ? { queues: spec.shards } : {}),
    });
    const child = room;
    const counters = async (): Promise<Counters> => {
      const s = await child.sample();
      return {
        chunks: s.chunks,
        starts: s.firstChunks,
        failedRuns: s.failedRuns,
        cpuMicros: s.cpuMicros,
        lastError: s.lastError,
      };
    };
    const measured = await measure(
      spec,
      redis,
      counters,
      workers.map((w) => w.pid),
      () => child.go(),
    );
    return { spec, target: redis.label, ...measured };
  } finally {
    await room?.stop();
    for (const worker of workers) await worker.stop();
  }
}

/**
 * BullMQ alone, with the fleet's job options and a payload the size of a run's job: jobs added
 * and taken by no-op processors in this process, up to `sessions` waiting or active, spread
 * round-robin over `spec.shards` queues (one Worker each). Its Redis CPU per job is what a run
 * start costs the queue's slot, the part no cluster spreads unless the queue is sharded.
 */
export async function queuePhase(redis: RedisTarget, spec: PhaseSpec): Promise<PhaseResult> {
  const name = `cap-queue-${process.pid}-${Date.now().toString(36)}`;
  const connection = redis.bullmq();
  const prefixes = await redis.bullPrefixes(spec.shards ?? 1);
  const queues = prefixes.map(
    (prefix) => new Queue(name, { connection: connection as ConnectionOptions, prefix }),
  );
  const workers = prefixes.map(
    (prefix) =>
      new Worker(name, async () => ({ ok: true }), {
        connection: connection as ConnectionOptions,
        prefix,
        concurrency: Math.ceil(spec.concurrency / prefixes.length),
        lockDuration: 6_000,
        stalledInterval: 3_000,
      }),
  );
  const data = { message: 'x'.repeat(200), assistant: { id: 'asst_emulator' }, tools: [] };
  let added = 0;
  let completed = 0;
  let failed = 0;
  let lastError: string | null = null;
  let running = false;
  for (const worker of workers) {
    worker.on('completed', () => completed++);
    worker.on('failed', (_job, error) => {
      failed++;
      lastError = error.message;
    });
  }
  const producers: Array<Promise<void>> = [];
  try {
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const counters = async (): Promise<Counters> => ({
      chunks: 0,
      starts: completed,
      failedRuns: failed,
      cpuMicros: 0,
      lastError,
    });
    const produce = async () => {
      while (running) {
        if (added - completed >= spec.sessions) {
          await sleep(1);
          continue;
        }
        const n = ++added;
        await queues[n % queues.length]!.add('run', data, {
          jobId: `j${n}`,
          attempts: 1,
          removeOnComplete: { age: 3600, count: 10_000 },
          removeOnFail: { age: 24 * 3600, count: 10_000 },
        });
      }
    };
    const measured = await measure(spec, redis, counters, [], () => {
      running = true;
      for (let i = 0; i < 20; i++) producers.push(produce());
    });
    return { spec, target: redis.label, ...measured };
  } finally {
    running = false;
    await Promise.all(producers);
    for (const worker of workers) await worker.close();
    for (const queue of queues) await queue.close();
    connection.disconnect();
  }
}

/** Medians over a phase's windows: rates, cores and CPU µs per unit of each process. */
export interface PhaseFigures {
  chunksPerSecond: number;
  startsPerSecond: number;
  cores: { room: number; workers: number; redis: number; redisReplicas: number; server: number };
  idleCores: { room: number; workers: number; redis: number };
  /** µs per chunk (stream) or per run start (start, queue), raw: everything the window held. */
  usPer: {
    room: number;
    workers: number;
    redis: number;
    redisReplicas: number;
    redisBusiest: number;
    server: number;
  };
  otherCores: number;
  loadAverage: number;
}

function figuresOf(phases: PhaseResult[]): PhaseFigures {
  const kind = phases[0]!.spec.kind;
  const w = phases.flatMap((p) => p.windows);
  const idle = phases.map((p) => p.idle);
  const per = (pick: (x: Window) => number) =>
    median(w.map((x) => (pick(x) * 1e6) / (kind === 'stream' ? x.chunks : x.starts)));
  const cores = (windows: Window[], pick: (x: Window) => number) =>
    median(windows.map((x) => pick(x) / x.seconds));
  return {
    chunksPerSecond: median(w.map((x) => x.chunks / x.seconds)),
    startsPerSecond: median(w.map((x) => x.starts / x.seconds)),
    cores: {
      room: cores(w, (x) => x.room),
      workers: cores(w, (x) => x.workers),
      redis: cores(w, (x) => x.redis),
      redisReplicas: cores(w, (x) => x.redisReplicas),
      server: cores(w, (x) => x.server),
    },
    idleCores: {
      room: cores(idle, (x) => x.room),
      workers: cores(idle, (x) => x.workers),
      redis: cores(idle, (x) => x.redis + x.redisReplicas),
    },
    usPer: {
      room: per((x) => x.room),
      workers: per((x) => x.workers),
      redis: per((x) => x.redis),
      redisReplicas: per((x) => x.redisReplicas),
      redisBusiest: per((x) => x.redisBusiest),
      server: per((x) => x.server),
    },
    otherCores: median(w.map((x) => x.otherCores)),
    loadAverage: median(w.map((x) => x.loadAverage)),
  };
}

/**
 * The model's figures for one target: per chunk from the streaming windows, less their run
 * starts at the run-start phase's per-start cost (per window, then the median).
 */
function modelFigures(
  label: string,
  stream: PhaseResult[],
  start: PhaseResult[],
  queue: PhaseResult[],
): MeasuredFigures {
  const s = figuresOf(start);
  const windows = stream.flatMap((p) => p.windows);
  const chunkOnly = (pick: (x: Window) => number, perStart: number) =>
    median(windows.map((x) => ((pick(x) - (x.starts * perStart) / 1e6) * 1e6) / x.chunks));
  return {
    label,
    roomUsPerChunk: chunkOnly((x) => x.room, s.usPer.room),
    workerUsPerChunk: chunkOnly((x) => x.workers, s.usPer.workers),
    redisUsPerChunk: chunkOnly((x) => x.redis, s.usPer.redis),
    roomUsPerStart: s.usPer.room,
    workerUsPerStart: s.usPer.workers,
    redisUsPerStart: s.usPer.redis,
    // The queue's slot lives on one primary: the busiest one (the only one on a single node).
    queueRedisUsPerJob: figuresOf(queue).usPer.redisBusiest,
    measuredStartsPerSecond: s.startsPerSecond,
  };
}

/** Milliseconds before each streamed word: 10 words/s per session while it streams. */
const PACE_MS = 100;
/** Words per streamed reply: a 5 s reply, so a session starts a run every 50 chunks. */
const REPLY_WORDS = 50;

function specs(quick: boolean): Record<PhaseSpec['kind'], PhaseSpec> {
  const windows = quick ? 5 : 8;
  const windowMs = quick ? 3000 : 4000;
  const streamSessions = quick ? 200 : 400;
  const startSessions = quick ? 100 : 200;
  const replyMs = PACE_MS * REPLY_WORDS;
  const start: PhaseSpec = {
    kind: 'start',
    sessions: startSessions,
    // Two workers with a slot for every session: runs never wait for a free slot.
    workers: 2,
    concurrency: startSessions + 10,
    spreadMs: 1000,
    warmupMs: 3000,
    windowMs,
    windows,
    message: START,
  };
  return {
    stream: {
      kind: 'stream',
      sessions: streamSessions,
      workers: 1,
      concurrency: streamSessions + 10,
      // Spread over one reply's length: runs start at an even rate, not in step.
      spreadMs: replyMs,
      warmupMs: replyMs + 2000,
      windowMs,
      windows,
      message: `${STREAM} ${REPLY_WORDS}`,
    },
    start,
    queue: {
      kind: 'queue',
      sessions: startSessions,
      workers: 0,
      concurrency: startSessions + 10,
      spreadMs: 0,
      warmupMs: 2000,
      windowMs,
      windows,
      message: '',
    },
    startShards: { ...start, kind: 'startShards', shards: 3 },
    shards: {
      kind: 'shards',
      shards: 3,
      sessions: startSessions,
      workers: 0,
      concurrency: startSessions + 10,
      spreadMs: 0,
      warmupMs: 2000,
      windowMs,
      windows,
      message: '',
    },
  };
}

type Kind = PhaseSpec['kind'];

interface TargetResult {
  label: string;
  figures: Partial<Record<Kind, PhaseFigures>>;
  /** The sizing model's figures, where the fleet itself ran on the target. */
  model: MeasuredFigures | null;
  phases: PhaseResult[];
}

const us = (value: number) => round(value, 1);
const coresOf = (f: PhaseFigures) =>
  `${f.cores.room.toFixed(2)} / ${f.cores.workers.toFixed(2)} / ${f.cores.redis.toFixed(2)}` +
  `${f.cores.redisReplicas > 0 ? ` (+${f.cores.redisReplicas.toFixed(2)})` : ''} / ${f.cores.server.toFixed(2)}`;

/** Whether this checkout's fleet takes Redis Cluster seed nodes (REDIS_URL with commas). */
async function fleetTakesCluster(): Promise<boolean> {
  const connection = (await import('../queues/connection.js')) as Record<string, unknown>;
  return typeof connection.isClusterConnection === 'function';
}

interface Plan {
  make: () => Promise<RedisTarget>;
  kinds: Kind[];
}

export const capacity: Benchmark = {
  name: 'capacity',
  title: 'Capacity: CPU per chunk and per run start, run starts one queue sustains, sizing',
  scripts: [
    {
      message: new RegExp(`^${STREAM} `),
      script: {
        tokenDelayMs: PACE_MS,
        steps: [
          {
            text: (ctx) =>
              Array.from({ length: Number(ctx.message.split(' ')[1]) }, (_, k) => `w${k}`).join(
                ' ',
              ),
          },
        ],
      },
    },
    { message: new RegExp(`^${START}$`), script: { tokenDelayMs: 0, steps: [{ text: 'ok' }] } },
  ],
  async run(env: BenchEnv): Promise<BenchResult> {
    const spec = specs(env.quick);
    const rounds = env.quick ? 1 : 2;
    const clusterFleet = await fleetTakesCluster();
    const plans: Plan[] = [
      { make: singleNode, kinds: ['stream', 'start', 'queue'] },
      // BullMQ alone runs on the cluster in any case; the fleet where it takes cluster seeds.
      {
        make: redisCluster,
        kinds: clusterFleet
          ? ['stream', 'start', 'startShards', 'queue', 'shards']
          : ['queue', 'shards'],
      },
    ];
    const phases = new Map<string, PhaseResult[]>();
    const labels: string[] = [];
    for (let r = 0; r < rounds; r++) {
      // Targets in a random order each round, so the machine's drift falls on both alike.
      for (const plan of shuffle(plans)) {
        const target = await plan.make();
        const label = target.label.split(' (')[0]!;
        if (!labels.includes(label)) labels.push(label);
        try {
          for (const kind of plan.kinds) {
            env.log(`capacity: round ${r + 1}/${rounds}, ${target.label}, ${kind}`);
            const result =
              kind === 'stream' || kind === 'start' || kind === 'startShards'
                ? await fleetPhase(env, target, spec[kind])
                : await queuePhase(target, spec[kind]);
            const key = `${label}|${kind}`;
            phases.set(key, [...(phases.get(key) ?? []), result]);
          }
        } finally {
          await target.stop();
        }
      }
    }

    const results: TargetResult[] = labels.map((label) => {
      const of = (kind: Kind) => phases.get(`${label}|${kind}`);
      const figures: TargetResult['figures'] = {};
      for (const kind of ['stream', 'start', 'startShards', 'queue', 'shards'] as const) {
        const list = of(kind);
        if (list) figures[kind] = figuresOf(list);
      }
      const stream = of('stream');
      const start = of('start');
      const queue = of('queue');
      return {
        label,
        figures,
        model: stream && start && queue ? modelFigures(label, stream, start, queue) : null,
        phases: [...phases.entries()]
          .filter(([k]) => k.startsWith(`${label}|`))
          .flatMap(([, v]) => v),
      };
    });
    const withFleet = results.filter((r) => r.figures.stream && r.figures.start);

    const tables: string[] = [
      table(
        [
          `streaming: ${spec.stream.sessions} sessions, ${PACE_MS} ms/word, ${REPLY_WORDS}-word replies`,
          'chunks/s',
          'cores: room / worker / Redis (+replicas) / server',
          'µs per chunk: room',
          'worker',
          'Redis',
          'less run starts: room',
          'worker',
          'Redis',
          'other load (cores)',
          'load avg',
        ],
        withFleet.map(({ label, figures: { stream: f }, model: m }) => [
          label,
          Math.round(f!.chunksPerSecond),
          coresOf(f!),
          us(f!.usPer.room),
          us(f!.usPer.workers),
          us(f!.usPer.redis),
          us(m!.roomUsPerChunk),
          us(m!.workerUsPerChunk),
          us(m!.redisUsPerChunk),
          f!.otherCores,
          f!.loadAverage,
        ]),
      ),
      table(
        [
          `run starts: ${spec.start.sessions} sessions, ${spec.start.workers} workers × ${spec.start.concurrency} slots, one queue unless said`,
          'starts/s',
          'cores: room / workers / Redis (+replicas) / server',
          'µs per start: room',
          'worker',
          'Redis',
          'busiest primary',
          'other load (cores)',
          'load avg',
        ],
        withFleet.flatMap(({ label, figures }) =>
          (['start', 'startShards'] as const).flatMap((kind) => {
            const f = figures[kind];
            if (!f) return [];
            return [
              [
                kind === 'start' ? label : `${label}, ${spec.startShards.shards} queues`,
                Math.round(f.startsPerSecond),
                coresOf(f),
                us(f.usPer.room),
                us(f.usPer.workers),
                us(f.usPer.redis),
                us(f.usPer.redisBusiest),
                f.otherCores,
                f.loadAverage,
              ],
            ];
          }),
        ),
      ),
      table(
        [
          `BullMQ alone: fleet job options, ${spec.queue.sessions} jobs in flight, no-op processors`,
          'jobs/s',
          'Redis cores (+replicas)',
          'bench process cores',
          'Redis µs per job',
          'busiest primary µs per job',
          'ceiling at one core of the busiest primary (jobs/s)',
          'other load (cores)',
        ],
        results.flatMap(({ label, figures }) =>
          (['queue', 'shards'] as const).flatMap((kind) => {
            const f = figures[kind];
            if (!f) return [];
            return [
              [
                `${label}, ${kind === 'queue' ? '1 queue' : `${spec.shards.shards} queues`}`,
                Math.round(f.startsPerSecond),
                `${f.cores.redis.toFixed(2)}${f.cores.redisReplicas > 0 ? ` (+${f.cores.redisReplicas.toFixed(2)})` : ''}`,
                f.cores.server,
                us(f.usPer.redis),
                us(f.usPer.redisBusiest),
                Math.round(1e6 / f.usPer.redisBusiest),
                f.otherCores,
              ],
            ];
          }),
        ),
      ),
    ];
    for (const { model } of results) {
      if (!model) continue;
      const { headers, rows } = sizingTable(model, DEFAULT_ASSUMPTIONS);
      tables.push(table(headers, rows));
    }
    const idle = withFleet
      .map(
        ({ label, figures: { stream: f } }) =>
          `${label}: room ${f!.idleCores.room.toFixed(3)}, worker ${f!.idleCores.workers.toFixed(3)}, Redis ${f!.idleCores.redis.toFixed(3)} cores`,
      )
      .join('; ');
    const failures =
      [...phases.entries()]
        .map(([key, list]) => {
          const failed = list.reduce(
            (sum, p) => sum + p.windows.reduce((n, w) => n + w.failedRuns, 0),
            0,
          );
          const last = list.map((p) => p.lastError).find((e) => e !== null);
          return failed > 0 ? `${key.replace('|', ' ')} ${failed} (last: ${last})` : null;
        })
        .filter((line) => line !== null)
        .join('; ') || 'none';
    return {
      tables,
      data: {
        assumptions: DEFAULT_ASSUMPTIONS,
        specs: spec,
        clusterFleet,
        targets: results.map((r) => ({
          ...r,
          sizing: r.model ? sizingTable(r.model, DEFAULT_ASSUMPTIONS).rows : null,
        })),
      },
      targets: [],
      notes: [
        `sizing assumptions: ${describeAssumptions(DEFAULT_ASSUMPTIONS)}`,
        `medians over ${spec.stream.windows * rounds} windows of ${spec.stream.windowMs / 1000} s per phase and target (${rounds} round(s), targets in random order each round); Redis, the workers and the room are processes of their own; "server" is the bench process, which runs the local OpenAI-compatible server (and BullMQ alone in its phases)`,
        `"less run starts": the streaming windows' run starts (one per ${REPLY_WORDS} chunks) taken out at the run-start phase's µs per start; the model uses these`,
        "run starts: each run replies one word at once; a start = the room's process() call to its first chunk; µs per start include that chunk",
        "BullMQ alone: all of a queue's keys share one slot, so one primary carries them; the model's queue ceiling is 1e6 / the busiest primary's µs per job",
        clusterFleet
          ? 'cluster: the fleet itself ran on the cluster (REDIS_URL with the seed nodes)'
          : "cluster: this checkout's fleet does not take cluster seed nodes yet, so only BullMQ alone ran on the cluster",
        '"other load": busy cores of the machine (/proc/stat) that none of the measured processes used',
        `idle before the streaming load (same processes, connected): ${idle}`,
        `failed runs in the measured windows: ${failures}`,
      ],
    };
  },
};
