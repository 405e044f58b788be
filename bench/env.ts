/**
 * What every benchmark shares: the local OpenAI-compatible server in this process, with a clock
 * on what it sends and receives; a real worker child process started through the CLI; unique
 * Redis names; and the clean-up of their keys.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { AssistantLLM } from '../src/index.js';
import { EmulatorServer, type ScriptRule } from '../src/testing.js';
import type { CapturedEvent } from '../src/emulator/context.js';
import type { RecordedRequest } from '../src/emulator/server.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const API_KEY = 'sk-bench';
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = fileURLToPath(new URL('../queues/cli.ts', import.meta.url));

export interface Names {
  prefix: string;
  queue: string;
}

export function uniqueNames(): Names {
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  return { prefix: `bench-${tag}`, queue: `bench-q-${tag}` };
}

type EventHook = (event: CapturedEvent, at: number) => void;
type RequestHook = (request: RecordedRequest, at: number) => void;

/**
 * Time stamps on the server side. The emulator calls `events.push` synchronously as it appends
 * an event to a run's log, right before it writes the event to the SSE response, and
 * `requests.push` once a request's body was read; this instance's two arrays get a `push` that
 * calls the hooks with `performance.now()` and keeps nothing (so memory does not grow).
 */
export class ServerClock {
  private readonly eventHooks = new Set<EventHook>();
  private readonly requestHooks = new Set<RequestHook>();

  constructor(emulator: EmulatorServer) {
    emulator.events.push = (...events: CapturedEvent[]) => {
      if (this.eventHooks.size > 0) {
        const at = performance.now();
        for (const event of events) for (const hook of this.eventHooks) hook(event, at);
      }
      return 0;
    };
    emulator.requests.push = (...requests: RecordedRequest[]) => {
      if (this.requestHooks.size > 0) {
        const at = performance.now();
        for (const request of requests) for (const hook of this.requestHooks) hook(request, at);
      }
      return 0;
    };
  }

  onEvent(hook: EventHook): () => void {
    this.eventHooks.add(hook);
    return () => this.eventHooks.delete(hook);
  }

  onRequest(hook: RequestHook): () => void {
    this.requestHooks.add(hook);
    return () => this.requestHooks.delete(hook);
  }
}

/** The text of a `thread.message.delta` event, or undefined for any other event. */
export function deltaText(event: CapturedEvent): string | undefined {
  if (event.event !== 'thread.message.delta') return undefined;
  const data = event.data as {
    delta?: { content?: Array<{ text?: { value?: string } }> };
  };
  return data.delta?.content?.[0]?.text?.value;
}

export interface WorkerChild {
  child: ChildProcess;
  pid: number;
  output: () => string;
  stop(): Promise<number | null>;
}

/**
 * A worker as operators run it: `assistant-host worker` in its own process (through tsx, as
 * `npm run cli` does), so fleet figures include the process hop.
 */
export async function startWorkerProcess(
  names: Names,
  baseURL: string,
  concurrency: number,
  nodeArgs: string[] = [],
): Promise<WorkerChild> {
  // BENCH_WORKER_SCRIPT: another worker entry (same environment), to compare a changed worker.
  const script = process.env.BENCH_WORKER_SCRIPT;
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      '--import',
      'tsx',
      ...(script ? [script] : [CLI]),
      'worker',
      '--queue',
      names.queue,
      '--prefix',
      names.prefix,
      '--http-port=-1',
      '--concurrency',
      String(concurrency),
      '--log-level',
      'error',
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        OPENAI_API_KEY: API_KEY,
        OPENAI_BASE_URL: baseURL,
        REDIS_URL,
        ASSISTANT_PREFIX: names.prefix,
        ASSISTANT_QUEUE: names.queue,
        WORKER_CONCURRENCY: String(concurrency),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  process.once('exit', () => child.kill('SIGKILL'));
  let output = '';
  const keep = (data: Buffer) => {
    output = (output + data.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready:\n${output}`)), 60_000);
    const check = () => {
      if (/worker ready/.test(output)) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before ready:\n${output}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code) => resolve(code)),
      );
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Deletes the run queue's BullMQ keys and every key under the prefix. */
export async function cleanUp(names: Names): Promise<number> {
  const queue = new Queue(names.queue, { connection: { url: REDIS_URL } });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  const redis = new Redis(REDIS_URL);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${names.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (batch.length > 0) deleted += await redis.del(...batch);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export interface BenchEnv {
  quick: boolean;
  emulator: EmulatorServer;
  clock: ServerClock;
  baseURL: string;
  names: Names;
  worker: WorkerChild;
  /** A fleet-mode AssistantLLM for (room, participant), through the worker. */
  fleetLLM(room: string, participant: string): AssistantLLM;
  /** An AssistantLLM running its runs in this process against the same server. */
  localLLM(): AssistantLLM;
  log(line: string): void;
}

export function makeEnv(
  quick: boolean,
  emulator: EmulatorServer,
  baseURL: string,
  names: Names,
  worker: WorkerChild,
): BenchEnv {
  return {
    quick,
    emulator,
    clock: new ServerClock(emulator),
    baseURL,
    names,
    worker,
    fleetLLM: (room, participant) =>
      new AssistantLLM({
        load_options: { assistant_id: EmulatorServer.defaultAssistantId },
        transport: { redis: REDIS_URL, ...names, session: { room, participant } },
      }),
    localLLM: () =>
      new AssistantLLM({
        load_options: { assistant_id: EmulatorServer.defaultAssistantId },
        baseURL,
        apiKey: API_KEY,
      }),
    log: (line) => console.error(`[bench] ${line}`),
  };
}

export type { ScriptRule };

/** Reads a process()-style stream to its end; returns the chunks. */
export async function drain(stream: AsyncIterable<string>): Promise<string[]> {
  const chunks: string[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}
