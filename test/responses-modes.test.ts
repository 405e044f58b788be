/**
 * The Responses backend's two streaming modes, in one process and through a worker (a RunWorker):
 * what each sends, and what an interruption does upstream. Background responses are cancelled
 * with the API's cancel request; streamed ones stop because their stream is closed, and the
 * emulator (like OpenAI) stops generating a response that is not in the background once its
 * client has gone.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { InterruptionError, type AssistantLLM } from '../src/index.js';
import { collect, makeLLM, SCRIPTS } from './support/assistant.js';
import { useEmulator } from './support/emulator.js';
import { fleetLLM, removeFleet, uniqueNames } from './support/fleet.js';
import { useInProcessWorker } from './support/worker.js';

const ENDLESS = Array.from({ length: 200 }, (_, i) => `e${i}`).join(' ');
const fx = useEmulator({
  scripts: [
    { message: 'endless', script: { tokenDelayMs: 20, steps: [{ text: ENDLESS }] } },
    ...SCRIPTS,
  ],
});
const names = uniqueNames('modes');
useInProcessWorker(fx, names);
afterAll(() => removeFleet(names));

type Transport = 'one process' | 'fleet';
let sessions = 0;

/** A Responses AssistantLLM for a new session on `transport`, with `extra` options. */
function assistant(transport: Transport, extra: { background?: boolean } = {}): AssistantLLM {
  const session = { room: 'modes', participant: `participant-${++sessions}` };
  return transport === 'fleet'
    ? fleetLLM('responses', names, session, extra)
    : makeLLM('responses', fx.baseURL, { session, ...extra });
}

const createBodies = () =>
  fx.emulator.requests.filter((r) => r.path === '/v1/responses').map((r) => r.body);
const cancelRequests = () => fx.emulator.requests.filter((r) => r.path.endsWith('/cancel'));

async function outputText(responseId: string): Promise<string> {
  const response = await fx.client.responses.retrieve(responseId);
  return response.output_text;
}

const CASES = [
  { transport: 'one process', background: false },
  { transport: 'one process', background: true },
  { transport: 'fleet', background: false },
  { transport: 'fleet', background: true },
] as const;

describe.each(CASES)('$transport, background: $background', ({ transport, background }) => {
  it('creates every response in that mode and streams the reply', async () => {
    const llm = assistant(transport, { background });
    expect(await collect(llm.process('hello'))).toBe('You said: hello');
    const [body] = createBodies();
    expect(body).toMatchObject({ background, stream: true, store: true });
    await llm.aclose();
  });

  it(
    background
      ? 'an interruption cancels the response with the API, and the conversation takes the next turn'
      : 'an interruption closes the stream, the response stops generating, and the conversation takes the next turn',
    async () => {
      const llm = assistant(transport, { background });
      const chunks: string[] = [];
      const interrupted = (async () => {
        for await (const chunk of llm.process('endless')) {
          chunks.push(chunk);
          if (chunks.length === 5) void llm.interrupt();
        }
      })().then(
        () => null,
        (error: unknown) => error,
      );
      const error = await interrupted;
      expect(error).toBeInstanceOf(InterruptionError);
      const responseId = (error as InterruptionError).runId!;
      expect(responseId).toMatch(/^resp_/);
      await expect
        .poll(async () => (await fx.client.responses.retrieve(responseId)).status)
        .toBe('cancelled');
      // No cancel request exists for a response that is not in the background.
      expect(cancelRequests().map((r) => r.path)).toEqual(
        background ? [`/v1/responses/${responseId}/cancel`] : [],
      );
      // Generation stopped upstream: what the response holds no longer grows.
      const stopped = await outputText(responseId);
      await new Promise((r) => setTimeout(r, 200));
      expect(await outputText(responseId)).toBe(stopped);
      expect(stopped.length).toBeLessThan(ENDLESS.length);
      expect(await collect(llm.process('after the interruption'))).toBe(
        'You said: after the interruption',
      );
      await llm.aclose();
    },
    30_000,
  );
});

describe('the default mode', () => {
  it('is a streamed response in one process (lowest time to first token)', async () => {
    const llm = assistant('one process');
    await collect(llm.process('hello'));
    expect(createBodies()[0]).toMatchObject({ background: false });
  });

  it('is background mode in fleet mode (a response outlives the worker that streams it)', async () => {
    const llm = assistant('fleet');
    await collect(llm.process('hello'));
    expect(createBodies()[0]).toMatchObject({ background: true });
    await llm.aclose();
  });

  it('lets an option choose either mode in either transport', async () => {
    const single = assistant('one process', { background: true });
    const fleet = assistant('fleet', { background: false });
    await collect(single.process('hello'));
    await collect(fleet.process('hello'));
    expect(createBodies().map((b) => b.background)).toEqual([true, false]);
    await fleet.aclose();
  });
});
