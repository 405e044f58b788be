import OpenAI from 'openai';
import type { RunWorker } from '../../queues/run-worker.js';
import {
  intSetting,
  loadFor,
  QUEUES_OPTION,
  REDIS_OPTION,
  settingError,
  UsageError,
  type Command,
} from '../kit.js';
import { commandLogger, LOG_OPTIONS } from '../log.js';
import { waitForSignal } from './emulator.js';

/** What a worker needs beyond the plugin itself. */
export const WORKER_PACKAGES = ['bullmq', 'ioredis', 'prom-client'] as const;

export const workerCommand: Command = {
  name: 'worker',
  summary:
    'Run assistant runs from the Redis queue: streams them from OpenAI and sends events back to the rooms.',
  options: {
    redis: REDIS_OPTION,
    concurrency: {
      type: 'string',
      description: 'Runs executed at once by this process',
      env: 'WORKER_CONCURRENCY',
      default: '50',
    },
    prefix: {
      type: 'string',
      description: 'Redis key prefix',
      env: 'ASSISTANT_PREFIX',
      default: 'ast',
    },
    queue: {
      type: 'string',
      description: 'BullMQ queue name',
      env: 'ASSISTANT_QUEUE',
      default: 'assistant-runs',
    },
    queues: QUEUES_OPTION,
    ...LOG_OPTIONS,
    'http-host': {
      type: 'string',
      description: 'Address of /healthz, /readyz and /metrics',
      env: 'WORKER_HTTP_HOST',
      default: '127.0.0.1',
    },
    'http-port': {
      type: 'string',
      description: 'Port of /healthz, /readyz and /metrics (0 picks one; -1 turns them off)',
      env: 'WORKER_HTTP_PORT',
      default: '9464',
    },
    'grace-ms': {
      type: 'string',
      description: 'On SIGTERM, how long runs in flight may finish before they are handed back',
      env: 'WORKER_GRACE_MS',
      default: '25000',
    },
  },
  async run(values) {
    const concurrency = intSetting(this, values, 'concurrency', 1, 10_000);
    const queues = intSetting(this, values, 'queues', 1, 256);
    const httpPort = intSetting(this, values, 'http-port', -1, 65535);
    const graceMs = intSetting(this, values, 'grace-ms', 0, 600_000);
    const apiKey = process.env.OPENAI_API_KEY;
    if (!apiKey)
      throw new UsageError(
        'OPENAI_API_KEY: required; workers call OpenAI with the key from their own environment',
      );
    const { pino: log, logger } = commandLogger(this, values);
    const [{ RunWorker }, { startHealthServer }] = await loadFor(
      'the worker',
      WORKER_PACKAGES,
      () =>
        Promise.all([
          import('../../queues/run-worker.js'),
          import('../../queues/health-server.js'),
        ]),
    );
    let worker: RunWorker;
    try {
      worker = new RunWorker({
        redis: String(values.redis),
        openai: new OpenAI({ apiKey }),
        prefix: String(values.prefix),
        queue: String(values.queue),
        queues,
        concurrency,
        logger,
      });
    } catch (error) {
      const message = (error as Error).message;
      // A bad Redis URL or prefix: name the setting it came from.
      throw settingError(this, message, ['redis', 'prefix']) ?? new UsageError(message);
    }
    await worker.ready();
    const health =
      httpPort < 0
        ? null
        : await startHealthServer({
            host: String(values['http-host']),
            port: httpPort,
            registry: worker.metrics.registry,
            ready: () => worker.isReady(),
          });
    const signalled = waitForSignal();
    log.info(
      {
        queue: String(values.queue),
        queues,
        concurrency,
        ...(health ? { healthUrl: health.url } : {}),
      },
      'worker ready',
    );
    await signalled;
    log.info({ graceMs }, 'worker stopping: runs in flight may finish');
    const handedBack = await worker.close(graceMs);
    await health?.close();
    log.info({ handedBack }, 'worker stopped; unfinished runs handed back to the queue');
  },
};
