/**
 * The actor host of one agent process: at most one actor per session id, started on demand,
 * passivated after idling, stopped when its participant leaves.
 */
import type { SessionIdentity } from '../src/session.js';
import { sessionId } from '../src/session.js';
import { defaultLogger, type Logger } from '../src/logger.js';
import { ActorLLM } from './actor-llm.js';
import { SessionActor, type ActivationFactory, type StopMode } from './session-actor.js';

/** Options of an ActorHost. */
export interface ActorHostOptions {
  /** Builds an activation, e.g. an AssistantLLM with a fleet transport for this session. */
  create: ActivationFactory;
  /** Idle actors are passivated after this long. Default 5 minutes. */
  passivateAfterMs?: number;
  /** How often idle actors are looked for. Default passivateAfterMs / 4, at most 30 s. */
  sweepIntervalMs?: number;
  /**
   * Thread ids of sessions whose participant left, kept so that one who comes back continues
   * the same thread (fleet mode also keeps them in Redis). The oldest go first. Default 10,000.
   */
  rememberThreads?: number;
  /** Gets an actor that could not be passivated. Default: the console, warn and up. */
  logger?: Logger;
}

/** A session's actor, and the LLM to give its AgentSession. */
export interface ActorEntry {
  /** The session's actor. */
  actor: SessionActor;
  /** The `llm.LLM` that forwards to the actor's activation. */
  llm: ActorLLM;
}

/** The session actors of one agent process, by session id. */
export class ActorHost {
  readonly #entries = new Map<string, ActorEntry>();
  /** sid → thread id of stopped actors, oldest first. */
  readonly #pastThreads = new Map<string, string>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #passivateAfterMs: number;
  readonly #options: ActorHostOptions;

  constructor(options: ActorHostOptions) {
    this.#options = options;
    this.#passivateAfterMs = options.passivateAfterMs ?? 300_000;
    const every =
      options.sweepIntervalMs ?? Math.min(30_000, Math.max(10, this.#passivateAfterMs / 4));
    // sweep() never rejects: it logs an actor it could not passivate and goes on.
    this.#sweeper = setInterval(() => void this.sweep(), every);
    this.#sweeper.unref();
  }

  /** The session's actor and the LLM to give its AgentSession; created if absent. */
  actor(identity: SessionIdentity): ActorEntry {
    const sid = sessionId(identity);
    let entry = this.#entries.get(sid);
    if (!entry) {
      let unforward: (() => void) | undefined;
      const actor: SessionActor = new SessionActor(
        identity,
        this.#options.create,
        (activation) => (unforward = entry!.llm.forward(activation)),
        () => unforward?.(),
        this.#pastThreads.get(sid),
      );
      entry = { actor, llm: new ActorLLM(actor) };
      this.#entries.set(sid, entry);
    }
    return entry;
  }

  find(sid: string): SessionActor | undefined {
    return this.#entries.get(sid)?.actor;
  }

  get size(): number {
    return this.#entries.size;
  }

  get activeCount(): number {
    let count = 0;
    for (const { actor } of this.#entries.values()) if (actor.state === 'active') count++;
    return count;
  }

  async stop(identity: SessionIdentity, mode: StopMode): Promise<void> {
    const sid = sessionId(identity);
    const entry = this.#entries.get(sid);
    if (!entry) return;
    this.#entries.delete(sid);
    await entry.actor.stop(mode);
    this.#remember(entry.actor);
  }

  #remember(actor: SessionActor): void {
    const threadId = actor.currentThreadId;
    if (!threadId) return;
    this.#pastThreads.delete(actor.sid);
    this.#pastThreads.set(actor.sid, threadId);
    const limit = this.#options.rememberThreads ?? 10_000;
    for (const sid of this.#pastThreads.keys()) {
      if (this.#pastThreads.size <= limit) break;
      this.#pastThreads.delete(sid);
    }
  }

  /** Passivates actors idle for longer than passivateAfterMs. */
  async sweep(now = Date.now()): Promise<number> {
    let passivated = 0;
    for (const { actor } of this.#entries.values()) {
      if (actor.state === 'active' && now - actor.lastUsedAt >= this.#passivateAfterMs) {
        try {
          if (await actor.passivate()) passivated++;
        } catch (error) {
          // Logged, and the sweep goes on with the other actors: passivate() has already let go
          // of the activation, so the next message builds a new one; only its close failed.
          (this.#options.logger ?? defaultLogger()).warn('could not passivate a session actor', {
            sid: actor.sid,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
    }
    return passivated;
  }

  async close(mode: StopMode = 'cancel'): Promise<void> {
    clearInterval(this.#sweeper);
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map(({ actor }) => actor.stop(mode)));
  }
}
