/**
 * Session actors bound to rooms: @livekit/rtc-node's real Room, unconnected, with participants
 * joining and leaving as rtc-node makes them on the server's events; conversations are real
 * voice.AgentSessions driven text-only; runs go through the real Redis to a real BullMQ worker.
 */
import { initializeLogger, voice } from '@livekit/agents';
import { DisconnectReason, Room, RoomEvent } from '@livekit/rtc-node';
import { describe, expect, it } from 'vitest';
import { ActorHost } from '../actors/actor-host.js';
import { bindRoom } from '../actors/room-binding.js';
import { AssistantLLM, consoleLogger } from '../src/index.js';
import { EmulatorServer } from '../src/testing.js';
import { SCRIPTS } from './support/assistant.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';
import { useInProcessWorker } from './support/worker.js';
import { keysWithTtl, REDIS_URL, uniqueNames } from './support/fleet.js';
import { join, leave, roomListeners } from './support/rtc-room.js';

initializeLogger({ pretty: false, level: 'error' });

/** rtc-node's real Room, unconnected, under the name a job would give it. */
class NamedRoom {
  readonly room = new Room();
  constructor(readonly name: string) {}
  get remoteParticipants() {
    return this.room.remoteParticipants;
  }
  join(identity: string): void {
    join(this.room, identity);
  }
  leave(identity: string): void {
    leave(this.room, identity);
  }
  /** As rtc-node's cleanup on disconnect announces it. */
  disconnect(): void {
    this.room.emit(RoomEvent.Disconnected, DisconnectReason.CLIENT_INITIATED);
  }
  boundListeners(): number {
    return roomListeners(this.room);
  }
}

// 50 participants' events are many; this file checks behaviour, the emulator suites the schemas.
const fx = useEmulator({ scripts: SCRIPTS, tokenDelayMs: 1, recordEvents: false }, 'none');
const names = uniqueNames('actors');
useInProcessWorker(fx, names, 100);

/** A host whose runs execute in this process (no fleet): it remembers threads itself. */
function makeLocalHost(): ActorHost {
  return new ActorHost({
    create: (_identity, hints) =>
      new AssistantLLM({
        load_options: {
          assistant_id: EmulatorServer.defaultAssistantId,
          ...(hints.threadId ? { thread_id: hints.threadId } : {}),
        },
        baseURL: fx.baseURL,
        apiKey: TEST_API_KEY,
        logger: consoleLogger('error'),
      }),
  });
}

function makeHost(passivateAfterMs = 60_000): ActorHost {
  return new ActorHost({
    passivateAfterMs,
    create: (identity) =>
      new AssistantLLM({
        load_options: { assistant_id: EmulatorServer.defaultAssistantId },
        transport: { redis: REDIS_URL, ...names, session: identity },
        logger: consoleLogger('error'),
      }),
  });
}

/** Binds a room; every participant's AgentSession is kept so the test can talk through it. */
function bind(room: NamedRoom, host: ActorHost, onLeave: 'cancel' | 'finish' = 'cancel') {
  const sessions = new Map<string, voice.AgentSession>();
  const binding = bindRoom(room.room, {
    roomName: room.name,
    host,
    onLeave,
    startConversation: async (participant, llm) => {
      const session = new voice.AgentSession({
        llm,
        vad: null,
        turnHandling: { turnDetection: 'manual' },
      });
      session.on(voice.AgentSessionEventTypes.Error, () => undefined);
      await session.start({ agent: new voice.Agent({ instructions: 'Answer briefly.' }) });
      sessions.set(participant.identity, session);
      return {
        close: async () => {
          sessions.delete(participant.identity);
          await session.close();
        },
      };
    },
  });
  return { binding, sessions };
}

async function say(
  sessions: Map<string, voice.AgentSession>,
  identity: string,
  text: string,
): Promise<string> {
  await expect.poll(() => sessions.has(identity), { timeout: 10_000 }).toBe(true);
  const result = await sessions.get(identity)!.run({ userInput: text }).wait();
  const reply = result.events.find((e) => e.type === 'message');
  return reply?.type === 'message' ? (reply.item.textContent ?? '') : '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('session actors bound to rooms', () => {
  it('50 participants join and leave at random across 3 rooms: one actor each, own thread, nothing leaked', async () => {
    const timersBefore = timers();
    const host = makeHost();
    const rooms = [new NamedRoom('alpha'), new NamedRoom('beta'), new NamedRoom('gamma')];
    // Two are in their rooms before the agent arrives.
    rooms[0]!.join('early-0');
    rooms[1]!.join('early-1');
    const bound = rooms.map((room) => ({ room, ...bind(room, host) }));
    let random = 42;
    const next = () => (random = (random * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const threads = new Map<string, string>();
    const people = Array.from({ length: 48 }, (_, i) => ({
      identity: `user ${i}:{x}*`,
      at: i % 3,
    }));
    const everyone = [{ identity: 'early-0', at: 0 }, { identity: 'early-1', at: 1 }, ...people];

    await Promise.all(
      everyone.map(async ({ identity, at }) => {
        const { room, sessions } = bound[at]!;
        await sleep(next() * 400);
        if (!room.remoteParticipants.has(identity)) room.join(identity);
        expect(host.actor({ room: room.name, participant: identity }).actor.state).not.toBe(
          'stopped',
        );
        const reply = await say(sessions, identity, `hello from ${room.name}/${identity}`);
        expect(reply).toBe(`You said: hello from ${room.name}/${identity}`);
        const actor = host.find(host.actor({ room: room.name, participant: identity }).actor.sid)!;
        threads.set(`${room.name}/${identity}`, actor.currentThreadId!);
        await sleep(next() * 300);
        room.leave(identity);
      }),
    );
    // Everyone had their own actor and thread.
    expect(threads.size).toBe(50);
    expect(new Set(threads.values()).size).toBe(50);
    // Leaving stopped every actor and closed every conversation.
    await expect.poll(() => host.size, { timeout: 10_000 }).toBe(0);
    for (const { sessions, binding } of bound) {
      await expect.poll(() => sessions.size).toBe(0);
      expect(binding.participants.size).toBe(0);
    }
    for (const { room } of bound) room.disconnect();
    for (const { room } of bound) expect(room.boundListeners()).toBe(0);
    await host.close();
    // Shared Redis connections close after 2 s idle; then no timer of ours is left.
    await sleep(2_500);
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    const keys = await keysWithTtl(names.prefix);
    expect(keys.filter((k) => k.ttl === -1)).toEqual([]);
    // No thread lock is left; the room side's reader is gone (only the live worker's remains).
    expect(keys.filter((k) => k.key.endsWith(':lock'))).toEqual([]);
    expect(keys.filter((k) => k.key.endsWith(':wake'))).toHaveLength(1);
  }, 90_000);

  it('a participant who leaves and comes back continues the same thread (in process and in fleet mode)', async () => {
    for (const [label, host] of [
      ['local', makeLocalHost()],
      ['fleet', makeHost()],
    ] as const) {
      const room = new NamedRoom(`comeback-${label}`);
      const { sessions, binding } = bind(room, host);
      room.join('returner');
      expect(await say(sessions, 'returner', 'before')).toBe('You said: before');
      const before = host.actor({ room: room.name, participant: 'returner' }).actor;
      const thread = before.currentThreadId;
      expect(thread).toBeDefined();
      room.leave('returner');
      await expect.poll(() => host.size, { timeout: 10_000 }).toBe(0);
      expect(before.state).toBe('stopped');
      room.join('returner');
      expect(await say(sessions, 'returner', 'after')).toBe('You said: after');
      const after = host.actor({ room: room.name, participant: 'returner' }).actor;
      expect(after).not.toBe(before);
      expect(after.currentThreadId).toBe(thread);
      const messages = await fx.client.beta.threads.messages.list(thread!, { order: 'asc' });
      expect(
        messages.data
          .filter((m) => m.role === 'user')
          .map((m) => (m.content[0]?.type === 'text' ? m.content[0].text.value : '')),
      ).toEqual(['before', 'after']);
      await binding.close();
      await host.close();
    }
  }, 60_000);

  it('a room that disconnects stops every live actor and closes every conversation', async () => {
    const host = makeHost();
    const room = new NamedRoom('epsilon');
    const { sessions, binding } = bind(room, host);
    for (const who of ['one', 'two', 'three']) room.join(who);
    for (const who of ['one', 'two', 'three'])
      expect(await say(sessions, who, `hi ${who}`)).toBe(`You said: hi ${who}`);
    const actors = ['one', 'two', 'three'].map(
      (who) => host.actor({ room: room.name, participant: who }).actor,
    );
    expect(host.size).toBe(3);
    room.disconnect();
    await expect.poll(() => host.size, { timeout: 10_000 }).toBe(0);
    await expect.poll(() => sessions.size, { timeout: 10_000 }).toBe(0);
    expect(actors.map((a) => a.state)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(binding.participants.size).toBe(0);
    expect(room.boundListeners()).toBe(0);
    await host.close();
  }, 30_000);

  it('passivates idle actors by itself, on its sweep timer', async () => {
    const host = new ActorHost({
      passivateAfterMs: 150,
      sweepIntervalMs: 50,
      create: (identity) =>
        new AssistantLLM({
          load_options: { assistant_id: EmulatorServer.defaultAssistantId },
          transport: { redis: REDIS_URL, ...names, session: identity },
          logger: consoleLogger('error'),
        }),
    });
    const room = new NamedRoom('zeta');
    const { sessions, binding } = bind(room, host);
    room.join('napper');
    expect(await say(sessions, 'napper', 'before the nap')).toBe('You said: before the nap');
    const { actor } = host.actor({ room: 'zeta', participant: 'napper' });
    expect(actor.state).toBe('active');
    await expect.poll(() => actor.state, { timeout: 5_000 }).toBe('passive');
    expect(host.activeCount).toBe(0);
    expect(await say(sessions, 'napper', 'after the nap')).toBe('You said: after the nap');
    await binding.close();
    await host.close();
  }, 30_000);

  it('passivates an idle actor and brings it back on the next message with the same thread', async () => {
    const host = makeHost(100);
    const room = new NamedRoom('delta');
    const { sessions, binding } = bind(room, host);
    room.join('sleeper');
    expect(await say(sessions, 'sleeper', 'first words')).toBe('You said: first words');
    const { actor } = host.actor({ room: 'delta', participant: 'sleeper' });
    const thread = actor.currentThreadId;
    expect(await host.sweep(Date.now() + 1_000)).toBe(1);
    expect(actor.state).toBe('passive');
    expect(await say(sessions, 'sleeper', 'second words')).toBe('You said: second words');
    expect(actor.state).toBe('active');
    expect(actor.currentThreadId).toBe(thread);
    const messages = await fx.client.beta.threads.messages.list(thread!, { order: 'asc' });
    expect(
      messages.data
        .filter((m) => m.role === 'user')
        .map((m) => (m.content[0]?.type === 'text' ? m.content[0].text.value : '')),
    ).toEqual(['first words', 'second words']);
    await binding.close();
    await host.close();
  }, 30_000);

  it('a participant who leaves mid-run: cancelled by default, allowed to finish when configured', async () => {
    for (const mode of ['cancel', 'finish'] as const) {
      const host = makeHost();
      const room = new NamedRoom(`epsilon-${mode}`);
      const { sessions, binding } = bind(room, host, mode);
      room.join('leaver');
      await expect.poll(() => sessions.has('leaver')).toBe(true);
      const { actor } = host.actor({ room: room.name, participant: 'leaver' });
      const llm = actor.activate();
      const stream = llm.process('slow goodbye');
      const chunks: string[] = [];
      const reading = (async () => {
        for await (const chunk of stream) chunks.push(chunk);
      })().catch(() => undefined);
      await expect.poll(() => chunks.length).toBeGreaterThan(1);
      const runs = await fx.client.beta.threads.runs.list(llm.threadId!);
      room.leave('leaver');
      await expect.poll(() => host.size, { timeout: 10_000 }).toBe(0);
      await reading;
      // The actor is gone from the host at once; its stop reaches the server a moment later.
      const status = async () =>
        (await fx.client.beta.threads.runs.retrieve(runs.data[0]!.id, { thread_id: llm.threadId! }))
          .status;
      await expect
        .poll(status, { timeout: 10_000 })
        .toBe(mode === 'cancel' ? 'cancelled' : 'completed');
      await binding.close();
      await host.close();
    }
  }, 30_000);
});
