/**
 * A bounded soak: 200 sessions x 20 turns with random interrupts and tool calls against 2
 * workers, one of them killed and replaced during the soak. Every turn must be accounted for,
 * no thread may hold a message twice, and no key may be left without an expiry.
 */
import { describe, expect, it } from 'vitest';
import { InterruptionError, RunError, type AssistantLLM } from '../src/index.js';
import { useEmulator } from './support/emulator.js';
import {
  fleetLLM,
  keysWithTtl,
  startWorker,
  uniqueNames,
  type WorkerProcess,
} from './support/fleet.js';

const SESSIONS = Number(process.env.SOAK_SESSIONS ?? 200);
const TURNS = Number(process.env.SOAK_TURNS ?? 20);

const SLOW = Array.from({ length: 30 }, (_, i) => `s${i}`).join(' ');

const fx = useEmulator(
  {
    recordEvents: false,
    recordRequests: false,
    scripts: [
      {
        message: 'tool',
        script: {
          steps: [
            { functionCalls: [{ name: 'lookup', arguments: { q: 'x' } }] },
            { text: (c) => `found ${c.toolOutputs[0]?.output}` },
          ],
        },
      },
      {
        message: 'slow',
        script: {
          tokenDelayMs: 10,
          steps: [{ text: SLOW }],
        },
      },
    ],
  },
  'none',
);

type Outcome = 'completed' | 'interrupted' | 'failed';

describe('soak', () => {
  it(`${SESSIONS} sessions x ${TURNS} turns, a worker killed and replaced: every turn accounted for, no duplicates, no leaked keys`, async () => {
    const names = uniqueNames('soak');
    const workers: WorkerProcess[] = [
      await startWorker(names, fx.baseURL),
      await startWorker(names, fx.baseURL),
    ];
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const outcomes: Record<Outcome, number> = { completed: 0, interrupted: 0, failed: 0 };
    const unexpected: string[] = [];
    let finished = 0;
    let killed = false;
    const total = SESSIONS * TURNS;

    const turn = async (llm: AssistantLLM, s: number, t: number): Promise<Outcome> => {
      const kind = random();
      const message =
        kind < 0.25 ? `tool ${s}/${t}` : kind < 0.45 ? `slow ${s}/${t}` : `plain ${s}/${t}`;
      const chunks: string[] = [];
      try {
        for await (const chunk of llm.process(message)) {
          chunks.push(chunk);
          if (message.startsWith('slow') && chunks.length === 2) void llm.interrupt();
        }
        const text = chunks.join('');
        // A slow turn completes only when its run ended upstream before the interrupt landed
        // (its worker was killed, and the worker taking it over found it complete).
        const expected = message.startsWith('tool')
          ? `found {"s":${s}}`
          : message.startsWith('slow')
            ? SLOW
            : `You said: ${message}`;
        if (text !== expected) unexpected.push(`${message}: ${text}`);
        return 'completed';
      } catch (error) {
        if (error instanceof InterruptionError) return 'interrupted';
        if (error instanceof RunError) return 'failed';
        unexpected.push(`${message}: ${(error as Error).message}`);
        return 'failed';
      } finally {
        finished++;
        if (!killed && finished >= total * 0.3) {
          killed = true;
          // One worker dies mid-soak; a replacement starts.
          workers[0]!.child.kill('SIGKILL');
          workers.push(await startWorker(names, fx.baseURL));
        }
      }
    };

    const sessions = Array.from({ length: SESSIONS }, (_, s) => {
      const llm = fleetLLM('assistants', names, { room: `soak-${s % 10}`, participant: `p${s}` });
      llm.onToolCallCreated = async () => ({ s });
      return llm;
    });
    const started = Date.now();
    await Promise.all(
      sessions.map(async (llm, s) => {
        for (let t = 0; t < TURNS; t++) outcomes[await turn(llm, s, t)]++;
      }),
    );
    const seconds = (Date.now() - started) / 1000;

    expect(unexpected).toEqual([]);
    expect(outcomes.completed + outcomes.interrupted + outcomes.failed).toBe(total);
    expect(killed).toBe(true);
    // No thread holds a message twice.
    let duplicates = 0;
    let messages = 0;
    for (const llm of sessions) {
      const texts: string[] = [];
      for await (const m of fx.client.beta.threads.messages.list(llm.threadId!, {
        order: 'asc',
        limit: 100,
      })) {
        if (m.role === 'user' && m.content[0]?.type === 'text') texts.push(m.content[0].text.value);
      }
      messages += texts.length;
      duplicates += texts.length - new Set(texts).size;
    }
    expect(duplicates).toBe(0);
    expect(messages).toBeLessThanOrEqual(total);
    await Promise.all(sessions.map((llm) => llm.aclose()));
    for (const worker of workers) await worker.stop();
    const keys = await keysWithTtl(names.prefix);
    expect(keys.filter((k) => k.ttl === -1)).toEqual([]);
    console.log(
      `soak: ${total} turns in ${seconds.toFixed(1)} s: ${outcomes.completed} completed, ${outcomes.interrupted} interrupted, ` +
        `${outcomes.failed} failed with an error the caller saw; ${messages} messages on ${SESSIONS} threads, ${duplicates} duplicates; lost 0`,
    );
  }, 300_000);
});
