/**
 * The LiveKit Agents entrypoint: when a job starts in a room, an actor host binds to the room
 * and every participant gets a session actor and a voice.AgentSession whose llm is that actor.
 */
import { defineAgent, voice, type AgentDefinition, type JobContext } from '@livekit/agents';
import type { AssistantOptions } from '../src/options.js';
import { AssistantLLM } from '../src/assistant-llm.js';
import type { RedisTransportOptions } from '../queues/redis-transport.js';
import { ActorHost } from './actor-host.js';
import { bindRoom, type RoomLike } from './room-binding.js';
import type { StopMode } from './session-actor.js';

export interface AssistantAgentOptions {
  /** The assistant, as for AssistantLLM but without a transport (each session gets its own). */
  assistant: AssistantOptions;
  /** Fleet mode: runs go to workers through this Redis. Without it, runs execute in the job process. */
  fleet?: Omit<RedisTransportOptions, 'session'>;
  /** The Agent each participant talks to (its instructions and tools). */
  agent: () => voice.Agent;
  /** AgentSession options besides the llm (stt, tts, vad, turn handling). */
  session?: () => Omit<ConstructorParameters<typeof voice.AgentSession>[0], 'llm'>;
  /** A participant who leaves: cancel their active run, or let it finish. Default 'cancel'. */
  onLeave?: StopMode;
  /** Idle actors are passivated after this long. Default 5 minutes. */
  passivateAfterMs?: number;
}

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
          } as AssistantOptions),
        ...(options.passivateAfterMs ? { passivateAfterMs: options.passivateAfterMs } : {}),
      });
      const room: RoomLike = ctx.room;
      const binding = bindRoom(room, {
        host,
        onLeave: options.onLeave ?? 'cancel',
        startConversation: async (participant, llm) => {
          const session = new voice.AgentSession({ ...(options.session?.() ?? {}), llm });
          await session.start({
            agent: options.agent(),
            room: ctx.room,
            inputOptions: { participantIdentity: participant.identity },
          });
          return { close: () => session.close() };
        },
      });
      ctx.addShutdownCallback(async () => {
        await binding.close();
        await host.close();
      });
    },
  });
}
