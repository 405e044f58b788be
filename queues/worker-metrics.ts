/**
 * Prometheus metrics of a worker process: what an operator needs to see a fleet's health.
 * prom-client is an optional package that only workers need, so it is loaded when a worker is
 * made, not when the fleet's entry is imported (a room process in fleet mode never needs it).
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { missingPackages, missingPackagesMessage } from '../src/util/optional-packages.js';
import type { RunEventBody } from '../src/events.js';
import type { RunOutcome } from './job.js';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

let loaded: typeof PromClient | undefined;

/** prom-client, loaded on first use (it is CommonJS, so this can be synchronous). */
function promClient(): typeof PromClient {
  if (loaded) return loaded;
  const missing = missingPackages(['prom-client']);
  if (missing.length > 0) throw new Error(missingPackagesMessage("a worker's metrics", missing));
  loaded = createRequire(import.meta.url)('prom-client') as typeof PromClient;
  return loaded;
}

/** A worker's Prometheus metrics, in their own registry (served at /metrics by the worker command). */
export class WorkerMetrics {
  readonly #prom = promClient();
  readonly registry = new this.#prom.Registry();
  readonly runsStarted = new this.#prom.Counter({
    name: 'assistant_runs_started_total',
    help: 'Runs this worker started',
    labelNames: ['api'] as const,
    registers: [this.registry],
  });
  readonly runsResumed = new this.#prom.Counter({
    name: 'assistant_runs_resumed_total',
    help: 'Runs this worker took over from a lost worker and continued upstream',
    labelNames: ['api'] as const,
    registers: [this.registry],
  });
  readonly runsEnded = new this.#prom.Counter({
    name: 'assistant_runs_ended_total',
    help: 'Runs this worker ended, by outcome (completed, failed, cancelled)',
    labelNames: ['api', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly queueWait = new this.#prom.Histogram({
    name: 'assistant_run_queue_wait_seconds',
    help: 'Time from a room queuing a run to a worker starting it',
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly timeToFirstToken = new this.#prom.Histogram({
    name: 'assistant_run_time_to_first_token_seconds',
    help: 'Time from a worker starting a run to its first text delta',
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly toolRoundTrip = new this.#prom.Histogram({
    name: 'assistant_tool_round_trip_seconds',
    help: 'Time from asking the room for tool outputs to receiving them',
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly activeSessions = new this.#prom.Gauge({
    name: 'assistant_active_sessions',
    help: 'Sessions with a run executing on this worker now',
    registers: [this.registry],
  });

  constructor() {
    this.#prom.collectDefaultMetrics({ register: this.registry, prefix: 'assistant_worker_' });
  }
}

/**
 * One run's share of the metrics: the worker's counters and histograms fed from the run's
 * events, so that the code that runs a run only says what happened.
 */
export class RunMeter {
  readonly #metrics: WorkerMetrics;
  readonly #api: string;
  readonly #startedAt: number;
  #firstToken = true;
  /** When the run asked the room for tool outputs; 0 when it is not waiting for them. */
  #askedForToolsAt = 0;

  constructor(metrics: WorkerMetrics, api: string, startedAt = Date.now()) {
    this.#metrics = metrics;
    this.#api = api;
    this.#startedAt = startedAt;
  }

  /** The run was taken over and continues from its checkpoint. */
  resumed(): void {
    this.#metrics.runsResumed.inc({ api: this.#api });
  }

  /** The run is about to reach the server, `queuedAt` ms (epoch) after the room queued it. */
  started(queuedAt: number): void {
    this.#metrics.runsStarted.inc({ api: this.#api });
    this.#metrics.queueWait.observe((this.#startedAt - queuedAt) / 1000);
  }

  /** An event the run produced. */
  saw(event: RunEventBody): void {
    if (event.type === 'text.delta' && this.#firstToken) {
      this.#firstToken = false;
      this.#metrics.timeToFirstToken.observe((Date.now() - this.#startedAt) / 1000);
    }
    if (event.type === 'tool_outputs.required') this.#askedForToolsAt = Date.now();
  }

  /** The room's tool outputs arrived. */
  toolOutputsArrived(): void {
    if (this.#askedForToolsAt) {
      this.#metrics.toolRoundTrip.observe((Date.now() - this.#askedForToolsAt) / 1000);
    }
    this.#askedForToolsAt = 0;
  }

  ended(outcome: RunOutcome): void {
    this.#metrics.runsEnded.inc({ api: this.#api, outcome });
  }
}
