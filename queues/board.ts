/**
 * Bull Board for the run queue: each job reads as `run · <room>/<participant>` and its data opens
 * with a summary of the run (session, thread, status, queue wait, duration, error). The board shows
 * users' messages and can retry or delete runs, so it sits behind basic or bearer auth and refuses
 * to listen beyond loopback without credentials.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue, type ConnectionOptions, type Job } from 'bullmq';
import express, { type RequestHandler } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { isIPv4, type AddressInfo } from 'node:net';
import { consoleLogger, type Logger } from '../src/logger.js';
import { bullOptions, shardQueues } from './bull.js';
import { connect, resolveConnection, type RedisConnection } from './connection.js';
import type { RunJobData, RunJobResult } from './job.js';
import { DEFAULT_QUEUE } from './keys.js';

/** The board's credentials: basic auth, or a bearer token. */
export type BoardAuth =
  { kind: 'basic'; user: string; password: string } | { kind: 'bearer'; token: string };

/** Options of startBoard(). */
export interface BoardOptions {
  redis: RedisConnection;
  /** BullMQ queue names. Default ['assistant-runs']. */
  queues?: string[];
  /** Queue shards of each queue (as the fleet's `queues` option): each shard is shown. Default 1. */
  shards?: number;
  /** Default 127.0.0.1; any other than a loopback address requires `auth`. */
  host?: string;
  /** 0 picks a free port. Default 0. */
  port?: number;
  auth?: BoardAuth;
  /** No retry, clean, pause or edit: the UI hides them and the API answers 403. */
  readOnly?: boolean;
  /** Where the board is mounted. Default '/'. */
  basePath?: string;
  logger?: Logger;
}

/** A running board. */
export interface Board {
  /** The board's address, ending in '/'. */
  url: string;
  close(): Promise<void>;
}

/** What the board shows of a run, ahead of the job's own data. */
export interface RunSummary {
  session: string;
  status: string;
  threadId?: string;
  queueWaitMs?: number;
  durationMs?: number;
  error?: string;
}

/** True for an address only this machine can reach (127.x, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.replace(/^::ffff:/i, '');
  return isIPv4(v4) && v4.startsWith('127.');
}

/** Serves Bull Board for the run queues over HTTP; resolves once it listens. */
export async function startBoard(options: BoardOptions): Promise<Board> {
  // IPv6 hosts may come bracketed, as in URLs; listen() wants them bare.
  const host = (options.host ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  if (!options.auth && !isLoopback(host)) {
    throw new Error(
      `host: refusing to listen on ${host} without credentials; pass auth (basic or bearer) or a loopback host`,
    );
  }
  const basePath = `/${(options.basePath ?? '/').replace(/^\/+|\/+$/g, '')}/`.replace('//', '/');
  const readOnly = options.readOnly ?? false;
  const logger = options.logger ?? consoleLogger('warn');
  const connection = resolveConnection(options.redis, 'redis');
  // On a cluster the queues share one Cluster connection, closed with the board.
  const shared = connection.kind === 'cluster' ? connect(connection) : null;
  shared?.on('error', (error: Error) => logger.warn('board redis error', { error: error.message }));
  const names = (options.queues ?? [DEFAULT_QUEUE]).flatMap((name) =>
    shardQueues(name, options.shards ?? 1),
  );
  const queues = names.map((name) => {
    const queue = new Queue(
      name,
      bullOptions(connection, name, shared ?? undefined) as { connection: ConnectionOptions },
    );
    // Without a listener, a Redis error would be thrown from the emitter and end the process.
    queue.on('error', (error) =>
      logger.warn('board redis error', { queue: name, error: error.message }),
    );
    return queue;
  });

  const serverAdapter = new ExpressAdapter().setBasePath(basePath.replace(/\/$/, '') || '/');
  createBullBoard({
    queues: queues.map((queue) => {
      const adapter = new RunQueueAdapter(queue, {
        readOnlyMode: readOnly,
        description: 'Assistant runs: one job per turn, named after its room and participant',
      });
      adapter.setFormatter('name', (job: { name?: string; data?: Partial<RunJobData> }) =>
        job.data?.session ? `run · ${sessionLabel(job.data)}` : (job.name ?? ''),
      );
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Assistant runs', hideDocsLink: true } },
  });

  const app = express();
  app.disable('x-powered-by');
  // For load balancers and orchestrators, which have no credentials.
  app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok'));
  app.use(authenticate(options.auth));
  // A second guard behind the adapter's readOnlyMode, for routes that mode does not cover.
  if (readOnly) {
    app.use((req, res, next) => {
      if (req.method === 'GET' || req.method === 'HEAD') return next();
      res.status(403).json({ error: 'this board is read-only' });
    });
  }
  app.use(basePath, serverAdapter.getRouter() as RequestHandler);

  const server = createServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await Promise.all(queues.map((q) => q.close()));
    shared?.disconnect();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${basePath}`,
    async close() {
      // The UI polls over keep-alive connections, which would hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(queues.map((q) => q.close()));
      shared?.disconnect();
    },
  };
}

/** BullMQ's adapter, with each job's data led by its run summary (formatters see only the data). */
class RunQueueAdapter extends BullMQAdapter {
  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    return (await super.getJobs(...args)).map(withSummary);
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    return job && withSummary(job);
  }
}

/** Only the JSON the board renders changes; job.data, which edits and retries use, stays as is. */
function withSummary(job: Job): Job {
  const toJSON = job.toJSON.bind(job);
  job.toJSON = () => ({ ...toJSON(), data: { run: runSummary(job), ...job.data } });
  return job;
}

/** The board's summary of a run job: session, status, thread, queue wait, duration, error. */
export function runSummary(job: Job<Partial<RunJobData>, RunJobResult | null>): RunSummary {
  const result = job.returnvalue ?? undefined;
  const progress = (typeof job.progress === 'object' ? job.progress : {}) as Partial<RunJobResult>;
  const status =
    result?.outcome ?? (job.failedReason ? 'failed' : job.processedOn ? 'running' : 'queued');
  const { processedOn, finishedOn } = job;
  const queuedAt = job.data.queuedAt;
  const summary: RunSummary = { session: sessionLabel(job.data), status };
  const threadId = result?.threadId ?? progress.threadId;
  if (threadId) summary.threadId = threadId;
  const queueWaitMs =
    result?.queueWaitMs ??
    progress.queueWaitMs ??
    (processedOn && queuedAt ? processedOn - queuedAt : undefined);
  if (queueWaitMs !== undefined) summary.queueWaitMs = queueWaitMs;
  const durationMs =
    result?.durationMs ?? (processedOn && finishedOn ? finishedOn - processedOn : undefined);
  if (durationMs !== undefined) summary.durationMs = durationMs;
  if (job.failedReason) summary.error = job.failedReason;
  return summary;
}

function sessionLabel(data: Partial<RunJobData>): string {
  return data.session ? `${data.session.room}/${data.session.participant}` : 'unknown';
}

function authenticate(auth: BoardAuth | undefined): RequestHandler {
  return (req, res, next) => {
    if (!auth || authorized(auth, req.headers.authorization ?? '')) return next();
    res.set(
      'WWW-Authenticate',
      auth.kind === 'basic' ? 'Basic realm="assistant runs", charset="UTF-8"' : 'Bearer',
    );
    res.status(401).type('text/plain').send('authentication required');
  };
}

function authorized(auth: BoardAuth, header: string): boolean {
  const [scheme = '', value = ''] = header.split(' ', 2);
  if (auth.kind === 'bearer') return scheme.toLowerCase() === 'bearer' && same(value, auth.token);
  if (scheme.toLowerCase() !== 'basic') return false;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Both parts are always compared, so the timing does not tell which one was wrong.
  const user = same(decoded.slice(0, colon), auth.user);
  const password = same(decoded.slice(colon + 1), auth.password);
  return user && password;
}

/** Constant-time comparison; digests give equal-length buffers whatever the input lengths. */
function same(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
