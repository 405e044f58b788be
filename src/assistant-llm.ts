/**
 * AssistantLLM: the seed's API (process / interrupt / onToolCallCreated) over one session's run
 * queue, and a real `llm.LLM` of @livekit/agents whose chat() streams go through the same queue.
 */
import { DEFAULT_API_CONNECT_OPTIONS, llm, type APIConnectOptions } from '@livekit/agents';
import type { ChatHost, ChatState } from './chat-session.js';
import { AssistantError, ConfigError, InterruptionError, runErrorOf } from './errors.js';
import type { RunEvent } from './events.js';
import { cancelledUpstream } from './failures.js';
import { AssistantLLMStream } from './livekit-stream.js';
import {
  oversizedMessage,
  resolveOptions,
  type AssistantOptions,
  type ResolvedOptions,
} from './options.js';
import { RunQueue, type QueuedRun } from './run-queue.js';
import { answerFunctionCalls, reportToolCall, type ToolDispatchOptions } from './tool-dispatch.js';
import { validateTools, type BuiltInTool, type ToolCallHandler } from './tools.js';
import { InMemoryTransport, type RunTransport } from './transport.js';
import { unlessAborted } from './util/abortable.js';
import { AsyncQueue } from './util/async-queue.js';
import { RedisTransport } from '../queues/redis-transport.js';

/** The text of one process() call, streamed; iterate it once. */
export interface AssistantResponse extends AsyncIterable<string> {
  /** The run's id once it started. */
  readonly runId: string | undefined;
}

export class AssistantLLM extends llm.LLM implements ChatHost {
  /**
   * Called for every tool call. For a function call, the return value is the output (JSON-encoded
   * unless a string); code_interpreter and file_search calls are reported only.
   */
  onToolCallCreated: ToolCallHandler | undefined;

  private readonly options: ResolvedOptions;
  private readonly transport: RunTransport;
  private readonly queue: RunQueue;
  private currentThreadId: string | undefined;
  /** @internal State of the LiveKit chat() path. */
  readonly chatState: ChatState = { pending: null, lastItemId: null };
  /** @internal */
  readonly dispatch: ToolDispatchOptions;

  constructor(options: AssistantOptions) {
    super();
    this.options = resolveOptions(options);
    this.currentThreadId = this.options.threadId;
    const transport = this.options.transport;
    this.transport =
      transport === undefined
        ? new InMemoryTransport(this.options.client(), this.options.logger)
        : 'startRun' in transport
          ? transport
          : new RedisTransport(transport);
    const backend = this.options.backendConfig;
    this.queue = new RunQueue(
      (request) => this.transport.startRun(request, backend),
      (event) => this.observe(event),
      this.options.logger,
    );
    this.dispatch = {
      handler: () => this.onToolCallCreated,
      logger: this.options.logger,
      maxOutputBytes: this.options.maxToolOutputBytes,
    };
  }

  /** The thread (Assistants) or conversation (Responses) id, once known. */
  get threadId(): string | undefined {
    return this.currentThreadId;
  }

  /** True while a run is active or queued, or a run waits for the AgentSession's tool outputs. */
  get busy(): boolean {
    return this.queue.active !== null || this.queue.waiting > 0 || this.chatState.pending !== null;
  }

  /** Resolves once every run queued so far has ended. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Which OpenAI protocol this instance speaks. */
  get api(): 'assistants' | 'responses' {
    return this.options.api;
  }

  label(): string {
    return `assistant.${this.options.api}`;
  }

  override get model(): string {
    return this.options.model;
  }

  override get provider(): string {
    return 'openai';
  }

  /** @internal Default tools, used when a run brings none. */
  get defaultTools(): BuiltInTool[] {
    return this.options.tools;
  }

  /** @internal */
  get logger(): ResolvedOptions['logger'] {
    return this.options.logger;
  }

  private observe(event: RunEvent): void {
    if (event.type === 'thread.created' || event.type === 'run.started') {
      this.currentThreadId = event.threadId;
    }
  }

  /** @internal Queues a run on this session's thread. */
  enqueueRun(
    message: string,
    options: { interrupt: boolean; additionalInstructions?: string; tools?: BuiltInTool[] },
  ): QueuedRun {
    // Default tools are sent with every run, so they override what the assistant has stored.
    const tools = options.tools ?? (this.options.tools.length > 0 ? this.options.tools : undefined);
    return this.queue.enqueue(
      () => ({
        threadId: this.currentThreadId,
        message,
        ...(options.additionalInstructions
          ? { additionalInstructions: options.additionalInstructions }
          : {}),
        ...(tools ? { tools } : {}),
      }),
      { interrupt: options.interrupt },
    );
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
    const run = this.enqueueRun(message, {
      interrupt: allowInterruption,
      ...(additionalInstructions ? { additionalInstructions } : {}),
      ...(tools ? { tools } : {}),
    });
    const chunks = new AsyncQueue<string>();
    // drive() never rejects: every error ends the caller's stream.
    void this.drive(run, chunks);
    return {
      [Symbol.asyncIterator]: () => chunks[Symbol.asyncIterator](),
      get runId() {
        return run.runId;
      },
    };
  }

  /** Consumes one run's events for process(): text out, tool calls answered, errors typed. */
  private async drive(run: QueuedRun, chunks: AsyncQueue<string>): Promise<void> {
    try {
      for await (const event of run) {
        switch (event.type) {
          case 'text.delta':
            chunks.push(event.text);
            break;
          case 'tool_call.created':
            if (event.toolCall.type !== 'function') reportToolCall(event.toolCall, this.dispatch);
            break;
          case 'tool_outputs.required': {
            // An interrupt must not wait for a slow handler: the run's cancel ends this wait.
            const outputs = await unlessAborted(
              answerFunctionCalls(event.toolCalls, this.dispatch),
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
    const pending = this.chatState.pending;
    this.chatState.pending = null;
    await Promise.all([this.queue.interruptActive(), pending?.run.cancel('interrupted')]);
  }

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
    await this.queue.close();
    await this.transport.close();
  }
}
