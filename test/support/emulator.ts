/** Starts the emulator for a test file and checks everything it streamed against the schemas. */
import OpenAI from 'openai';
import { EmulatorServer, type EmulatorOptions } from '../../src/testing.js';
import { eventProblems, requestProblems } from './openapi.js';

export const TEST_API_KEY = 'sk-test-emulator-key-0123456789';

export interface EmulatorFixture {
  emulator: EmulatorServer;
  client: OpenAI;
  baseURL: string;
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
