/**
 * A session actor: one per room participant. It owns the session's identity and, through its
 * AssistantLLM activation, the thread and the run queue (one turn at a time). An idle actor is
 * passivated (its activation closed) and comes back on the next message with the same thread.
 */
import type { AssistantLLM } from '../src/assistant-llm.js';
import { sessionId, type SessionIdentity } from '../queues/keys.js';

/** Builds an actor's activation; `threadId` is the thread it had before passivation, if known. */
export type ActivationFactory = (
  identity: SessionIdentity,
  hints: { threadId?: string },
) => AssistantLLM;

export type StopMode = 'cancel' | 'finish';

export class SessionActor {
  readonly sid: string;
  private activation: AssistantLLM | null = null;
  private threadId: string | undefined;
  private lastItemId: string | null = null;
  private stopped = false;
  lastUsedAt = Date.now();

  constructor(
    readonly identity: SessionIdentity,
    private readonly create: ActivationFactory,
    private readonly onActivate: (llm: AssistantLLM) => void = () => undefined,
    private readonly onPassivate: (llm: AssistantLLM) => void = () => undefined,
    /** The thread this session had before, e.g. before its participant left and came back. */
    threadId?: string,
  ) {
    this.sid = sessionId(identity);
    this.threadId = threadId;
  }

  get state(): 'active' | 'passive' | 'stopped' {
    return this.stopped ? 'stopped' : this.activation ? 'active' : 'passive';
  }

  /** The live activation, created on demand. */
  activate(): AssistantLLM {
    if (this.stopped)
      throw new Error(`The session actor for ${this.identity.participant} has stopped.`);
    this.lastUsedAt = Date.now();
    if (!this.activation) {
      const llm = this.create(this.identity, this.threadId ? { threadId: this.threadId } : {});
      llm.chatState.lastItemId = this.lastItemId;
      this.activation = llm;
      this.onActivate(llm);
    }
    return this.activation;
  }

  get busy(): boolean {
    return this.activation?.busy ?? false;
  }

  get currentThreadId(): string | undefined {
    return this.activation?.threadId ?? this.threadId;
  }

  /** Closes an idle activation, keeping what the next one needs. Returns false if it was busy. */
  async passivate(): Promise<boolean> {
    const llm = this.activation;
    if (!llm || llm.busy) return false;
    this.threadId = llm.threadId ?? this.threadId;
    this.lastItemId = llm.chatState.lastItemId;
    this.activation = null;
    this.onPassivate(llm);
    await llm.aclose();
    return true;
  }

  /** Cancels the active run, if any; resolves once the thread is free. The actor stays. */
  async interrupt(): Promise<void> {
    await this.activation?.interrupt();
  }

  /** Stops the actor: its active run is cancelled, or allowed to finish, by `mode`. */
  async stop(mode: StopMode): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const llm = this.activation;
    this.activation = null;
    if (!llm) return;
    if (mode === 'finish') await llm.idle();
    this.threadId = llm.threadId ?? this.threadId;
    this.onPassivate(llm);
    await llm.aclose();
  }
}
