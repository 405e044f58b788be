/**
 * `@livekit/agents-plugin-assistant/agent`: one session actor per room participant, and a
 * LiveKit agent built on them. Runs execute in the job process, or in a fleet's workers when
 * `fleet` options are given (which needs bullmq and ioredis, loaded only then).
 */
export { createAssistantAgent } from './agent.js';
export type { AssistantAgentOptions, SessionStartOptions } from './agent.js';
export { ActorHost } from './actor-host.js';
export type { ActorEntry, ActorHostOptions } from './actor-host.js';
export { ActorLLM } from './actor-llm.js';
export { SessionActor } from './session-actor.js';
export type { ActivationFactory, StopMode } from './session-actor.js';
export { RoomMux, AGENT_STATE_ATTRIBUTE, agentStateAttribute } from './room-mux.js';
export type { Audience, RoomMuxOptions } from './room-mux.js';
export type { TrackAllowance } from './track-permissions.js';
export { bindRoom, DEFAULT_PARTICIPANT_KINDS } from './room-binding.js';
export type {
  ConversationHandle,
  ParticipantLike,
  RoomBinding,
  RoomBindingOptions,
  RoomLike,
} from './room-binding.js';
export type { SessionIdentity } from '../src/session.js';
