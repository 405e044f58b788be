/**
 * A session actor: one per room participant. It owns the session's identity and, through its
 * AssistantLLM activation, the thread and the run queue (one turn at a time). An idle actor is
 * passivated (its activation closed) and comes back on the next message with the same thread.
 */
import type { AssistantLLM } from '../src/assistant-llm.js';
import { chatHostOf } from '../src/chat-session.js';
import { sessionId, type SessionIdentity } from '../src/session.js';

/** Builds an actor's activation; `threadId` is the thread it had before passivation, if known. */
export type ActivationFactory = (
  identity: SessionIdentity,
  hints: { threadId?: string },
) => AssistantLLM;

/** What stopping an actor does to a run in flight: cancel it, or let it finish. */
export type StopMode = 'cancel' | 'finish';

/** The actor of one room participant: owns their session, and an AssistantLLM activation while active. */
export class SessionActor {
  readonly sid: string;
  #activation: AssistantLLM | null = null;
  #threadId: string | undefined;
  #lastItemId: string | null = null;
  #stopped = false;
  readonly #create: ActivationFactory;
  readonly #onActivate: (llm: AssistantLLM) => void;
  readonly #onPassivate: (llm: AssistantLLM) => void;
  /** When the actor was last used (ms since the epoch); the host passivates it after idling. */
  lastUsedAt = Date.now();

  /**
   * @param identity - the session's room and participant
   * @param create - builds the activation (an AssistantLLM) when the actor is used
   * @param onActivate - called with each new activation
   * @param onPassivate - called with an activation that is about to be closed
   * @param threadId - the thread this session had before, e.g. before its participant left and came back
   */
  constructor(
    readonly identity: SessionIdentity,
    create: ActivationFactory,
    onActivate: (llm: AssistantLLM) => void = () => undefined,
    onPassivate: (llm: AssistantLLM) => void = () => undefined,
    threadId?: string,
  ) {
    this.#create = create;
    this.#onActivate = onActivate;
    this.#onPassivate = onPassivate;
    this.sid = sessionId(identity);
    this.#threadId = threadId;
  }

  get state(): 'active' | 'passive' | 'stopped' {
    return this.#stopped ? 'stopped' : this.#activation ? 'active' : 'passive';
  }

  /** The live activation, created on demand. */
  activate(): AssistantLLM {
    if (this.#stopped)
      throw new Error(`The session actor for ${this.identity.participant} has stopped.`);
    this.lastUsedAt = Date.now();
    if (!this.#activation) {
      const llm = this.#create(this.identity, this.#threadId ? { threadId: this.#threadId } : {});
      chatHostOf(llm).chatState.lastItemId = this.#lastItemId;
      this.#activation = llm;
      this.#onActivate(llm);
    }
    return this.#activation;
  }

  get busy(): boolean {
    return this.#activation?.busy ?? false;
  }

  get currentThreadId(): string | undefined {
    return this.#activation?.threadId ?? this.#threadId;
  }

  /** Closes an idle activation, keeping what the next one needs. Returns false if it was busy. */
  async passivate(): Promise<boolean> {
    const llm = this.#activation;
    if (!llm || llm.busy) return false;
    this.#threadId = llm.threadId ?? this.#threadId;
    this.#lastItemId = chatHostOf(llm).chatState.lastItemId;
    this.#activation = null;
    this.#onPassivate(llm);
    await llm.aclose();
    return true;
  }

  /** Cancels the active run, if any; resolves once the thread is free. The actor stays. */
  async interrupt(): Promise<void> {
    await this.#activation?.interrupt();
  }

  /** Stops the actor: its active run is cancelled, or allowed to finish, by `mode`. */
  async stop(mode: StopMode): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const llm = this.#activation;
    this.#activation = null;
    if (!llm) return;
    if (mode === 'finish') await llm.idle();
    this.#threadId = llm.threadId ?? this.#threadId;
    this.#onPassivate(llm);
    await llm.aclose();
  }
}
