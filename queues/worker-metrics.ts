/** Prometheus metrics of a worker process: what an operator needs to see a fleet's health. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
