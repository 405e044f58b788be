/**
 * Child process of bench/memory.ts (run with --expose-gc): heap per idle session actor in an
 * ActorHost, with a breakdown, and per activated actor. Prints one JSON line.
 *
 *   node --expose-gc --import tsx bench/memory-actors.ts <count> <redis> <prefix> <queue>
 */
import { ActorHost } from '../actors/actor-host.js';
import { ActorLLM } from '../actors/actor-llm.js';
import { SessionActor } from '../actors/session-actor.js';
import { sessionId, type SessionIdentity } from '../src/session.js';
import { AssistantLLM } from '../src/index.js';
import { EmulatorServer } from '../src/testing.js';

const [
  count = '10000',
  redis = 'redis://127.0.0.1:6379',
  prefix = 'ast',
  queue = 'assistant-runs',
] = process.argv.slice(2);
const N = Number(count);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heap(): number {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage().heapUsed;
}

const identity = (i: number): SessionIdentity => ({
  room: `room-${i % 100}`,
  participant: `participant-${String(i).padStart(6, '0')}`,
});

const create = (session: SessionIdentity, hints: { threadId?: string }) =>
  new AssistantLLM({
    load_options: {
      assistant_id: EmulatorServer.defaultAssistantId,
      ...(hints.threadId ? { thread_id: hints.threadId } : {}),
    },
    transport: { redis, prefix, queue, session },
  });

/** Heap per item of what `make` builds, N of them held at once. */
function perItem(make: (i: number) => unknown): number {
  const before = heap();
  const held: unknown[] = new Array(N);
  for (let i = 0; i < N; i++) held[i] = make(i);
  const after = heap();
  held.length = 0;
  return (after - before) / N;
}

// Warm every code path once, so that lazily compiled code and caches are in the baseline.
{
  const warm = new ActorHost({ create, passivateAfterMs: 3_600_000 });
  for (let i = 0; i < 100; i++) warm.actor(identity(i));
  warm.actor(identity(0)).actor.activate();
  await warm.close();
}
const noop = () => undefined;
const breakdown = {
  identity: perItem(identity),
  identityAndSid: perItem((i) => {
    const id = identity(i);
    return [id, sessionId(id)];
  }),
  sessionActor: perItem((i) => new SessionActor(identity(i), create, noop, noop)),
  actorLLM: perItem((i) => new ActorLLM(new SessionActor(identity(i), create, noop, noop))),
};

const before = heap();
const host = new ActorHost({ create, passivateAfterMs: 3_600_000 });
for (let i = 0; i < N; i++) host.actor(identity(i));
const idle = heap();
if (host.size !== N || host.activeCount !== 0) throw new Error('actors are not all idle');

// Activated actors: an AssistantLLM with a fleet transport each, no run.
const A = Math.min(N, 1000);
for (let i = 0; i < A; i++) host.actor(identity(i)).actor.activate();
const active = heap();
if (host.activeCount !== A) throw new Error('activation failed');
await host.close();

console.log(
  JSON.stringify({
    sessions: N,
    idleBytesPerActor: (idle - before) / N,
    idleTotalBytes: idle - before,
    activated: A,
    activeBytesPerActor: (active - idle) / A,
    breakdownBytes: breakdown,
  }),
);
process.exit(0);
