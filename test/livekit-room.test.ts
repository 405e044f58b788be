/**
 * The LiveKit entrypoint in a room with many participants. The room is @livekit/rtc-node's real
 * Room, unconnected: its one-handler-per-topic registry, its participants and its events are
 * the real ones. The entrypoint is the real `createAssistantAgent(...).entry`, its sessions real
 * voice.AgentSessions; a participant types by sending an `lk.chat` text stream to whatever
 * handler the room holds for that topic, as rtc-node does for an incoming stream.
 */
import { initializeLogger, voice } from '@livekit/agents';
import { ParticipantKind, Room as RtcRoom } from '@livekit/rtc-node';
import { describe, expect, it } from 'vitest';
import { createAssistantAgent } from '../actors/agent.js';
import type { Audience } from '../actors/room-mux.js';
import type { AssistantOptions } from '../src/index.js';
import { EmulatorServer } from '../src/testing.js';
import { TEST_API_KEY, useEmulator } from './support/emulator.js';
import { useInProcessWorker } from './support/worker.js';
import { REDIS_URL, uniqueNames } from './support/fleet.js';
import {
  attachLocal,
  jobContext,
  join,
  leave,
  registeredTopics,
  roomListeners,
  sendText,
} from './support/rtc-room.js';

initializeLogger({ pretty: false, level: 'error' });

const fx = useEmulator({
  scripts: [{ message: /^say /, script: { steps: [{ text: (c) => `echo ${c.message}` }] } }],
  tokenDelayMs: 1,
});
const names = uniqueNames('lkroom');
useInProcessWorker(fx, names, 50);

type Mode = 'single-process' | 'fleet';
const MODES: Array<{ mode: Mode; api: 'assistants' | 'responses' }> = [
  { mode: 'single-process', api: 'assistants' },
  { mode: 'fleet', api: 'responses' },
];

interface Heard {
  /** Which of the participant's sessions (0 for the first, 1 after a rejoin...). */
  session: number;
  role: string;
  text: string;
}

/** The entrypoint running in a real rtc-node Room, with what each participant's session heard. */
async function startAgent(
  mode: Mode,
  api: 'assistants' | 'responses',
  roomName: string,
  prepare: (room: RtcRoom) => void = () => undefined,
  audience: Audience = 'participant',
) {
  const room = new RtcRoom();
  prepare(room);
  const heard = new Map<string, Heard[]>();
  const sessionsOf = new Map<string, number>();
  const common = { baseURL: fx.baseURL, apiKey: TEST_API_KEY, maxRetries: 0 };
  const assistant: AssistantOptions =
    api === 'assistants'
      ? { ...common, load_options: { assistant_id: EmulatorServer.defaultAssistantId } }
      : { ...common, api: 'responses', model: 'emulator-1', instructions: 'Be brief.' };
  const definition = createAssistantAgent({
    assistant,
    ...(mode === 'fleet' ? { fleet: { redis: REDIS_URL, ...names } } : {}),
    audience,
    agent: () => new voice.Agent({ instructions: 'Answer briefly.' }),
    session: () => ({ vad: null, turnHandling: { turnDetection: 'manual' } }),
    onSessionStarted: (session, participant) => {
      const index = sessionsOf.get(participant.identity) ?? 0;
      sessionsOf.set(participant.identity, index + 1);
      session.on(voice.AgentSessionEventTypes.Error, () => undefined);
      session.on(voice.AgentSessionEventTypes.ConversationItemAdded, ({ item }) => {
        if (item.type !== 'message') return;
        const list = heard.get(participant.identity) ?? [];
        list.push({ session: index, role: item.role, text: item.textContent ?? '' });
        heard.set(participant.identity, list);
      });
    },
  });
  const job = jobContext(room, roomName);
  await definition.entry(job.ctx);
  return { room, heard, sessionsOf, shutdown: job.shutdown };
}

type Agent = Awaited<ReturnType<typeof startAgent>>;

/** Waits until `identity` has a started session (the nth, counting from 1). */
async function sessionReady(agent: Agent, identity: string, nth = 1): Promise<void> {
  await expect
    .poll(() => agent.sessionsOf.get(identity) ?? 0, { timeout: 15_000, interval: 20 })
    .toBeGreaterThanOrEqual(nth);
}

/** `identity` types `text` in the room and waits for the answer to reach their session. */
async function talk(agent: Agent, identity: string, text: string): Promise<void> {
  expect(sendText(agent.room, identity, text), `a handler for lk.chat (${identity})`).toBe(true);
  await expect
    .poll(
      () =>
        (agent.heard.get(identity) ?? []).some(
          (h) => h.role === 'assistant' && h.text === `echo ${text}`,
        ),
      { timeout: 20_000, interval: 20 },
    )
    .toBe(true);
}

/** The thread (Assistants) or conversation (Responses) each user message was sent to. */
function threadOf(text: string): string {
  for (const request of fx.emulator.requests) {
    const body = request.body;
    const runs = /^\/v1\/threads\/([^/]+)\/runs$/.exec(request.path);
    const messages = body.additional_messages as Array<{ content: unknown }> | undefined;
    if (runs && messages?.some((m) => m.content === text)) return runs[1]!;
    if (
      request.path === '/v1/responses' &&
      JSON.stringify(body.input).includes(JSON.stringify(text))
    )
      return String(body.conversation);
  }
  throw new Error(`no request carried "${text}"`);
}

/** Every message each participant's sessions heard is theirs: their words and the echo of them. */
function expectOnlyOwn(agent: Agent): void {
  for (const [identity, list] of agent.heard) {
    for (const h of list) {
      const words = h.role === 'assistant' ? h.text.replace(/^echo /, '') : h.text;
      expect(words, `${identity} heard "${h.text}"`).toMatch(new RegExp(`^say ${identity} #`));
    }
  }
}

describe('who gets an assistant', () => {
  it('people do; other agents and a participant publishing on the agent’s behalf do not', async () => {
    // The agent's participant exists once the job has connected.
    const prepare = (room: RtcRoom) => void attachLocal(room, 'agent-1');
    const agent = await startAgent('single-process', 'assistants', 'kinds', prepare, 'room');
    join(agent.room, 'helper-agent', ParticipantKind.AGENT);
    join(agent.room, 'avatar', ParticipantKind.STANDARD, { 'lk.publish_on_behalf': 'agent-1' });
    join(agent.room, 'phone', ParticipantKind.SIP);
    await sessionReady(agent, 'phone');
    await talk(agent, 'phone', 'say phone #1');
    expect([...agent.sessionsOf.keys()]).toEqual(['phone']);
    // What the others send reaches no session.
    expect(sendText(agent.room, 'helper-agent', 'say helper-agent #1')).toBe(true);
    expect(sendText(agent.room, 'avatar', 'say avatar #1')).toBe(true);
    await talk(agent, 'phone', 'say phone #2');
    expect([...agent.heard.keys()]).toEqual(['phone']);
    await agent.shutdown();
  });
});

describe.each(MODES)('a room of many participants ($mode, $api)', ({ mode, api }) => {
  it('two participants present at start each get their own session and thread', async () => {
    const agent = await startAgent(mode, api, `two-${mode}`);
    join(agent.room, 'alice');
    join(agent.room, 'bob');
    await sessionReady(agent, 'alice');
    await sessionReady(agent, 'bob');
    // Both sessions' handlers are in place although the room allows one per topic.
    expect(registeredTopics(agent.room)).toEqual({ text: ['lk.chat'], byte: ['lk.agent.session'] });

    await Promise.all([talk(agent, 'alice', 'say alice #1'), talk(agent, 'bob', 'say bob #1')]);
    await talk(agent, 'bob', 'say bob #2');
    await talk(agent, 'alice', 'say alice #2');
    expectOnlyOwn(agent);
    expect(agent.heard.get('alice')!.map((h) => h.text)).toEqual([
      'say alice #1',
      'echo say alice #1',
      'say alice #2',
      'echo say alice #2',
    ]);
    expect(threadOf('say alice #1')).toBe(threadOf('say alice #2'));
    expect(threadOf('say bob #1')).toBe(threadOf('say bob #2'));
    expect(threadOf('say alice #1')).not.toBe(threadOf('say bob #1'));
    await agent.shutdown();
  });

  it('a third participant joining later is heard, and so are the first two', async () => {
    const agent = await startAgent(mode, api, `third-${mode}`);
    join(agent.room, 'alice');
    join(agent.room, 'bob');
    await sessionReady(agent, 'alice');
    await sessionReady(agent, 'bob');
    await talk(agent, 'alice', 'say alice #1');
    join(agent.room, 'carol');
    await sessionReady(agent, 'carol');
    await Promise.all([
      talk(agent, 'carol', 'say carol #1'),
      talk(agent, 'bob', 'say bob #1'),
      talk(agent, 'alice', 'say alice #2'),
    ]);
    expectOnlyOwn(agent);
    const threads = new Set(['say alice #1', 'say bob #1', 'say carol #1'].map(threadOf));
    expect(threads.size).toBe(3);
    await agent.shutdown();
  });

  it('the first participant leaving silences nobody else', async () => {
    const agent = await startAgent(mode, api, `first-leaves-${mode}`);
    join(agent.room, 'alice');
    join(agent.room, 'bob');
    join(agent.room, 'carol');
    for (const who of ['alice', 'bob', 'carol']) await sessionReady(agent, who);
    await talk(agent, 'alice', 'say alice #1');
    leave(agent.room, 'alice');
    await expect.poll(() => sendText(agent.room, 'bob', 'say bob #0') && 'sent').toBe('sent');
    await talk(agent, 'bob', 'say bob #1');
    await talk(agent, 'carol', 'say carol #1');
    // Alice's stream, were she still sending one, reaches nobody.
    const aliceHeard = agent.heard.get('alice')!.length;
    sendText(agent.room, 'alice', 'say alice #late');
    await talk(agent, 'carol', 'say carol #2');
    expect(agent.heard.get('alice')!.length).toBe(aliceHeard);
    expectOnlyOwn(agent);

    leave(agent.room, 'bob');
    leave(agent.room, 'carol');
    // Once everyone has gone, the room holds no handler and no listener of theirs.
    await expect
      .poll(() => registeredTopics(agent.room), { timeout: 10_000 })
      .toEqual({ text: [], byte: [] });
    await agent.shutdown();
    // Nor does the framework's per-session listeners outlive the sessions.
    expect(roomListeners(agent.room)).toBe(0);
  });

  it('a participant who leaves and comes back continues their thread', async () => {
    const agent = await startAgent(mode, api, `rejoin-${mode}`);
    join(agent.room, 'alice');
    join(agent.room, 'bob');
    await sessionReady(agent, 'alice');
    await sessionReady(agent, 'bob');
    await talk(agent, 'alice', 'say alice #1');
    leave(agent.room, 'alice');
    await talk(agent, 'bob', 'say bob #1');
    join(agent.room, 'alice');
    await sessionReady(agent, 'alice', 2);
    await talk(agent, 'alice', 'say alice #2');
    expect(threadOf('say alice #2')).toBe(threadOf('say alice #1'));
    expect(agent.heard.get('alice')!.filter((h) => h.text === 'echo say alice #2')).toEqual([
      { session: 1, role: 'assistant', text: 'echo say alice #2' },
    ]);
    expectOnlyOwn(agent);
    await agent.shutdown();
  });

  it('20 participants joining and leaving at random each keep their own conversation', async () => {
    const agent = await startAgent(mode, api, `random-${mode}`);
    let seed = mode === 'fleet' ? 7 : 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const people = Array.from({ length: 20 }, (_, i) => `p${i}`);
    const present = new Set<string>();
    const joins = new Map<string, number>();
    const said = new Map<string, string[]>();
    for (let step = 0; step < 60; step++) {
      const who = people[Math.floor(random() * people.length)]!;
      if (!present.has(who)) {
        join(agent.room, who);
        present.add(who);
        joins.set(who, (joins.get(who) ?? 0) + 1);
        await sessionReady(agent, who, joins.get(who));
      } else if (random() < 0.3) {
        leave(agent.room, who);
        present.delete(who);
      } else {
        const text = `say ${who} #${step}`;
        await talk(agent, who, text);
        said.set(who, [...(said.get(who) ?? []), text]);
      }
    }
    expectOnlyOwn(agent);
    for (const [who, texts] of said) {
      expect(new Set(texts.map(threadOf)).size, `${who}'s messages share one thread`).toBe(1);
    }
    const threads = [...said.values()].map((texts) => threadOf(texts[0]!));
    expect(new Set(threads).size).toBe(said.size);
    for (const who of [...present]) leave(agent.room, who);
    await agent.shutdown();
    expect(registeredTopics(agent.room)).toEqual({ text: [], byte: [] });
    expect(roomListeners(agent.room)).toBe(0);
  });
});
