import type { Board, BoardAuth } from '../../queues/board.js';
import {
  intSetting,
  loadFor,
  QUEUES_OPTION,
  REDIS_OPTION,
  settingError,
  settingName,
  UsageError,
  type Command,
} from '../kit.js';
import { commandLogger, LOG_OPTIONS } from '../log.js';
import { waitForSignal } from './emulator.js';

/** What the board needs beyond the plugin itself. */
export const BOARD_PACKAGES = [
  'bullmq',
  'ioredis',
  'express',
  '@bull-board/api',
  '@bull-board/express',
] as const;

export const boardCommand: Command = {
  name: 'board',
  summary:
    'Serve Bull Board for the run queue: session, thread, status, timings and error of each run. Credentials: BOARD_USER + BOARD_PASSWORD, or BOARD_TOKEN.',
  options: {
    redis: REDIS_OPTION,
    host: {
      type: 'string',
      description: 'Address to listen on; beyond loopback, credentials are required',
      env: 'BOARD_HOST',
      default: '127.0.0.1',
    },
    port: {
      type: 'string',
      description: 'Port to listen on (0 picks a free one)',
      env: 'BOARD_PORT',
      default: '3000',
    },
    queue: {
      type: 'string',
      description: 'BullMQ queue name, or several comma-separated',
      env: 'ASSISTANT_QUEUE',
      default: 'assistant-runs',
    },
    'read-only': {
      type: 'boolean',
      description: 'Hide and refuse retry, clean, pause and edit',
      env: 'BOARD_READ_ONLY',
      default: false,
    },
    queues: QUEUES_OPTION,
    ...LOG_OPTIONS,
  },
  async run(values) {
    const port = intSetting(this, values, 'port', 0, 65535);
    const shards = intSetting(this, values, 'queues', 1, 256);
    const host = String(values.host);
    const queues = String(values.queue)
      .split(',')
      .map((q) => q.trim())
      .filter(Boolean);
    if (queues.length === 0) {
      throw new UsageError(`${settingName(this, 'queue')}: expected at least one queue name`);
    }
    const { pino: log, logger } = commandLogger(this, values);
    const auth = credentials(process.env);
    const { isLoopback, startBoard } = await loadFor(
      'the board',
      BOARD_PACKAGES,
      () => import('../../queues/board.js'),
    );
    if (!auth && !isLoopback(host)) {
      throw new UsageError(
        `${settingName(this, 'host')}: refusing to listen on ${host} without credentials; set BOARD_USER and BOARD_PASSWORD or BOARD_TOKEN`,
      );
    }
    let board: Board;
    try {
      board = await startBoard({
        redis: String(values.redis),
        queues,
        shards,
        host,
        port,
        readOnly: values['read-only'] === true,
        logger,
        ...(auth ? { auth } : {}),
      });
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      // Configuration problems (a bad URL, a taken port) are the user's to fix, not a crash.
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        throw new UsageError(`${settingName(this, 'port')}: ${message}`);
      }
      throw settingError(this, message, ['redis']) ?? error;
    }
    const signalled = waitForSignal();
    log.info({ url: board.url, auth: auth?.kind ?? 'none' }, 'board listening');
    await signalled;
    await board.close();
    log.info('board stopped');
  },
};

/** Credentials only from the environment: flags would show in `ps` and shell history. */
function credentials(env: NodeJS.ProcessEnv): BoardAuth | undefined {
  const { BOARD_USER: user, BOARD_PASSWORD: password, BOARD_TOKEN: token } = env;
  if (user && token) {
    throw new UsageError('BOARD_USER and BOARD_TOKEN: set one kind of credentials, not both');
  }
  if (token) return { kind: 'bearer', token };
  if (user || password) {
    if (!user || !password) {
      throw new UsageError('BOARD_USER and BOARD_PASSWORD: basic auth needs both');
    }
    return { kind: 'basic', user, password };
  }
  return undefined;
}
