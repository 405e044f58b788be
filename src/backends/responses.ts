/**
 * The Responses + Conversations backend: the one place that reads ResponseStreamEvents. A thread
 * is a conversation, a run is a chain of background responses on it (one more per round of
 * function outputs), and the assistant's definition comes from options or a stored prompt.
 */
import OpenAI from 'openai';
import type {
  FunctionTool as ResponsesFunctionTool,
  ResponseCreateParamsStreaming,
  ResponseInputItem,
  ResponseOutputItem,
  ResponseStreamEvent,
  Tool as ResponsesTool,
} from 'openai/resources/responses/responses';
import type { RunEventBody, Usage } from '../events.js';
import type { BuiltInTool, FunctionToolCall, ToolCall } from '../tools.js';
import {
  BaseBackendRun,
  hasCode,
  TAG_KEY,
  sleep,
  withIdleTimeout,
  type Backend,
  type BackendRunOptions,
  type RunRequest,
} from './backend.js';

export interface StoredPromptRef {
  id: string;
  version?: string;
  variables?: Record<string, string>;
}

export interface ResponsesBackendOptions extends BackendRunOptions {
  client: OpenAI;
  /** Model for every response; may come from the stored prompt instead. */
  model?: string;
  /** The assistant's instructions; per-run additional instructions are appended. */
  instructions?: string;
  prompt?: StoredPromptRef;
  /** Vector stores searched by file_search (the Responses API needs them on the tool). */
  vectorStoreIds?: string[];
  /** How often a busy conversation (`conversation_locked`) is retried before the run fails. */
  lockedRetries?: number;
}

/** findStarted's answer when the request reached the server but its response id is unknown. */
const UNKNOWN_RESPONSE = 'unknown';

const INTERRUPTED_OUTPUT = 'Cancelled: the run was interrupted before this call was answered.';

export class ResponsesBackend implements Backend {
  readonly api = 'responses' as const;

  constructor(private readonly options: ResponsesBackendOptions) {}

  startRun(request: RunRequest): ResponsesRun {
    return new ResponsesRun(this.options, request);
  }

  /**
   * Responses cannot be listed by conversation, so this looks at the conversation's newest
   * user message: if it is this request's, the request reached the server.
   */
  async findStarted(conversationId: string, request: RunRequest): Promise<string | null> {
    const items = await this.options.client.conversations.items.list(conversationId, {
      order: 'desc',
      limit: 20,
    });
    const newestUser = items.data.find((item) => item.type === 'message' && item.role === 'user');
    if (!newestUser || newestUser.type !== 'message') return null;
    const text = newestUser.content.map((c) => ('text' in c ? c.text : '')).join('');
    return text === request.message ? UNKNOWN_RESPONSE : null;
  }

  async abandon(conversationId: string, responseId: string): Promise<void> {
    if (responseId === UNKNOWN_RESPONSE) return;
    const client = this.options.client;
    // A later response of the same run (after tool outputs) is not known here; it finishes on
    // its own and the next run waits out conversation_locked meanwhile.
    const response = await client.responses.retrieve(responseId);
    if (response.status === 'in_progress' || response.status === 'queued') {
      await client.responses.cancel(responseId).catch(() => undefined);
      return;
    }
    const calls = response.output.flatMap((item) =>
      item.type === 'function_call' ? [item.call_id] : [],
    );
    if (response.status === 'completed' && calls.length > 0) {
      const items = calls.map((id) => ({
        type: 'function_call_output' as const,
        call_id: id,
        output: INTERRUPTED_OUTPUT,
      }));
      // A 400 means they were answered already.
      await client.conversations.items.create(conversationId, { items }).catch(() => undefined);
    }
  }
}

class ResponsesRun extends BaseBackendRun {
  private conversationId: string | undefined;
  private firstResponseId: string | undefined;
  /** The response streaming now, or the one whose function calls wait for outputs. */
  private currentId: string | undefined;
  private lastSequence = -1;
  private unanswered: string[] = [];
  private currentKnown!: () => void;
  private currentKnownPromise = new Promise<void>((resolve) => (this.currentKnown = resolve));
  private readonly usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };

  constructor(
    private readonly config: ResponsesBackendOptions,
    private readonly request: RunRequest,
  ) {
    super(config.client, config);
    this.conversationId = request.threadId;
  }

  protected async *run(): AsyncGenerator<RunEventBody> {
    try {
      if (!this.conversationId) {
        const conversation = await this.client.conversations.create(
          {},
          { signal: this.abort.signal },
        );
        this.conversationId = conversation.id;
        yield { type: 'thread.created', threadId: conversation.id };
      }
      let input: ResponseInputItem[] = [{ role: 'user', content: this.request.message }];
      while (true) {
        const calls: FunctionToolCall[] = [];
        let outcome: RunEventBody | null = null;
        for await (const event of this.streamResponse(input)) {
          for (const out of this.translate(event, calls)) {
            if (out.type === 'run.failed' || out.type === 'run.completed') outcome = out;
            else yield out;
          }
          if (outcome) break;
        }
        if (this.cancelRequested)
          return yield { type: 'run.cancelled', runId: this.firstResponseId };
        if (!outcome) {
          // No stream event says a response was cancelled (someone else cancelled it): its
          // stream just ends, so ask for its status before calling this a broken stream.
          if (this.currentId && (await this.statusOf(this.currentId)) === 'cancelled')
            return yield { type: 'run.cancelled', runId: this.firstResponseId };
          throw new Error('The stream ended before the response did.');
        }
        if (outcome.type === 'run.failed' || calls.length === 0) {
          return yield outcome.type === 'run.completed'
            ? { ...outcome, usage: { ...this.usage } }
            : outcome;
        }
        this.unanswered = calls.map((c) => c.id);
        yield { type: 'tool_outputs.required', runId: this.firstResponseId!, toolCalls: calls };
        const outputs = await this.waitForOutputs();
        if (outputs === null) return yield { type: 'run.cancelled', runId: this.firstResponseId };
        if (outputs === 'timeout') {
          await this.cancelUpstream().catch(() => undefined);
          return yield {
            type: 'run.failed',
            runId: this.firstResponseId,
            kind: 'failed',
            code: 'tool_output_timeout',
            message: `No tool outputs arrived within ${this.config.toolOutputTimeoutMs} ms; the run was cancelled.`,
          };
        }
        this.unanswered = [];
        input = outputs.map((o) => ({
          type: 'function_call_output',
          call_id: o.toolCallId,
          output: o.output,
        }));
      }
    } catch (error) {
      if (this.cancelRequested) return yield { type: 'run.cancelled', runId: this.firstResponseId };
      const failed = this.failure(error, this.currentId ?? this.firstResponseId);
      // Before the terminal event: a reader stops iterating once it has it.
      if (this.currentId) await this.cancelUpstream().catch(() => undefined);
      yield failed;
    } finally {
      this.currentKnown();
    }
  }

  /**
   * Creates one background response and streams it; a dropped stream is resumed from the last
   * sequence number, and a busy conversation is retried.
   */
  private async *streamResponse(input: ResponseInputItem[]): AsyncGenerator<ResponseStreamEvent> {
    const params = this.params(input);
    let stream: AsyncIterable<ResponseStreamEvent> | null = null;
    for (let attempt = 0; stream === null; attempt++) {
      try {
        stream = await this.client.responses.create(params, { signal: this.abort.signal });
      } catch (error) {
        if (!hasCode(error, 'conversation_locked') || attempt >= (this.config.lockedRetries ?? 20))
          throw error;
        await sleep(Math.min(25 * 2 ** attempt, 1_000));
      }
    }
    this.currentId = undefined;
    this.lastSequence = -1;
    for (let resumes = 0; ; resumes++) {
      try {
        for await (const event of withIdleTimeout(
          stream,
          this.config.streamIdleTimeoutMs,
          () => undefined,
        )) {
          this.lastSequence = event.sequence_number;
          yield event;
        }
        return;
      } catch (error) {
        const resumable =
          this.currentId && !this.cancelRequested && resumes < 3 && isNetworkError(error);
        if (!resumable) throw error;
        stream = await this.client.responses.retrieve(
          this.currentId!,
          { stream: true, starting_after: this.lastSequence },
          { signal: this.abort.signal },
        );
      }
    }
  }

  /** The response's status, or null when it cannot be read. */
  private async statusOf(id: string): Promise<string | null> {
    try {
      return (
        (await this.client.responses.retrieve(id, {}, { signal: this.abort.signal })).status ?? null
      );
    } catch {
      return null;
    }
  }

  private params(input: ResponseInputItem[]): ResponseCreateParamsStreaming {
    const c = this.config;
    const instructions = [c.instructions, this.request.additionalInstructions]
      .filter(Boolean)
      .join('\n');
    const tools = (this.request.tools ?? []).map((t) => toResponsesTool(t, c.vectorStoreIds ?? []));
    return {
      ...(c.model ? { model: c.model } : {}),
      ...(c.prompt ? { prompt: c.prompt } : {}),
      ...(instructions ? { instructions } : {}),
      ...(tools.length > 0 ? { tools } : {}),
      conversation: this.conversationId!,
      input,
      stream: true,
      background: true,
      ...(this.request.tag ? { metadata: { [TAG_KEY]: this.request.tag } } : {}),
      store: true,
    };
  }

  /** Maps one ResponseStreamEvent to run events; function calls are collected into `calls`. */
  private translate(event: ResponseStreamEvent, calls: FunctionToolCall[]): RunEventBody[] {
    switch (event.type) {
      case 'response.created': {
        this.currentId = event.response.id;
        this.currentKnown();
        if (this.cancelRequested) void this.cancelUpstream();
        if (this.firstResponseId) return [];
        this.firstResponseId = event.response.id;
        return [{ type: 'run.started', runId: event.response.id, threadId: this.conversationId! }];
      }
      case 'response.output_text.delta':
        return event.delta ? [{ type: 'text.delta', text: event.delta }] : [];
      case 'response.output_item.done': {
        const toolCall = fromOutputItem(event.item);
        if (!toolCall) return [];
        if (toolCall.type === 'function') calls.push(toolCall);
        return [{ type: 'tool_call.created', toolCall }];
      }
      case 'response.completed': {
        const usage = event.response.usage;
        if (usage) {
          this.usage.promptTokens += usage.input_tokens;
          this.usage.completionTokens += usage.output_tokens;
          this.usage.totalTokens += usage.total_tokens;
        }
        return [{ type: 'run.completed', runId: this.firstResponseId! }];
      }
      case 'response.failed': {
        const error = event.response.error;
        return [
          {
            type: 'run.failed',
            runId: event.response.id,
            kind: 'failed',
            code: error?.code ?? 'server_error',
            message: error?.message ?? 'The response failed.',
          },
        ];
      }
      case 'response.incomplete': {
        const reason = event.response.incomplete_details?.reason ?? 'incomplete';
        return [
          {
            type: 'run.failed',
            runId: event.response.id,
            kind: 'incomplete',
            code: reason,
            message: `The response ended incomplete: ${reason}.`,
          },
        ];
      }
      case 'error':
        return [
          {
            type: 'run.failed',
            runId: this.currentId,
            kind: 'failed',
            code: event.code ?? 'server_error',
            message: event.message,
          },
        ];
      default:
        return [];
    }
  }

  /**
   * Cancels the background response in flight, or answers function calls that wait for outputs
   * so that the conversation accepts the next input.
   */
  protected async cancelUpstream(): Promise<void> {
    const conversationId = this.conversationId;
    if (this.unanswered.length > 0 && conversationId) {
      const items = this.unanswered.map((id) => ({
        type: 'function_call_output' as const,
        call_id: id,
        output: INTERRUPTED_OUTPUT,
      }));
      this.unanswered = [];
      await this.client.conversations.items.create(conversationId, { items });
      return;
    }
    await this.currentKnownPromise;
    const id = this.currentId;
    if (!id) return;
    this.abort.abort();
    try {
      await this.client.responses.cancel(id);
    } catch (error) {
      // 400 once the response is no longer in progress: nothing to cancel.
      if (!(error instanceof OpenAI.BadRequestError)) throw error;
    }
  }
}

function fromOutputItem(item: ResponseOutputItem): ToolCall | null {
  switch (item.type) {
    case 'function_call':
      return {
        id: item.call_id,
        type: 'function',
        function: { name: item.name, arguments: item.arguments },
      };
    case 'code_interpreter_call':
      return {
        id: item.id,
        type: 'code_interpreter',
        code_interpreter: {
          input: item.code ?? '',
          outputs: (item.outputs ?? []).flatMap((o) =>
            o.type === 'logs' ? [{ type: 'logs' as const, logs: o.logs }] : [],
          ),
        },
      };
    case 'file_search_call':
      return {
        id: item.id,
        type: 'file_search',
        file_search: {
          queries: item.queries,
          results: (item.results ?? []).map((r) => ({
            file_id: r.file_id ?? '',
            file_name: r.filename ?? '',
            score: r.score ?? 0,
            text: r.text,
          })),
        },
      };
    default:
      return null;
  }
}

/** Maps the seed's tool shapes to the Responses API's. */
export function toResponsesTool(tool: BuiltInTool, vectorStoreIds: string[]): ResponsesTool {
  switch (tool.type) {
    case 'function': {
      const fn: ResponsesFunctionTool = {
        type: 'function',
        name: tool.function.name,
        parameters: (tool.function.parameters as Record<string, unknown> | undefined) ?? {
          type: 'object',
          properties: {},
        },
        strict: tool.function.strict ?? false,
      };
      if (tool.function.description !== undefined) fn.description = tool.function.description;
      return fn;
    }
    case 'code_interpreter':
      return { type: 'code_interpreter', container: { type: 'auto' } };
    case 'file_search': {
      const options = tool.file_search ?? {};
      const ranking = options.ranking_options;
      return {
        type: 'file_search',
        vector_store_ids: vectorStoreIds,
        ...(options.max_num_results !== undefined
          ? { max_num_results: options.max_num_results }
          : {}),
        ...(ranking
          ? {
              ranking_options: {
                ranker: 'auto',
                ...(ranking.score_threshold !== undefined
                  ? { score_threshold: ranking.score_threshold }
                  : {}),
                // 'semantic' and 'lexical' pick one side of hybrid search; 'auto' keeps the default blend.
                ...(ranking.ranker === 'semantic'
                  ? { hybrid_search: { embedding_weight: 1, text_weight: 0 } }
                  : ranking.ranker === 'lexical'
                    ? { hybrid_search: { embedding_weight: 0, text_weight: 1 } }
                    : {}),
              },
            }
          : {}),
      };
    }
  }
}

function isNetworkError(error: unknown): boolean {
  if (error instanceof OpenAI.APIError && !(error instanceof OpenAI.APIConnectionError))
    return false;
  return error instanceof Error && !(error instanceof OpenAI.APIUserAbortError);
}
