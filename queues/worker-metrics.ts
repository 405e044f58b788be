/** Prometheus metrics of a worker process: what an operator needs to see a fleet's health. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunEventBody } from '../src/events.js';
import type { RunOutcome } from './job.js';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly runsStarted = new Counter({
    name: 'assistant_runs_started_total',
    help: 'Runs this worker started',
    labelNames: ['api'] as const,
    registers: [this.registry],
  });
  readonly runsEnded = new Counter({
    name: 'assistant_runs_ended_total',
    help: 'Runs this worker ended, by outcome (completed, failed, cancelled)',
    labelNames: ['api', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'assistant_run_queue_wait_seconds',
    help: 'Time from a room queuing a run to a worker starting it',
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly timeToFirstToken = new Histogram({
    name: 'assistant_run_time_to_first_token_seconds',
    help: 'Time from a worker starting a run to its first text delta',
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly toolRoundTrip = new Histogram({
    name: 'assistant_tool_round_trip_seconds',
    help: 'Time from asking the room for tool outputs to receiving them',
    buckets: SECONDS,
    registers: [this.registry],
  });
  readonly activeSessions = new Gauge({
    name: 'assistant_active_sessions',
    help: 'Sessions with a run executing on this worker now',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'assistant_worker_' });
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
