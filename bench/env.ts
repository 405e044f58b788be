/**
 * What every benchmark shares: the local OpenAI-compatible server in this process, with a clock
 * on what it sends and receives; a real worker child process started through the CLI; unique
 * Redis names; and the clean-up of their keys. The fleet parts are the tests' own fixtures
 * (test/support/fleet.ts), so tests and benchmarks start workers the same way.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { AssistantLLM } from '../src/index.js';
import { EmulatorServer, type ScriptRule } from '../src/testing.js';
import type { CapturedEvent } from '../src/emulator/context.js';
import type { RecordedRequest } from '../src/emulator/server.js';
import {
  fleetLLM,
  REDIS_URL,
  startWorker,
  type FleetNames,
  type WorkerProcess,
} from '../test/support/fleet.js';

export { REDIS_URL };
export const API_KEY = 'sk-bench';
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export type Names = FleetNames;

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

export type WorkerChild = WorkerProcess;

/**
 * A worker as operators run it: `assistant-host worker` in its own process (through tsx, as
 * `npm run cli` does), so fleet figures include the process hop. Started by the tests' fleet
 * fixture; BENCH_WORKER_SCRIPT names another worker entry (same arguments) to compare a changed
 * worker.
 */
export function startWorkerProcess(
  names: Names,
  baseURL: string,
  concurrency: number,
  nodeArgs: string[] = [],
): Promise<WorkerChild> {
  const script = process.env.BENCH_WORKER_SCRIPT;
  return startWorker(
    names,
    baseURL,
    ['--concurrency', String(concurrency)],
    { OPENAI_API_KEY: API_KEY },
    { nodeArgs, keepOutput: 20_000, readyTimeoutMs: 60_000, ...(script ? { entry: script } : {}) },
  );
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
    fleetLLM: (room, participant) => fleetLLM('assistants', names, { room, participant }),
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
