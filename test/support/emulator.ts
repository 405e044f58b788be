/** Starts the emulator for a test file and checks everything it streamed against the schemas. */
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { EmulatorServer, type EmulatorOptions } from '../../src/testing.js';
import { TEST_API_KEY } from './api-key.js';
import { eventProblems, requestProblems } from './openapi.js';

export { TEST_API_KEY };

export interface EmulatorFixture {
  emulator: EmulatorServer;
  client: OpenAI;
  baseURL: string;
}

/** What useEmulator checks after each test against OpenAI's published schemas. */
export type SchemaCheck = 'events and requests' | 'events' | 'none';

/**
 * The emulator of one test file: started before its tests, closed after them. After each test,
 * every event it streamed (and, with 'events and requests', every request it received) must
 * validate against OpenAI's schemas; then its records are cleared. The fields are set once the
 * file's first beforeAll ran, so use them inside hooks and tests. A file's own afterEach hooks
 * run before the check (vitest runs after-hooks last-registered first).
 */
export function useEmulator(
  options: EmulatorOptions = {},
  check: SchemaCheck = 'events and requests',
): EmulatorFixture {
  const fixture = {} as EmulatorFixture;
  beforeAll(async () => {
    Object.assign(fixture, await startEmulator(options));
  });
  afterAll(async () => {
    await fixture.emulator?.close();
  });
  if (check !== 'none') {
    afterEach(() => {
      expect(invalidEvents(fixture.emulator)).toEqual([]);
      if (check === 'events and requests') expect(invalidRequests(fixture.emulator)).toEqual([]);
      fixture.emulator.clearRecords();
    });
  }
  return fixture;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<EmulatorFixture> {
  const emulator = new EmulatorServer(options);
  const baseURL = await emulator.listen();
  const client = new OpenAI({ apiKey: TEST_API_KEY, baseURL, maxRetries: 0 });
  return { emulator, client, baseURL };
}

/** Every event the emulator sent that does not validate, with the reasons. */
export function invalidEvents(emulator: EmulatorServer): string[] {
  return emulator.events.flatMap((event) => {
    const found = eventProblems(event.protocol, event);
    return found.length === 0 ? [] : [found.join(' ')];
  });
}

/** Every request the emulator received whose body does not match the official request schema. */
export function invalidRequests(emulator: EmulatorServer): string[] {
  return emulator.requests.flatMap((r) => requestProblems(r.method, r.path, r.body));
}
