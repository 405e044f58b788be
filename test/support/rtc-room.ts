/**
 * @livekit/rtc-node's real Room, unconnected: its handler registry, participant map and events
 * are the real ones. What a LiveKit server would do (a participant joins or leaves, someone
 * sends a text stream) is done here the way rtc-node does it when the server's event arrives.
 */
import type { JobContext } from '@livekit/agents';
import type { Mutex } from '@livekit/mutex';
import {
  DisconnectReason,
  LocalParticipant,
  ParticipantKind,
  Room,
  RoomEvent,
  TextStreamReader,
  type RemoteParticipant,
  type TextStreamHandler,
} from '@livekit/rtc-node';
import {
  AudioSourceType,
  DataStream_Chunk,
  FfiOwnedHandle,
  FfiRequest,
  FfiResponse,
  livekitFfiRequest,
  NewAudioSourceRequest,
  OwnedParticipant,
  ParticipantInfo,
} from '@livekit/rtc-ffi-bindings';

/** The parts of rtc-node's Room that are private in its types but that its own events use. */
interface RoomInternals {
  createRemoteParticipant(owned: OwnedParticipant): RemoteParticipant;
  textStreamHandlers: Map<string, TextStreamHandler>;
  byteStreamHandlers: Map<string, unknown>;
}
const internals = (room: Room) => room as unknown as RoomInternals;

/**
 * A handle the native layer really owns, for the participant to hold: rtc-node frees a
 * participant's handle when the object is collected, and the native layer refuses an id it
 * never issued. Without a server no participant handle can be had, so an audio source's is.
 */
export function ownedHandle(): bigint {
  const request = new FfiRequest({
    message: {
      case: 'newAudioSource',
      value: new NewAudioSourceRequest({
        type: AudioSourceType.AUDIO_SOURCE_NATIVE,
        sampleRate: 48_000,
        numChannels: 1,
        queueSizeMs: 100,
      }),
    },
  });
  const response = FfiResponse.fromBinary(livekitFfiRequest(request.toBinary()));
  if (response.message.case !== 'newAudioSource' || !response.message.value.source?.handle?.id)
    throw new Error('the native layer issued no handle');
  return response.message.value.source.handle.id;
}

/** As rtc-node does on a `participantConnected` event from the server. */
export function join(
  room: Room,
  identity: string,
  kind: ParticipantKind = ParticipantKind.STANDARD,
  attributes: Record<string, string> = {},
): RemoteParticipant {
  const owned = new OwnedParticipant({
    handle: new FfiOwnedHandle({ id: ownedHandle() }),
    info: new ParticipantInfo({
      identity,
      sid: `PA_${identity}`,
      name: identity,
      metadata: '',
      kind,
      attributes,
    }),
  });
  const participant = internals(room).createRemoteParticipant(owned);
  room.emit(RoomEvent.ParticipantConnected, participant);
  return participant;
}

/** As rtc-node does on a `participantDisconnected` event from the server. */
export function leave(
  room: Room,
  identity: string,
  reason: DisconnectReason = DisconnectReason.CLIENT_INITIATED,
): void {
  const participant = room.remoteParticipants.get(identity);
  if (!participant) throw new Error(`${identity} is not in the room`);
  room.remoteParticipants.delete(identity);
  participant.info.disconnectReason = reason;
  room.emit(RoomEvent.ParticipantDisconnected, participant);
}

/**
 * `identity` sends `text` on `topic`, as rtc-node hands an incoming text stream to the handler
 * registered for its topic. Returns false when no handler is registered (rtc-node drops it).
 */
export function sendText(room: Room, identity: string, text: string, topic = 'lk.chat'): boolean {
  const handler = internals(room).textStreamHandlers.get(topic);
  if (!handler) return false;
  const content = new TextEncoder().encode(text);
  const stream = new ReadableStream<DataStream_Chunk>({
    start(controller) {
      controller.enqueue(new DataStream_Chunk({ content }));
      controller.close();
    },
  });
  const info = {
    streamId: `TS_${Math.random().toString(36).slice(2)}`,
    topic,
    timestamp: Date.now(),
    mimeType: 'text/plain',
    attributes: {},
    totalSize: content.length,
  };
  handler(new TextStreamReader(info, stream, content.length), { identity });
  return true;
}

/** The agent's own participant, as rtc-node creates it on connect (the room stays unconnected). */
export function attachLocal(room: Room, identity = 'agent'): LocalParticipant {
  const owned = new OwnedParticipant({
    handle: new FfiOwnedHandle({ id: ownedHandle() }),
    info: new ParticipantInfo({ identity, sid: `PA_${identity}`, name: identity, metadata: '' }),
  });
  const lock = (room as unknown as { ffiEventLock: Mutex }).ffiEventLock;
  const local = new LocalParticipant(owned, lock, new AbortController().signal);
  room.localParticipant = local;
  return local;
}

/** Topics the room has a handler for, by kind. */
export function registeredTopics(room: Room): { text: string[]; byte: string[] } {
  return {
    text: [...internals(room).textStreamHandlers.keys()].sort(),
    byte: [...internals(room).byteStreamHandlers.keys()].sort(),
  };
}

/** Listeners on the room, every event counted. */
export function roomListeners(room: Room): number {
  return room.eventNames().reduce((n, event) => n + room.listenerCount(event as RoomEvent), 0);
}

/** A JobContext as the entrypoint uses it: the room, connect, the job's room name, shutdown. */
export function jobContext(room: Room, roomName: string) {
  const shutdown: Array<() => Promise<void>> = [];
  const ctx = {
    room,
    job: { room: { name: roomName } },
    connect: async () => undefined,
    addShutdownCallback: (callback: () => Promise<void>) => void shutdown.push(callback),
  };
  return {
    ctx: ctx as unknown as JobContext,
    /** Runs the shutdown callbacks, as the framework does when the job ends. */
    shutdown: async () => {
      for (const callback of shutdown.splice(0)) await callback();
    },
  };
}
