/**
 * The LiveKit Agents entrypoint: when a job starts in a room, an actor host binds to the room
 * and every participant gets a session actor and a voice.AgentSession whose llm is that actor.
 * All the sessions share the job's one room connection through a RoomMux, which gives each its
 * own stream handlers, its own audio track and replies addressed to its participant.
 */
import { defineAgent, voice, type AgentDefinition, type JobContext } from '@livekit/agents';
import type { ParticipantKind } from '@livekit/rtc-node';
import type { AssistantOptions } from '../src/options.js';
import { defaultLogger } from '../src/logger.js';
import { AssistantLLM } from '../src/assistant-llm.js';
import type { FleetTransportOptions as RedisTransportOptions } from '../src/fleet-mode.js';
import { ActorHost } from './actor-host.js';
import { bindRoom, type ParticipantLike } from './room-binding.js';
import { RoomMux, type Audience } from './room-mux.js';
import type { StopMode } from './session-actor.js';

/** What `voice.AgentSession.start` takes: its RoomIO options are passed through. */
export type SessionStartOptions = Parameters<voice.AgentSession['start']>[0];

/** How `createAssistantAgent` builds each participant's assistant and conversation. */
export interface AssistantAgentOptions {
  /** The assistant, as for AssistantLLM but without a transport (each session gets its own). */
  assistant: AssistantOptions;
  /** Fleet mode: runs go to workers through this Redis. Without it, runs execute in the job process. */
  fleet?: Omit<RedisTransportOptions, 'session'>;
  /** The Agent each participant talks to (its instructions and tools). */
  agent: (participant: ParticipantLike) => voice.Agent;
  /** AgentSession options besides the llm (stt, tts, vad, turn handling). */
  session?: (
    participant: ParticipantLike,
  ) => Omit<ConstructorParameters<typeof voice.AgentSession>[0], 'llm'>;
  /** Called once each participant's session has started, e.g. to add listeners or metrics. */
  onSessionStarted?: (session: voice.AgentSession, participant: ParticipantLike) => void;
  /** RoomIO input options for each session; the participant is always the session's own. */
  roomInput?: Omit<NonNullable<SessionStartOptions['inputOptions']>, 'participantIdentity'>;
  /** RoomIO output options for each session. */
  roomOutput?: SessionStartOptions['outputOptions'];
  /**
   * Who hears a participant's assistant. 'participant' (default): only that participant may
   * subscribe to its audio track, and its transcriptions and text replies are addressed to it.
   * 'room': everyone hears every answer.
   */
  audience?: Audience;
  /** Participant kinds that get an assistant. Default standard, SIP and connector. */
  participantKinds?: readonly ParticipantKind[];
  /** A participant who leaves: cancel their active run, or let it finish. Default 'cancel'. */
  onLeave?: StopMode;
  /** Idle actors are passivated after this long. Default 5 minutes. */
  passivateAfterMs?: number;
}

/**
 * A LiveKit agent whose job gives every participant of the room their own session actor,
 * thread and `voice.AgentSession`, all on the job's one room connection (see RoomMux).
 */
export function createAssistantAgent(options: AssistantAgentOptions): AgentDefinition {
  return defineAgent({
    entry: async (ctx: JobContext) => {
      await ctx.connect();
      const host = new ActorHost({
        create: (identity, hints) =>
          new AssistantLLM({
            ...options.assistant,
            ...(hints.threadId
              ? { load_options: { ...options.assistant.load_options, thread_id: hints.threadId } }
              : {}),
            ...(options.fleet ? { transport: { ...options.fleet, session: identity } } : {}),
            // Who the assistant talks to, also in one process (the safety identifier's digest).
            session: identity,
          } as AssistantOptions),
        ...(options.passivateAfterMs ? { passivateAfterMs: options.passivateAfterMs } : {}),
      });
      const mux = new RoomMux(ctx.room, {
        audience: options.audience ?? 'participant',
        logger: options.assistant.logger ?? defaultLogger(),
      });
      const binding = bindRoom(ctx.room, {
        host,
        logger: options.assistant.logger ?? defaultLogger(),
        roomName: ctx.room.name ?? ctx.job.room?.name ?? '',
        onLeave: options.onLeave ?? 'cancel',
        ...(options.participantKinds ? { participantKinds: options.participantKinds } : {}),
        startConversation: async (participant, llm) => {
          const room = mux.view(participant.identity);
          const session = new voice.AgentSession({
            ...(options.session?.(participant) ?? {}),
            llm,
          });
          try {
            await session.start({
              agent: options.agent(participant),
              room,
              inputOptions: { ...options.roomInput, participantIdentity: participant.identity },
              ...(options.roomOutput ? { outputOptions: options.roomOutput } : {}),
            });
          } catch (error) {
            await session.close();
            await mux.release(participant.identity);
            throw error;
          }
          options.onSessionStarted?.(session, participant);
          return {
            close: async () => {
              await session.close();
              await mux.release(participant.identity);
            },
          };
        },
      });
      ctx.addShutdownCallback(async () => {
        await binding.close();
        await host.close();
        await mux.close();
      });
    },
  });
}
