/**
 * The room multiplexer against @livekit/rtc-node's real Room, unconnected, and a real
 * LocalParticipant. What needs the SFU (a track publication being acknowledged) is done the
 * way rtc-node does it when the server answers; the permission request goes to rtc's native
 * layer itself.
 */
import {
  AudioSource,
  LocalAudioTrack,
  LocalParticipant,
  LocalTrackPublication,
  Room,
  RoomEvent,
  TextStreamReader,
  TrackPublishOptions,
  TrackSource,
  type LocalTrack,
} from '@livekit/rtc-node';
import {
  DataStream_Chunk,
  FfiOwnedHandle,
  OwnedTrackPublication,
  TrackPublicationInfo,
} from '@livekit/rtc-ffi-bindings';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AGENT_STATE_ATTRIBUTE, RoomMux } from '../actors/room-mux.js';
import { restrictTrackSubscriptions, type TrackAllowance } from '../actors/track-permissions.js';
import {
  attachLocal,
  join,
  leave,
  ownedHandle,
  registeredTopics,
  roomListeners,
  sendText,
} from './support/rtc-room.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function mux(room: Room, options: ConstructorParameters<typeof RoomMux>[1] = {}): RoomMux {
  const m = new RoomMux(room, options);
  cleanups.push(() => m.close());
  return m;
}

let trackSids = 0;
/**
 * Publishing needs the SFU's answer. This does what rtc-node's publishTrack does once the
 * answer arrives (a publication with the server's sid, in trackPublications, and the room's
 * LocalTrackPublished event), and unpublishTrack likewise; both throw where rtc-node would.
 */
function acknowledgePublishing(room: Room, local: LocalParticipant) {
  vi.spyOn(local, 'publishTrack').mockImplementation(async (track: LocalTrack) => {
    const publication = new LocalTrackPublication(
      new OwnedTrackPublication({
        handle: new FfiOwnedHandle({ id: ownedHandle() }),
        info: new TrackPublicationInfo({ sid: `TR_${++trackSids}`, name: 'roomio_audio' }),
      }),
    );
    publication.track = track;
    local.trackPublications.set(publication.sid!, publication);
    room.emit(RoomEvent.LocalTrackPublished, publication, local);
    return publication;
  });
  vi.spyOn(local, 'unpublishTrack').mockImplementation(async (sid: string) => {
    const publication = local.trackPublications.get(sid);
    if (!publication) throw new Error(`track ${sid} is not published`);
    local.trackPublications.delete(sid);
    room.emit(RoomEvent.LocalTrackUnpublished, publication, local);
  });
}

function audioTrack(): LocalAudioTrack {
  return LocalAudioTrack.createAudioTrack('roomio_audio', new AudioSource(24_000, 1));
}

const micOptions = () => new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE });

describe('stream handlers', () => {
  it('each participant’s session holds its own handler for a topic the room allows once', () => {
    const room = new Room();
    const m = mux(room);
    join(room, 'alice');
    join(room, 'bob');
    const got: string[] = [];
    const handler = (who: string) => (reader: TextStreamReader) =>
      void reader.readAll().then((text) => got.push(`${who}:${text}`));
    const alice = m.view('alice');
    const bob = m.view('bob');
    alice.registerTextStreamHandler('lk.chat', handler('alice-session'));
    bob.registerTextStreamHandler('lk.chat', handler('bob-session'));
    // The same session registering twice fails as rtc-node fails.
    expect(() => alice.registerTextStreamHandler('lk.chat', handler('again'))).toThrow(
      'A text stream handler for topic "lk.chat" has already been set.',
    );
    expect(registeredTopics(room).text).toEqual(['lk.chat']);

    sendText(room, 'alice', 'hi from alice');
    sendText(room, 'bob', 'hi from bob');
    return expect
      .poll(() => got.sort())
      .toEqual(['alice-session:hi from alice', 'bob-session:hi from bob']);
  });

  it('one session unregistering leaves the others heard; the last one frees the topic', async () => {
    const room = new Room();
    const m = mux(room);
    join(room, 'alice');
    join(room, 'bob');
    const got: string[] = [];
    m.view('alice').registerTextStreamHandler('lk.chat', () => void got.push('alice'));
    const bob = m.view('bob');
    bob.registerTextStreamHandler('lk.chat', () => void got.push('bob'));
    m.view('carol').registerByteStreamHandler('lk.agent.session', () => undefined);
    await m.release('alice');
    expect(sendText(room, 'bob', 'x')).toBe(true);
    expect(got).toEqual(['bob']);
    bob.unregisterTextStreamHandler('lk.chat');
    expect(registeredTopics(room)).toEqual({ text: [], byte: ['lk.agent.session'] });
  });

  it('a topic registered on the room itself is named in the error', () => {
    const room = new Room();
    room.registerTextStreamHandler('lk.chat', () => undefined);
    expect(() =>
      mux(room)
        .view('alice')
        .registerTextStreamHandler('lk.chat', () => undefined),
    ).toThrow(/Topic "lk.chat" already has a text stream handler registered on the room outside/);
  });

  it('a stream from someone without a session is dropped and its reader closed', async () => {
    const room = new Room();
    const m = mux(room);
    join(room, 'alice');
    join(room, 'mallory');
    const got: string[] = [];
    m.view('alice').registerTextStreamHandler('lk.chat', () => void got.push('alice'));
    let cancelled = false;
    const stream = new ReadableStream<DataStream_Chunk>({
      start: (c) => c.enqueue(new DataStream_Chunk({ content: new TextEncoder().encode('x') })),
      cancel: () => void (cancelled = true),
    });
    const reader = new TextStreamReader(
      { streamId: 'S1', topic: 'lk.chat', timestamp: 0, mimeType: 'text/plain', attributes: {} },
      stream,
      1,
    );
    const internals = room as unknown as {
      textStreamHandlers: Map<string, (r: TextStreamReader, s: { identity: string }) => void>;
    };
    internals.textStreamHandlers.get('lk.chat')!(reader, { identity: 'mallory' });
    await expect.poll(() => cancelled).toBe(true);
    expect(got).toEqual([]);
  });

  it('one live session per participant', async () => {
    const m = mux(new Room());
    m.view('alice');
    expect(() => m.view('alice')).toThrow(
      'Participant "alice" already has a session in this room.',
    );
    await m.release('alice');
    expect(() => m.view('alice')).not.toThrow();
  });
});

describe('room listeners', () => {
  it('listeners a session adds are gone when it is released, once-listeners included', async () => {
    const room = new Room();
    const m = mux(room, { audience: 'room' });
    const view = m.view('alice');
    const onJoin = vi.fn();
    view.on(RoomEvent.ParticipantConnected, onJoin);
    view.once(RoomEvent.Disconnected, () => undefined);
    view.on(RoomEvent.TrackSubscribed, () => undefined);
    expect(roomListeners(room)).toBe(3);
    join(room, 'bob');
    expect(onJoin).toHaveBeenCalledOnce();
    view.off(RoomEvent.ParticipantConnected, onJoin);
    expect(roomListeners(room)).toBe(2);
    await m.release('alice');
    expect(roomListeners(room)).toBe(0);
  });

  it('a session hears of its own local tracks only', async () => {
    const room = new Room();
    const local = attachLocal(room);
    acknowledgePublishing(room, local);
    const m = mux(room, { audience: 'room' });
    const seen = { alice: [] as string[], bob: [] as string[] };
    const alice = m.view('alice');
    const bob = m.view('bob');
    alice.on(RoomEvent.LocalTrackPublished, (p) => void seen.alice.push(p.sid!));
    bob.on(RoomEvent.LocalTrackPublished, (p) => void seen.bob.push(p.sid!));
    const a = await alice.localParticipant!.publishTrack(audioTrack(), micOptions());
    const b = await bob.localParticipant!.publishTrack(audioTrack(), micOptions());
    expect(seen).toEqual({ alice: [a.sid], bob: [b.sid] });
    // Its view of the agent's publications, where it looks for the track it transcribes.
    expect([...alice.localParticipant!.trackPublications.keys()]).toEqual([a.sid]);
    expect(local.trackPublications.size).toBe(2);
    await m.release('alice');
    expect([...local.trackPublications.keys()]).toEqual([b.sid]);
  });
});

describe('what a session sends', () => {
  it('is addressed to its participant unless it names a destination', async () => {
    const room = new Room();
    const local = attachLocal(room);
    const calls = {
      streamText: vi.spyOn(local, 'streamText'),
      sendText: vi.spyOn(local, 'sendText'),
      streamBytes: vi.spyOn(local, 'streamBytes'),
      publishData: vi.spyOn(local, 'publishData'),
      sendChatMessage: vi.spyOn(local, 'sendChatMessage'),
    };
    const view = mux(room).view('alice').localParticipant!;
    // Unconnected, rtc's native layer refuses each send: only the arguments matter here.
    const settle = (p: Promise<unknown>) => p.catch(() => undefined);
    await settle(view.streamText({ topic: 'lk.transcription' }));
    await settle(view.sendText('hi', { topic: 'lk.chat', destinationIdentities: ['bob'] }));
    await settle(view.streamBytes({ topic: 'lk.agent.session' }));
    await settle(view.publishData(new Uint8Array([1]), { reliable: true }));
    await settle(view.sendChatMessage('hello'));
    expect(calls.streamText.mock.calls[0]![0]).toEqual({
      topic: 'lk.transcription',
      destinationIdentities: ['alice'],
    });
    expect(calls.sendText.mock.calls[0]![1]).toEqual({
      topic: 'lk.chat',
      destinationIdentities: ['bob'],
    });
    expect(calls.streamBytes.mock.calls[0]![0]).toEqual({
      topic: 'lk.agent.session',
      destinationIdentities: ['alice'],
    });
    expect(calls.publishData.mock.calls[0]![1]).toEqual({
      reliable: true,
      destination_identities: ['alice'],
    });
    expect(calls.sendChatMessage.mock.calls[0]![1]).toEqual(['alice']);
  });

  it('goes to everyone in audience "room"', async () => {
    const room = new Room();
    const local = attachLocal(room);
    const streamText = vi.spyOn(local, 'streamText');
    const publishTranscription = vi.spyOn(local, 'publishTranscription');
    const view = mux(room, { audience: 'room' }).view('alice').localParticipant!;
    await view.streamText({ topic: 'lk.transcription' }).catch(() => undefined);
    await view
      .publishTranscription({ participantIdentity: 'agent', trackSid: 'TR_1', segments: [] })
      .catch(() => undefined);
    expect(streamText.mock.calls[0]![0]).toEqual({ topic: 'lk.transcription' });
    expect(publishTranscription).toHaveBeenCalledOnce();
  });

  it('sends no legacy transcription packet, which cannot be addressed, in audience "participant"', async () => {
    const room = new Room();
    const local = attachLocal(room);
    const publishTranscription = vi.spyOn(local, 'publishTranscription');
    const view = mux(room).view('alice').localParticipant!;
    await view.publishTranscription({
      participantIdentity: 'agent',
      trackSid: 'TR_1',
      segments: [],
    });
    expect(publishTranscription).not.toHaveBeenCalled();
  });

  it('writes its agent state under its own key and the busiest state room-wide', async () => {
    const room = new Room();
    const local = attachLocal(room);
    const setAttributes = vi.spyOn(local, 'setAttributes').mockResolvedValue(undefined);
    const m = mux(room);
    await m.view('alice').localParticipant!.setAttributes({ [AGENT_STATE_ATTRIBUTE]: 'speaking' });
    await m.view('bob').localParticipant!.setAttributes({ [AGENT_STATE_ATTRIBUTE]: 'listening' });
    expect(setAttributes.mock.calls.map((c) => c[0])).toEqual([
      { 'lk.agent.state': 'speaking', 'lk.agent.state.alice': 'speaking' },
      { 'lk.agent.state': 'speaking', 'lk.agent.state.bob': 'listening' },
    ]);
  });
});

describe('who may subscribe to the agent’s audio', () => {
  it('each participant to their own assistant’s track, and shared tracks to all', async () => {
    const room = new Room();
    const local = attachLocal(room);
    acknowledgePublishing(room, local);
    const applied: Array<{ before: number; allowances: readonly TrackAllowance[] }> = [];
    const restrictTracks = (_: LocalParticipant, allowances: readonly TrackAllowance[]) =>
      void applied.push({ before: local.trackPublications.size, allowances });
    const m = mux(room, { restrictTracks });
    // Before anything is published, nobody may subscribe to anything.
    expect(applied.at(-1)!.allowances).toEqual([]);
    join(room, 'alice');
    join(room, 'bob');
    expect(applied.at(-1)!.allowances).toEqual([
      { participantIdentity: 'alice', allowedTrackSids: [] },
      { participantIdentity: 'bob', allowedTrackSids: [] },
    ]);
    const a = await m.view('alice').localParticipant!.publishTrack(audioTrack(), micOptions());
    const b = await m.view('bob').localParticipant!.publishTrack(audioTrack(), micOptions());
    const music = await local.publishTrack(audioTrack(), micOptions());
    expect(applied.at(-1)!.allowances).toEqual([
      { participantIdentity: 'alice', allowedTrackSids: [a.sid, music.sid].sort() },
      { participantIdentity: 'bob', allowedTrackSids: [b.sid, music.sid].sort() },
    ]);
    // At no moment may bob take alice's track.
    expect(
      applied.find((x) =>
        x.allowances.some(
          (y) => y.participantIdentity === 'bob' && y.allowedTrackSids.includes(a.sid!),
        ),
      ),
    ).toBeUndefined();
    leave(room, 'alice');
    await m.release('alice');
    expect(local.trackPublications.has(a.sid!)).toBe(false);
    expect(applied.at(-1)!.allowances).toEqual([
      { participantIdentity: 'bob', allowedTrackSids: [b.sid, music.sid].sort() },
    ]);
  });

  it('sets nothing in audience "room"', () => {
    const room = new Room();
    attachLocal(room);
    const restrictTracks = vi.fn();
    mux(room, { audience: 'room', restrictTracks });
    join(room, 'alice');
    expect(restrictTracks).not.toHaveBeenCalled();
  });

  it('the permission request reaches rtc’s native layer, which decodes it', () => {
    const room = new Room();
    const local = attachLocal(room);
    // The participant handle here is not a connected participant's, so the native layer
    // refuses it, after decoding the request it names in the error.
    expect(() =>
      restrictTrackSubscriptions(local, [
        { participantIdentity: 'alice', allowedTrackSids: ['TR_a'] },
      ]),
    ).toThrow(
      /participant_identity: "alice", allow_all: Some\(false\), allowed_track_sids: \["TR_a"\]/,
    );
  });
});
