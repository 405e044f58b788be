/** `@livekit/agents-plugin-assistant/fleet`: the pieces of fleet mode, for custom hosts. */
export { RedisTransport } from './redis-transport.js';
export type { RedisTransportOptions } from './redis-transport.js';
export { RunWorker } from './run-worker.js';
export type { RunWorkerOptions } from './run-worker.js';
export { startBoard } from './board.js';
export { Keys, sessionId, TTL } from './keys.js';
export type { SessionIdentity } from './keys.js';
export { ActorHost } from '../actors/actor-host.js';
export { SessionActor } from '../actors/session-actor.js';
export { bindRoom } from '../actors/room-binding.js';
export type { RoomLike, ParticipantLike, RoomBinding } from '../actors/room-binding.js';
