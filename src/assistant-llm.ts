/**
 * AssistantLLM: the seed's API (process / interrupt / onToolCallCreated) over one session's run
 * queue, and a real `llm.LLM` of @livekit/agents whose chat() streams go through the same queue.
 */
import { DEFAULT_API_CONNECT_OPTIONS, llm, type APIConnectOptions } from '@livekit/agents';
import { exposeChatHost, type ChatHost } from './chat-session.js';
import { AssistantError, ConfigError, InterruptionError, runErrorOf } from './errors.js';
import type { RunEvent } from './events.js';
import { cancelledUpstream } from './failures.js';
import { assertFleetInstalled, DeferredFleetTransport } from './fleet-mode.js';
import { AssistantLLMStream } from './livekit-stream.js';
import { oversizedMessage, resolveOptions, type AssistantOptions } from './options.js';
import { RunQueue, type QueuedRun } from './run-queue.js';
import { answerFunctionCalls, reportToolCall } from './tool-dispatch.js';
import { validateTools, type BuiltInTool, type ToolCallHandler } from './tools.js';
import { InMemoryTransport, type RunTransport } from './transport.js';
import { unlessAborted } from './util/abortable.js';
import { AsyncQueue } from './util/async-queue.js';

/** The text of one process() call, streamed; iterate it once. */
export interface AssistantResponse extends AsyncIterable<string> {
  /** The run's id once it started. */
  readonly runId: string | undefined;
}

/**
 * An OpenAI assistant with its own thread (Assistants API) or conversation (Responses API):
 * process() streams a reply to one message, and as an `llm.LLM` it drives a LiveKit
 * AgentSession. Runs of one instance are queued, one at a time, on its thread.
 */
export class AssistantLLM extends llm.LLM {
  /**
   * Called for every tool call. For a function call, the return value is the output (JSON-encoded
   * unless a string); code_interpreter and file_search calls are reported only.
   */
  onToolCallCreated: ToolCallHandler | undefined;

  readonly #api: 'assistants' | 'responses';
  readonly #model: string;
  readonly #transport: RunTransport;
  readonly #queue: RunQueue;
  /** What chat() streams and the session actor use; see chat-session.ts. */
  readonly #host: ChatHost;
  #threadId: string | undefined;

  static {
    exposeChatHost((instance) => instance.#host);
  }

  /**
   * Validates `options` at once (a ConfigError names the field that is wrong). Nothing is sent
   * until the first run; fleet mode (`transport: { redis }`) loads the fleet's code then.
   */
  constructor(options: AssistantOptions) {
    super();
    const resolved = resolveOptions(options);
    this.#api = resolved.api;
    this.#model = resolved.model;
    this.#threadId = resolved.threadId;
    const logger = resolved.logger;
    const transport = resolved.transport;
    if (transport !== undefined && !('startRun' in transport)) assertFleetInstalled();
    this.#transport =
      transport === undefined
        ? new InMemoryTransport(resolved.client(), logger)
        : 'startRun' in transport
          ? transport
          : new DeferredFleetTransport({ logger, ...transport });
    const backend = resolved.backendConfig;
    this.#queue = new RunQueue(
      (request) => this.#transport.startRun(request, backend),
      (event) => this.#observe(event),
      logger,
    );
    const defaultTools = resolved.tools;
    this.#host = {
      chatState: { pending: null, lastItemId: null },
      dispatch: {
        handler: () => this.onToolCallCreated,
        logger,
        maxOutputBytes: resolved.maxToolOutputBytes,
      },
      logger,
      defaultTools,
      enqueueRun: (message, runOptions) => {
        // Default tools are sent with every run, so they override what the assistant has stored.
        const tools = runOptions.tools ?? (defaultTools.length > 0 ? defaultTools : undefined);
        return this.#queue.enqueue(
          () => ({
            threadId: this.#threadId,
            message,
            ...(runOptions.additionalInstructions
              ? { additionalInstructions: runOptions.additionalInstructions }
              : {}),
            ...(tools ? { tools } : {}),
          }),
          { interrupt: runOptions.interrupt },
        );
      },
    };
  }

  /** The thread (Assistants) or conversation (Responses) id, once known. */
  get threadId(): string | undefined {
    return this.#threadId;
  }

  /** True while a run is active or queued, or a run waits for the AgentSession's tool outputs. */
  get busy(): boolean {
    return (
      this.#queue.active !== null ||
      this.#queue.waiting > 0 ||
      this.#host.chatState.pending !== null
    );
  }

  /** Resolves once every run queued so far has ended. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Which OpenAI protocol this instance speaks. */
  get api(): 'assistants' | 'responses' {
    return this.#api;
  }

  /** `assistant.assistants` or `assistant.responses`: how LiveKit's metrics name this LLM. */
  label(): string {
    return `assistant.${this.#api}`;
  }

  /** The assistant id (Assistants API) or the model (Responses API; 'prompt' when a stored prompt sets it). */
  override get model(): string {
    return this.#model;
  }

  /** Always 'openai'. */
  override get provider(): string {
    return 'openai';
  }

  #observe(event: RunEvent): void {
    if (event.type === 'thread.created' || event.type === 'run.started') {
      this.#threadId = event.threadId;
    }
  }

  /**
   * Sends `message` to the thread and streams the reply. Calls on one instance run one at a
   * time in call order; with `allowInterruption` the active run is cancelled first (its caller
   * gets InterruptionError).
   */
  process(
    message: string,
    allowInterruption = false,
    additionalInstructions?: string,
    runTools?: BuiltInTool[],
  ): AssistantResponse {
    if (typeof message !== 'string' || message.trim() === '') {
      throw new ConfigError(
        'message',
        `expected a non-empty string, got ${JSON.stringify(message)}`,
      );
    }
    const oversized = oversizedMessage(message);
    if (oversized) throw new ConfigError('message', oversized);
    if (additionalInstructions !== undefined && typeof additionalInstructions !== 'string') {
      throw new ConfigError('additionalInstructions', 'expected a string');
    }
    const tools = runTools === undefined ? undefined : validateTools(runTools, 'runTools');
    const run = this.#host.enqueueRun(message, {
      interrupt: allowInterruption,
      ...(additionalInstructions ? { additionalInstructions } : {}),
      ...(tools ? { tools } : {}),
    });
    const chunks = new AsyncQueue<string>();
    // drive() never rejects: every error ends the caller's stream.
    void this.#drive(run, chunks);
    return {
      [Symbol.asyncIterator]: () => chunks[Symbol.asyncIterator](),
      get runId() {
        return run.runId;
      },
    };
  }

  /** Consumes one run's events for process(): text out, tool calls answered, errors typed. */
  async #drive(run: QueuedRun, chunks: AsyncQueue<string>): Promise<void> {
    try {
      for await (const event of run) {
        switch (event.type) {
          case 'text.delta':
            chunks.push(event.text);
            break;
          case 'tool_call.created':
            if (event.toolCall.type !== 'function')
              reportToolCall(event.toolCall, this.#host.dispatch);
            break;
          case 'tool_outputs.required': {
            // An interrupt must not wait for a slow handler: the run's cancel ends this wait.
            const outputs = await unlessAborted(
              answerFunctionCalls(event.toolCalls, this.#host.dispatch),
              run.signal,
              null,
            );
            if (outputs) await run.submitToolOutputs(outputs);
            break;
          }
          case 'run.completed':
            chunks.end();
            return;
          case 'run.failed':
            chunks.fail(runErrorOf(event));
            return;
          case 'run.cancelled':
            chunks.fail(
              run.isCancelled
                ? new InterruptionError(
                    run.cancelReason === 'superseded'
                      ? 'The run was interrupted by a newer message'
                      : 'The run was interrupted',
                    event.runId,
                  )
                : runErrorOf(cancelledUpstream(event.runId)),
            );
            return;
        }
      }
      chunks.fail(new AssistantError('The run ended without a final event'));
    } catch (error) {
      chunks.fail(
        error instanceof AssistantError
          ? error
          : new AssistantError(String((error as Error)?.message ?? error), { cause: error }),
      );
    }
  }

  /**
   * Interrupts the active run: its stream stops at once with InterruptionError and the run is
   * cancelled upstream. Resolves once the thread takes the next run.
   */
  async interrupt(): Promise<void> {
    const state = this.#host.chatState;
    const pending = state.pending;
    state.pending = null;
    await Promise.all([this.#queue.interruptActive(), pending?.run.cancel('interrupted')]);
  }

  /** A LiveKit LLMStream for an AgentSession: sends what is new in `chatCtx` as one run. */
  chat({
    chatCtx,
    toolCtx,
    connOptions = DEFAULT_API_CONNECT_OPTIONS,
  }: {
    chatCtx: llm.ChatContext;
    toolCtx?: llm.ToolContextLike;
    connOptions?: APIConnectOptions;
    parallelToolCalls?: boolean;
    toolChoice?: llm.ToolChoice;
    extraKwargs?: Record<string, unknown>;
  }): AssistantLLMStream {
    return new AssistantLLMStream(this, { chatCtx, toolCtx, connOptions });
  }

  /** Cancels what runs and releases the transport. */
  override async aclose(): Promise<void> {
    await this.#queue.close();
    await this.#transport.close();
  }
}
