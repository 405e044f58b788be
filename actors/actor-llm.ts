/**
 * The `llm.LLM` an AgentSession holds for a participant. It forwards to the actor's current
 * activation, so the actor can be passivated and reactivated under a session that never notices.
 */
import { DEFAULT_API_CONNECT_OPTIONS, llm, type LLMMetrics } from '@livekit/agents';
import type { AssistantLLM } from '../src/assistant-llm.js';
import type { SessionActor } from './session-actor.js';

/** The framework's llm 'error' event payload. */
type ErrorEvent = Parameters<llm.LLMCallbacks['error']>[0];

/** The `llm.LLM` an AgentSession holds for a participant; it forwards to the actor's activation. */
export class ActorLLM extends llm.LLM {
  readonly #actor: SessionActor;

  constructor(actor: SessionActor) {
    super();
    this.#actor = actor;
  }

  label(): string {
    return 'assistant.actor';
  }

  override get model(): string {
    return 'assistant';
  }

  override get provider(): string {
    return 'openai';
  }

  chat(options: Parameters<AssistantLLM['chat']>[0]): llm.LLMStream {
    return this.#actor.activate().chat({ connOptions: DEFAULT_API_CONNECT_OPTIONS, ...options });
  }

  /** Re-emits an activation's metrics and errors here, where the AgentSession listens. */
  forward(activation: AssistantLLM): () => void {
    const metrics = (m: LLMMetrics) => this.emit('metrics_collected', m);
    const error = (e: ErrorEvent) => this.emit('error', e);
    activation.on('metrics_collected', metrics);
    activation.on('error', error);
    return () => {
      activation.off('metrics_collected', metrics);
      activation.off('error', error);
    };
  }
}
