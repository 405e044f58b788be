/**
 * Who a conversation belongs to. A session is one participant in one room; its id is a digest,
 * so identities with `*`, `{`, `}`, `:`, spaces or newlines are safe wherever the id goes (a
 * Redis key in fleet mode, a map key in the actor host).
 */
import { createHash } from 'node:crypto';

/** The room and participant a session belongs to. */
export interface SessionIdentity {
  room: string;
  participant: string;
}

/** A fixed-length id (32 hex digits) for a session; the same in every process. */
export function sessionId(identity: SessionIdentity): string {
  return createHash('sha256')
    .update(`${identity.room.length}:${identity.room}\u0000${identity.participant}`)
    .digest('hex')
    .slice(0, 32);
}
