/** A RunWorker in the test process, against the file's emulator and its corner of Redis. */
import OpenAI from 'openai';
import { afterAll, beforeAll } from 'vitest';
import { RunWorker } from '../../queues/run-worker.js';
import { consoleLogger } from '../../src/index.js';
import { TEST_API_KEY, type EmulatorFixture } from './emulator.js';
import { REDIS_URL, type FleetNames } from './fleet.js';

/** Started in the file's beforeAll (after the emulator's), closed in its afterAll. */
export function useInProcessWorker(
  fx: EmulatorFixture,
  names: FleetNames,
  concurrency?: number,
): { worker: RunWorker } {
  const fixture = {} as { worker: RunWorker };
  beforeAll(async () => {
    fixture.worker = new RunWorker({
      redis: REDIS_URL,
      openai: new OpenAI({ apiKey: TEST_API_KEY, baseURL: fx.baseURL, maxRetries: 0 }),
      ...names,
      ...(concurrency ? { concurrency } : {}),
      logger: consoleLogger('error'),
    });
    await fixture.worker.ready();
  });
  afterAll(() => fixture.worker?.close());
  return fixture;
}
