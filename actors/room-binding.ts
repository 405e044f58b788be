/**
 * Binds a LiveKit room to an actor host: a participant who joins (or is already there) gets a
 * session actor and a conversation; one who leaves has both stopped; a room that disconnects
 * stops them all. Participants never share an actor, a thread or a conversation.
 */
import { ParticipantKind, RoomEvent } from '@livekit/rtc-node';
import type { Logger } from '../src/logger.js';
import type { ActorLLM } from './actor-llm.js';
import { sessionId } from '../src/session.js';
import type { ActorHost } from './actor-host.js';
import type { SessionActor, StopMode } from './session-actor.js';

/** What the binding needs of a participant: @livekit/rtc-node's RemoteParticipant fits. */
export interface ParticipantLike {
  identity: string;
  kind?: ParticipantKind;
  attributes?: Record<string, string>;
}

/** What the binding needs of a room: @livekit/rtc-node's Room fits. */
export interface RoomLike {
  name?: string | undefined;
  remoteParticipants: Map<string, ParticipantLike>;
  localParticipant?: { identity: string } | undefined;
  on(
    event: RoomEvent.ParticipantConnected,
    listener: (participant: ParticipantLike) => void,
  ): unknown;
  on(
    event: RoomEvent.ParticipantDisconnected,
    listener: (participant: ParticipantLike) => void,
  ): unknown;
  on(event: RoomEvent.Disconnected, listener: (reason: unknown) => void): unknown;
  off(
    event: RoomEvent.ParticipantConnected,
    listener: (participant: ParticipantLike) => void,
  ): unknown;
  off(
    event: RoomEvent.ParticipantDisconnected,
    listener: (participant: ParticipantLike) => void,
  ): unknown;
  off(event: RoomEvent.Disconnected, listener: (reason: unknown) => void): unknown;
}

/** A participant's conversation, e.g. a voice.AgentSession; closed when the participant leaves. */
export interface ConversationHandle {
  close(): Promise<void>;
}

/** What `bindRoom` does for each participant. */
export interface RoomBindingOptions {
  /** The actor host the room's participants get their session actors from. */
  host: ActorHost;
  /** Starts the participant's conversation with `llm` (its actor's LLM). */
  startConversation: (
    participant: ParticipantLike,
    llm: ActorLLM,
    actor: SessionActor,
  ) => Promise<ConversationHandle>;
  /** What happens to a run still active when its participant leaves. Default 'cancel'. */
  onLeave?: StopMode;
  /**
   * The room's name in session ids. Default `room.name` (an unconnected rtc-node Room has
   * none: pass the job's room name).
   */
  roomName?: string;
  /**
   * Kinds of participant that get a conversation. Default standard, SIP and connector
   * participants, as @livekit/agents' RoomIO accepts; other agents and egress do not.
   */
  participantKinds?: readonly ParticipantKind[];
  /** Where a failed join or leave is logged. */
  logger?: Logger;
}

/** The kinds @livekit/agents' RoomIO listens to by default. */
export const DEFAULT_PARTICIPANT_KINDS: readonly ParticipantKind[] = [
  ParticipantKind.STANDARD,
  ParticipantKind.SIP,
  ParticipantKind.CONNECTOR,
];
/** Set by a participant (an avatar, say) that publishes on this agent's behalf. */
const PUBLISH_ON_BEHALF = 'lk.publish_on_behalf';

/** A room bound to an actor host, until `close`. */
export interface RoomBinding {
  /** Identities with a live conversation. */
  readonly participants: ReadonlySet<string>;
  /** Stops every conversation and actor of the room and removes the room listeners. */
  close(): Promise<void>;
}

/**
 * Gives each participant of `room` (present now or joining later) a session actor and a
 * conversation, and stops both when they leave or the room disconnects. Participants never
 * share an actor, a thread or a conversation.
 */
export function bindRoom(room: RoomLike, options: RoomBindingOptions): RoomBinding {
  const roomName = options.roomName ?? room.name;
  if (!roomName)
    throw new Error(
      'bindRoom needs the room name: connect the room first or pass options.roomName.',
    );
  const kinds = options.participantKinds ?? DEFAULT_PARTICIPANT_KINDS;
  const accepted = (participant: ParticipantLike): boolean =>
    (participant.kind === undefined || kinds.includes(participant.kind)) &&
    (participant.attributes?.[PUBLISH_ON_BEHALF] === undefined ||
      participant.attributes[PUBLISH_ON_BEHALF] !== room.localParticipant?.identity);
  const live = new Set<string>();
  /** Per participant, the chain of join/leave work, so a quick leave waits for its join. */
  const chains = new Map<string, Promise<void>>();
  const conversations = new Map<string, ConversationHandle>();
  const mode = options.onLeave ?? 'cancel';
  let closed = false;

  const enqueue = (identity: string, work: () => Promise<void>): Promise<void> => {
    const next = (chains.get(identity) ?? Promise.resolve()).then(work).catch((error: unknown) => {
      options.logger?.error('participant lifecycle step failed', {
        room: roomName,
        participant: identity,
        error: (error as Error).message,
      });
    });
    chains.set(identity, next);
    void next.then(() => {
      if (chains.get(identity) === next) chains.delete(identity);
    });
    return next;
  };

  const join = (participant: ParticipantLike): void => {
    const identity = participant.identity;
    if (closed || live.has(identity) || !accepted(participant)) return;
    live.add(identity);
    void enqueue(identity, async () => {
      if (!live.has(identity)) return;
      const { actor, llm } = options.host.actor({ room: roomName, participant: identity });
      conversations.set(identity, await options.startConversation(participant, llm, actor));
    });
  };

  const leave = (participant: ParticipantLike): Promise<void> => {
    const identity = participant.identity;
    live.delete(identity);
    return enqueue(identity, async () => {
      const conversation = conversations.get(identity);
      conversations.delete(identity);
      const session = { room: roomName, participant: identity };
      // Cancelling does not wait for the conversation to wind down: the run stops now.
      const interrupted =
        mode === 'cancel' ? options.host.find(sessionId(session))?.interrupt() : undefined;
      await Promise.all([conversation?.close(), interrupted]);
      await options.host.stop(session, mode);
    });
  };

  const onConnected = (participant: ParticipantLike) => join(participant);
  const onDisconnected = (participant: ParticipantLike) => void leave(participant);
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    room.off(RoomEvent.ParticipantConnected, onConnected);
    room.off(RoomEvent.ParticipantDisconnected, onDisconnected);
    room.off(RoomEvent.Disconnected, onRoomDisconnected);
    const everyone = new Set([...live, ...conversations.keys(), ...chains.keys()]);
    await Promise.all([...everyone].map((identity) => leave({ identity })));
  };
  const onRoomDisconnected = () => void close();

  room.on(RoomEvent.ParticipantConnected, onConnected);
  room.on(RoomEvent.ParticipantDisconnected, onDisconnected);
  room.on(RoomEvent.Disconnected, onRoomDisconnected);
  for (const participant of room.remoteParticipants.values()) join(participant);

  return { participants: live, close };
}
