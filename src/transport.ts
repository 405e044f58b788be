/**
 * A transport carries one run's events from where the run executes to the AssistantLLM that
 * asked for it, and carries tool outputs and cancels back. In one process the run executes
 * right here; in a fleet it executes in a worker and the events cross Redis.
 */
import type OpenAI from 'openai';
import type { RunRequest } from './backends/backend.js';
import { createBackend, type BackendConfig } from './backends/config.js';
import type { RunEvent, RunEventBody, ToolOutput } from './events.js';
import { defaultLogger, type Logger } from './logger.js';

/** One run as its transport hands it over: its events in order, tool outputs in, cancel. */
export interface RunChannel extends AsyncIterable<RunEvent> {
  /** Sends the outputs of the function calls the run waits for. */
  submitToolOutputs(outputs: ToolOutput[]): Promise<void>;
  /** Cancels the run; resolves once the thread is free for the next run. */
  cancel(): Promise<void>;
}

/** Where runs execute: in this process (InMemoryTransport) or in a fleet's workers (RedisTransport). */
export interface RunTransport {
  /** Starts a run of `request` with the backend `backend` describes (no secrets in it). */
  startRun(request: RunRequest, backend: BackendConfig): RunChannel;
  /** Stops taking runs and releases what the transport holds. */
  close(): Promise<void>;
}

/** Numbers a run's events from 1, as they leave the backend. */
export async function* sequenced(events: AsyncIterable<RunEventBody>): AsyncGenerator<RunEvent> {
  let seq = 0;
  for await (const event of events) yield { ...event, seq: ++seq };
}

/** Single-process mode: the backend runs in this process and events are handed over in memory. */
export class InMemoryTransport implements RunTransport {
  readonly #client: OpenAI;
  readonly #logger: Logger;

  /**
   * Runs execute with `client`, which holds the OpenAI key. `logger` gets what a run cannot
   * report in its events (default: LiveKit's logger in a LiveKit process, else the console).
   */
  constructor(client: OpenAI, logger: Logger = defaultLogger()) {
    this.#client = client;
    this.#logger = logger;
  }

  /** Starts the run in this process. */
  startRun(request: RunRequest, backend: BackendConfig): RunChannel {
    const run = createBackend(backend, this.#client, this.#logger).startRun(request);
    return {
      [Symbol.asyncIterator]: () => sequenced(run)[Symbol.asyncIterator](),
      submitToolOutputs: async (outputs) => run.submitToolOutputs(outputs),
      cancel: () => run.cancel(),
    };
  }

  /** Nothing to release: each run's requests end with the run. */
  async close(): Promise<void> {}
}
