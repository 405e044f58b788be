/**
 * The board against the real Redis and a real browser: a finished and a failed run, produced by an
 * in-process worker, show up with their session, thread and error; credentials, public hosts and
 * read-only mode are enforced by the server and the CLI.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startBoard, type Board } from '../queues/board.js';
import { redisOptions } from '../queues/connection.js';
import { RunWorker } from '../queues/run-worker.js';
import { RunError } from '../src/index.js';
import { consoleLogger } from '../src/logger.js';
import { cli, ROOT } from './support/cli.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';
import { fleetLLM, REDIS_URL, removeFleet, uniqueNames } from './support/fleet.js';

const names = uniqueNames('board');
const USER = 'ops';
const PASSWORD = 'board-password-0123';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

const fx = useEmulator(
  {
    scripts: [
      {
        message: 'explode',
        script: { steps: [{ fail: { code: 'server_error', message: 'boom' } }] },
      },
    ],
  },
  'none',
);
let worker: RunWorker;
let queue: Queue;
let board: Board;
let browser: Browser;
let failure: unknown;

beforeAll(async () => {
  worker = new RunWorker({
    openai: new OpenAI({ apiKey: TEST_API_KEY, baseURL: fx.baseURL, maxRetries: 0 }),
    redis: REDIS_URL,
    ...names,
    logger: consoleLogger('error'),
  });
  await worker.ready();
  queue = new Queue(names.queue, { connection: redisOptions(REDIS_URL) as ConnectionOptions });

  const llm = fleetLLM('assistants', names, { room: 'lobby', participant: 'alice' });
  for await (const chunk of llm.process('hello board')) void chunk;
  failure = await (async () => {
    for await (const chunk of llm.process('explode')) void chunk;
  })().catch((e: unknown) => e);
  await llm.aclose();
  // The room hears the end of a run just before the worker marks its job finished.
  await vi.waitFor(
    async () =>
      expect(await queue.getJobCounts('completed', 'failed')).toEqual({ completed: 1, failed: 1 }),
    { timeout: 10_000 },
  );

  board = await startBoard({
    redis: REDIS_URL,
    queues: [names.queue],
    port: 0,
    auth: { kind: 'basic', user: USER, password: PASSWORD },
    readOnly: false,
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await board?.close();
  await worker?.close();
  await queue?.close();
  await removeFleet(names);
}, 30_000);

describe('Bull Board for the run queue', () => {
  it('shows the queue and both runs with session, thread and error to a signed-in browser', async () => {
    expect(failure).toBeInstanceOf(RunError);
    const context = await browser.newContext({
      httpCredentials: { username: USER, password: PASSWORD },
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = await context.newPage();
      const response = await page.goto(board.url);
      expect(response?.status()).toBe(200);
      await page.getByRole('link', { name: names.queue }).first().click();
      await expect.poll(() => page.url()).toContain(`queue/${names.queue}`);
      // The failed run opens on its Error tab, which renders once its highlighter has loaded.
      await page.getByText('server_error: boom').waitFor({ timeout: 15_000 });
      await expect
        .poll(() => page.getByRole('heading', { name: 'run · lobby/alice' }).count())
        .toBe(2);
      await expect.poll(() => page.locator('body').innerText()).toContain(names.queue);
      await mkdir(join(ROOT, 'test-results'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'test-results', 'board.png'), fullPage: true });

      // The API behind the page carries the summary: session, thread, status, timings, error.
      const api = await page.request.get(`${board.url}api/queues?activeQueue=${names.queue}`);
      const jobs = ((await api.json()) as QueuesResponse).queues[0]!.jobs;
      const runs = jobs.map((j) => j.data.run).sort((a, b) => a.status.localeCompare(b.status));
      expect(runs).toMatchObject([
        {
          session: 'lobby/alice',
          status: 'completed',
          threadId: expect.stringMatching(/^thread_/),
        },
        { session: 'lobby/alice', status: 'failed', error: 'server_error: boom' },
      ]);
      expect(runs[1]!.threadId).toBe(runs[0]!.threadId);
      for (const run of runs) {
        expect(run.queueWaitMs).toBeGreaterThanOrEqual(0);
        expect(run.durationMs).toBeGreaterThanOrEqual(0);
      }
      // A writable board offers the failed run's actions, Retry first.
      await jobActions(page, failedJobId(jobs)).first().hover();
      await page.getByText('Retry', { exact: true }).waitFor({ timeout: 5_000 });
    } finally {
      await context.close();
    }
  }, 60_000);

  it('answers 401 with a challenge without credentials, and with wrong ones', async () => {
    const bare = await fetch(board.url);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await bare.text()).not.toContain(PASSWORD);
    const wrong = await fetch(`${board.url}api/queues`, {
      headers: { authorization: `Basic ${btoa(`${USER}:wrong`)}` },
    });
    expect(wrong.status).toBe(401);
    expect((await fetch(`${board.url}healthz`)).status).toBe(200);

    // Headless Chromium ends the navigation with ERR_INVALID_AUTH_CREDENTIALS after the 401.
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const answer = page.waitForResponse(board.url);
      await page.goto(board.url).catch(() => undefined);
      expect((await answer).status()).toBe(401);
    } finally {
      await context.close();
    }
  });

  it('refuses a public host without credentials; bearer tokens; read-only refuses actions', async () => {
    await expect(startBoard({ redis: REDIS_URL, host: '0.0.0.0' })).rejects.toThrow(
      /^host: refusing to listen on 0\.0\.0\.0 without credentials/,
    );

    const token = 'board-token-0123456789';
    const guarded = await startBoard({
      redis: REDIS_URL,
      queues: [names.queue],
      auth: { kind: 'bearer', token },
      readOnly: true,
    });
    const context = await browser.newContext({
      extraHTTPHeaders: { authorization: `Bearer ${token}` },
    });
    try {
      const api = `${guarded.url}api/queues?activeQueue=${names.queue}`;
      const ok = await fetch(api, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as QueuesResponse;
      expect(body.queues[0]).toMatchObject({ readOnlyMode: true, allowRetries: false });
      const wrong = await fetch(api, { headers: { authorization: `Bearer ${token}x` } });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toBe('Bearer');

      const failedId = failedJobId(body.queues[0]!.jobs);
      const retry = await fetch(`${guarded.url}api/queues/${names.queue}/${failedId}/retry`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(retry.status).toBe(403);
      expect(await queue.getJobCounts('failed')).toEqual({ failed: 1 });

      // The UI offers no actions on the failed run.
      const page = await context.newPage();
      await page.goto(`${guarded.url}queue/${names.queue}`);
      await page.getByText('server_error: boom').waitFor({ timeout: 15_000 });
      expect(await jobActions(page, failedId).count()).toBe(0);
    } finally {
      await context.close();
      await guarded.close();
    }
  }, 60_000);

  it('CLI: board --help, and a public host without credentials exits 2 naming the setting', async () => {
    const [help, open, half] = await Promise.all([
      cli(['board', '--help']),
      cli(['board', '--host', '0.0.0.0'], { REDIS_URL, BOARD_USER: '', BOARD_TOKEN: '' }),
      cli(['board'], { REDIS_URL, BOARD_USER: 'ops' }),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: assistant-host board [options]');
    expect(open.code).toBe(2);
    expect(open.stderr).toBe(
      'assistant-host board: --host (BOARD_HOST): refusing to listen on 0.0.0.0 without credentials; set BOARD_USER and BOARD_PASSWORD or BOARD_TOKEN\n',
    );
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/BOARD_USER and BOARD_PASSWORD/);
  });
});

type Jobs = QueuesResponse['queues'][number]['jobs'];

function failedJobId(jobs: Jobs): string {
  return jobs.find((j) => j.data.run.status === 'failed')!.id;
}

/** The action buttons (retry, duplicate, edit, remove) in the header of a job's card. */
function jobActions(page: Page, jobId: string): Locator {
  const card = page.locator(
    `xpath=//*[text()="${jobId}"]/ancestor::*[.//button[text()="Logs"]][1]`,
  );
  return card.locator('li button');
}

interface QueuesResponse {
  queues: Array<{
    jobs: Array<{
      id: string;
      data: {
        run: {
          session: string;
          status: string;
          threadId?: string;
          queueWaitMs?: number;
          durationMs?: number;
          error?: string;
        };
      };
    }>;
  }>;
}
