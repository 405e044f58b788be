/**
 * The Responses + Conversations backend: the one place that reads ResponseStreamEvents. A thread
 * is a conversation, a run is a chain of responses on it (one more per round of function
 * outputs), and the assistant's definition comes from options (or a stored prompt, where a
 * server still serves them).
 *
 * Two streaming modes. Background responses (`background: true`) go on server-side whatever
 * happens to the connection: a dropped stream is resumed by sequence number, and a cancel is a
 * request to the API. Plain streamed responses (`background: false`) start sooner and keep no
 * data for polling (zero data retention), but live only as long as their connection: closing
 * the stream is how they are cancelled, and a dropped stream ends them.
 */
import OpenAI from 'openai';
import type { Stream } from 'openai/core/streaming';
import type { ConversationItem } from 'openai/resources/conversations/items';
import type {
  FunctionTool as ResponsesFunctionTool,
  ResponseCreateParamsStreaming,
  ResponseInputItem,
  ResponseOutputItem,
  ResponseStreamEvent,
  Tool as ResponsesTool,
} from 'openai/resources/responses/responses';
import type { RunEventBody, ToolOutput, Usage } from '../events.js';
import { conversationSafetyIdentifier } from '../identifiers.js';
import {
  messageOf,
  StreamIdleError,
  upstreamFailed,
  upstreamIncomplete,
  workerLost,
} from '../failures.js';
import type { Logger } from '../logger.js';
import type { BuiltInTool, FunctionToolCall, ToolCall } from '../tools.js';
import {
  hasCode,
  TAG_KEY,
  sleep,
  type Backend,
  type BackendRun,
  type RunCheckpoint,
  type RunHooks,
  type RunRequest,
} from './backend.js';
import { RunLoop, withLogger, type BackendOptions } from './run-loop.js';

/** A prompt stored in the OpenAI dashboard, with its version and variables. */
export interface StoredPromptRef {
  id: string;
  version?: string;
  variables?: Record<string, string>;
}

/** What the Responses backend needs: a client, the model, instructions or stored prompt, and the run limits. */
export interface ResponsesBackendOptions extends BackendOptions {
  /** Model for every response; may come from the stored prompt instead. */
  model?: string;
  /** The assistant's instructions; per-run additional instructions are appended. */
  instructions?: string;
  prompt?: StoredPromptRef;
  /** Vector stores searched by file_search (the Responses API needs them on the tool). */
  vectorStoreIds?: string[];
  /** How often a busy conversation (`conversation_locked`) is retried before the run fails. */
  lockedRetries?: number;
  /**
   * Background mode: server-side cancel and resumable streams, at the cost of a later first
   * token and of response data kept for polling. Default false: plain streamed responses.
   */
  background?: boolean;
  /** Sent as `safety_identifier` on every response (at most 64 characters). */
  safetyIdentifier?: string;
  /** Without `safetyIdentifier`: send a digest of the conversation id as the safety identifier. */
  safetyIdentifierFromConversation?: boolean;
  /** Sent as `prompt_cache_key` on every response (at most 64 characters). */
  promptCacheKey?: string;
  /**
   * Server-side compaction: once a response's input passes this many tokens, the API compacts
   * the conversation (`context_management`) before it answers. At least 1 000. Default: none.
   */
  compactThreshold?: number;
}

type RunConfig = ResponsesBackendOptions & { logger: Logger };

/**
 * The end of a response followed through its conversation (its id unknown, see
 * #followConversation): `output` says whether it left any output there.
 */
interface FollowedEnd {
  type: 'followed.end';
  output: boolean;
}

/** What a run reads: a response's stream events, or what following one through its conversation tells. */
type Streamed = ResponseStreamEvent | FollowedEnd;

/** How often a response followed through its conversation is looked at, at most. */
const FOLLOW_POLL_MS = 250;

const INTERRUPTED_OUTPUT = 'Cancelled: the run was interrupted before this call was answered.';

/** The Responses + Conversations backend: a conversation per session, a background response per run. */
export class ResponsesBackend implements Backend {
  readonly api = 'responses' as const;
  readonly #options: RunConfig;

  constructor(options: ResponsesBackendOptions) {
    this.#options = withLogger(options);
  }

  /** Only a background response outlives the process streaming it. */
  get resumable(): boolean {
    return this.#options.background === true;
  }

  startRun(request: RunRequest, hooks?: RunHooks): BackendRun {
    return new ResponsesRun(this.#options, request, hooks);
  }

  resumeRun(request: RunRequest, checkpoint: RunCheckpoint, hooks?: RunHooks): BackendRun {
    if (!this.resumable) throw new Error('Only background responses can be resumed.');
    return new ResponsesRun(this.#options, request, hooks, checkpoint);
  }

  /**
   * Responses cannot be listed by conversation, so this looks at the conversation's newest
   * user message: if it is this request's, the request reached the server, and its response
   * (whose id is unknown) puts its output after that message.
   */
  async findStarted(conversationId: string, request: RunRequest): Promise<RunCheckpoint | null> {
    const item = await requestItem(
      this.#options.client,
      conversationId,
      request.message,
      request.after,
    );
    return item ? { threadId: conversationId, afterItemId: item, segment: 0, textOffset: 0 } : null;
  }

  async abandon(conversationId: string, responseId: string): Promise<void> {
    const client = this.#options.client;
    // A later response of the same run (after tool outputs) is not known here; it finishes on
    // its own and the next run waits out conversation_locked meanwhile.
    const response = await client.responses.retrieve(responseId);
    if (response.status === 'in_progress' || response.status === 'queued') {
      // A plain streamed response ended with the connection of the process that was lost.
      return response.background ? cancelResponse(client, responseId) : undefined;
    }
    const calls = response.output.flatMap((item) => {
      const call = fromOutputItem(item);
      return call?.type === 'function' ? [call.id] : [];
    });
    if (response.status === 'completed') await answerInterrupted(client, conversationId, calls);
  }
}

/**
 * One run over the Responses API: a chain of responses on a conversation, one more per round of
 * function outputs.
 */
class ResponsesRun extends RunLoop<Streamed> {
  readonly #config: RunConfig;
  readonly #request: RunRequest;
  #firstResponseId: string | undefined;
  /** The response streaming now, or the one whose function calls wait for outputs. */
  #currentId: string | undefined;
  #lastSequence = -1;
  /** Function calls of the current response, reported as `tool_outputs.required` when it completes. */
  #calls: FunctionToolCall[] = [];
  /** Calls that wait for outputs: a cancel answers them, so the conversation takes new input. */
  #unanswered: string[] = [];
  #markCurrentKnown!: () => void;
  readonly #currentKnown = new Promise<void>((resolve) => (this.#markCurrentKnown = resolve));
  readonly #usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  /** Resumed from a checkpoint, and no tool outputs sent since. */
  #resumed: boolean;
  /** A lost attempt of this run came first: what this one sends, it may have sent. */
  readonly #takenOver: boolean;
  #lastItemId: string | undefined;

  constructor(
    config: RunConfig,
    request: RunRequest,
    hooks?: RunHooks,
    resumeFrom?: RunCheckpoint,
  ) {
    super(config, request.threadId, hooks, resumeFrom);
    this.#config = config;
    this.#request = request;
    this.#resumed = resumeFrom !== undefined;
    this.#takenOver = this.#resumed || request.lostAttempt === true;
  }

  protected get runId(): string | undefined {
    return this.#firstResponseId;
  }

  override get lastItemId(): string | undefined {
    return this.#lastItemId;
  }

  protected override get inFlight(): string | undefined {
    return this.#currentId;
  }

  protected async createThread(): Promise<string> {
    return (await this.client.conversations.create({}, { signal: this.abort.signal })).id;
  }

  protected async open(): Promise<AsyncIterable<Streamed>> {
    return this.#streamResponse([{ role: 'user', content: this.#request.message }]);
  }

  /**
   * Streams the checkpoint's response again from its first event: a background response keeps
   * its events, so the replay is what the lost process saw, followed by what it did not. A
   * response whose id the lost process never learnt is followed through the conversation.
   */
  protected async reopen(checkpoint: RunCheckpoint): Promise<AsyncIterable<Streamed>> {
    const { upstreamId, afterItemId } = checkpoint;
    if (!upstreamId) {
      if (!afterItemId) throw new Error('This checkpoint names neither a response nor an item.');
      return this.#followConversation(afterItemId);
    }
    // A later response of the run: its first response (the run's id) is not known here.
    if (checkpoint.segment > 0) this.#firstResponseId = upstreamId;
    this.#currentId = upstreamId;
    const stream = await this.client.responses.retrieve(
      upstreamId,
      { stream: true },
      { signal: this.abort.signal },
    );
    return this.#follow(stream);
  }

  protected async continueWith(outputs: ToolOutput[]): Promise<AsyncIterable<Streamed>> {
    this.#unanswered = [];
    const input: ResponseInputItem[] = outputs.map((o) => ({
      type: 'function_call_output',
      call_id: o.toolCallId,
      output: o.output,
    }));
    if (this.#resumed) {
      this.#resumed = false;
      // The lost process may have sent these outputs and died before the next response's first
      // event: sending them again would put them in the conversation twice.
      const sent = await this.#sentElsewhere(input);
      if (sent) return this.#adopt(sent);
    }
    return this.#streamResponse(input);
  }

  /** Follows the response a lost attempt's request started, `sent` being its last item. */
  #adopt(sent: string): AsyncGenerator<Streamed> {
    this.logger.info('the request was sent by the lost attempt; following its response', {
      conversationId: this.threadId,
    });
    this.checkpointAt({ afterItemId: sent });
    return this.#followConversation(sent);
  }

  /** The item a lost attempt's sending of `input` added to the conversation, if it did. */
  async #sentElsewhere(input: ResponseInputItem[]): Promise<string | null> {
    const callIds = input.flatMap((i) => (i.type === 'function_call_output' ? [i.call_id] : []));
    if (callIds.length > 0) return this.#outputsSent(callIds);
    if (!this.#request.lostAttempt) return null;
    return requestItem(this.client, this.threadId!, this.#request.message, this.#request.after);
  }

  /**
   * The newest conversation item that answers one of `callIds`, if any does: looked for from
   * the newest item back to the calls themselves, however much the response they started added.
   */
  async #outputsSent(callIds: string[]): Promise<string | null> {
    for await (const item of this.client.conversations.items.list(
      this.threadId!,
      { order: 'desc', limit: 20 },
      { signal: this.abort.signal },
    )) {
      if (item.type === 'function_call_output' && callIds.includes(item.call_id)) return item.id!;
      if (item.type === 'function_call' && callIds.includes(item.call_id)) return null;
    }
    return null;
  }

  /**
   * Follows a response whose id is unknown (a process was lost between sending its request and
   * reading its first event) through its conversation, since it cannot be streamed again: its
   * output items join the conversation after `afterItemId` as each is done, so text arrives a
   * message at a time. The response is over once the conversation takes writes again, which an
   * empty write tells (`conversation_locked` while a response is in progress).
   */
  async *#followConversation(afterItemId: string): AsyncGenerator<Streamed> {
    const conversationId = this.threadId!;
    const signal = this.abort.signal;
    const told = new Set<string>();
    this.#currentId = undefined;
    this.#calls = [];
    // As a stream that sends nothing: a response that adds nothing for this long has stalled.
    const idleMs = this.#config.streamIdleTimeoutMs;
    let news = Date.now();
    for (let polls = 0; ; polls++) {
      // Asked before the items are read: the items read after an answer of "over" are all.
      const over = await this.#conversationFree(conversationId);
      for await (const item of this.client.conversations.items.list(
        conversationId,
        { after: afterItemId, order: 'asc', limit: 100 },
        { signal },
      )) {
        // Every item a response outputs has an id; the union's types that may lack one are input.
        if (!item.id || told.has(item.id)) continue;
        told.add(item.id);
        news = Date.now();
        this.#lastItemId = item.id;
        const event = followedEvent(item, told.size - 1);
        if (event) yield event;
      }
      if (over) break;
      if (Date.now() - news > idleMs) throw new StreamIdleError(idleMs);
      await sleep(Math.min(50 * 2 ** polls, FOLLOW_POLL_MS));
    }
    yield { type: 'followed.end', output: told.size > 0 };
  }

  /**
   * Whether no response is in progress on the conversation: an empty write goes through, or
   * is refused for function calls that wait for outputs (the response that made them is over).
   */
  async #conversationFree(conversationId: string): Promise<boolean> {
    try {
      await this.client.conversations.items.create(
        conversationId,
        { items: [] },
        { signal: this.abort.signal },
      );
      return true;
    } catch (error) {
      if (hasCode(error, 'conversation_locked')) return false;
      if (danglingCall(error)) return true;
      throw error;
    }
  }

  /**
   * No stream event says a response was cancelled (someone else cancelled it): its stream just
   * ends, so its status tells a cancel from a broken stream.
   */
  protected override async cancelledElsewhere(): Promise<boolean> {
    const id = this.#currentId;
    // Only background responses can be cancelled, and so only theirs can end that way.
    if (!id || !this.#config.background) return false;
    try {
      const response = await this.client.responses.retrieve(id, {}, { signal: this.abort.signal });
      return response.status === 'cancelled';
    } catch (error) {
      // Handled: not knowing the status, the loop treats the stream as broken (the run fails
      // and is cancelled upstream), which is what it was unless someone cancelled it.
      this.logger.warn('could not read the status of a response whose stream ended early', {
        responseId: id,
        error: messageOf(error),
      });
      return false;
    }
  }

  /**
   * Creates one response and streams it; a busy conversation is retried, and the dropped stream
   * of a background response is resumed from the last sequence number.
   */
  async *#streamResponse(input: ResponseInputItem[]): AsyncGenerator<Streamed> {
    const params = this.#params(input);
    let stream: Stream<ResponseStreamEvent> | null = null;
    let repairs = 0;
    for (let attempt = 0; stream === null; attempt++) {
      try {
        stream = await this.client.responses.create(params, { signal: this.abort.signal });
      } catch (error) {
        const dangling = danglingCall(error);
        if (dangling && repairs < 8 && input.every((i) => i.type !== 'function_call_output')) {
          // A response nobody followed (its process was lost before it learned the response's
          // id) asked for tools the conversation still waits on: answer each as interrupted,
          // and the conversation takes this turn.
          repairs++;
          this.logger.warn('answered a function call left open by a lost run', {
            conversationId: this.threadId,
            callId: dangling,
          });
          await answerInterrupted(this.client, this.threadId!, [dangling]);
          continue;
        }
        if (!hasCode(error, 'conversation_locked') || attempt >= (this.#config.lockedRetries ?? 20))
          throw error;
        // A process stalled in this wait may lose the run to another meanwhile: its next
        // request is refused as it leaves (RunHooks.beforeRequest), not sent a second time.
        await sleep(Math.min(25 * 2 ** attempt, 1_000));
        // The response in the way may be this very request, sent by the lost attempt of a run
        // taken over and still on its way when this one looked for it: follow that instead.
        // Looked for after the wait, so a request whose items joined meanwhile is found too.
        const sent = this.#takenOver ? await this.#sentElsewhere(input) : null;
        if (sent) {
          yield* this.#adopt(sent);
          return;
        }
      }
    }
    this.#currentId = undefined;
    yield* this.#follow(stream);
  }

  /** Streams a response; a dropped stream of a background response is resumed by sequence number. */
  async *#follow(first: Stream<ResponseStreamEvent>): AsyncGenerator<ResponseStreamEvent> {
    let stream = first;
    this.#lastSequence = -1;
    for (let resumes = 0; ; resumes++) {
      try {
        for await (const event of this.guard(stream)) {
          this.#lastSequence = event.sequence_number;
          yield event;
        }
        return;
      } catch (error) {
        const resumable =
          this.#config.background &&
          this.#currentId &&
          !this.cancelRequested &&
          !this.abort.signal.aborted &&
          resumes < 3 &&
          isNetworkError(error);
        if (!resumable) throw error;
        stream = await this.client.responses.retrieve(
          this.#currentId!,
          { stream: true, starting_after: this.#lastSequence },
          { signal: this.abort.signal },
        );
      }
    }
  }

  #params(input: ResponseInputItem[]): ResponseCreateParamsStreaming {
    const c = this.#config;
    const instructions = [c.instructions, this.#request.additionalInstructions]
      .filter(Boolean)
      .join('\n');
    const tools = (this.#request.tools ?? []).map((t) =>
      toResponsesTool(t, c.vectorStoreIds ?? []),
    );
    const safetyIdentifier =
      c.safetyIdentifier ??
      (c.safetyIdentifierFromConversation ? conversationSafetyIdentifier(this.threadId!) : null);
    return {
      ...(c.model ? { model: c.model } : {}),
      ...(c.prompt ? { prompt: c.prompt } : {}),
      ...(instructions ? { instructions } : {}),
      ...(tools.length > 0 ? { tools } : {}),
      conversation: this.threadId!,
      input,
      stream: true,
      background: c.background === true,
      ...(this.#request.tag ? { metadata: { [TAG_KEY]: this.#request.tag } } : {}),
      ...(safetyIdentifier ? { safety_identifier: safetyIdentifier } : {}),
      ...(c.promptCacheKey ? { prompt_cache_key: c.promptCacheKey } : {}),
      ...(c.compactThreshold
        ? { context_management: [{ type: 'compaction', compact_threshold: c.compactThreshold }] }
        : {}),
      // The conversation keeps the items either way; a plain streamed response needs no more.
      store: true,
    };
  }

  /** Maps one ResponseStreamEvent (or the end of a followed response) to run events. */
  protected translate(event: Streamed): RunEventBody[] {
    switch (event.type) {
      case 'followed.end': {
        const calls = this.#calls;
        if (calls.length > 0) {
          this.#unanswered = calls.map((c) => c.id);
          return [
            { type: 'tool_outputs.required', runId: this.#firstResponseId, toolCalls: calls },
          ];
        }
        // Failed or cancelled before its first output: the conversation says no more.
        if (!event.output) return [workerLost(this.#firstResponseId, 'ended')];
        return [{ type: 'run.completed', runId: this.#firstResponseId, usage: { ...this.#usage } }];
      }
      case 'response.created': {
        this.#currentId = event.response.id;
        this.#calls = [];
        this.checkpointAt(event.response.id);
        this.#markCurrentKnown();
        this.upstreamKnown();
        if (this.#firstResponseId) return [];
        this.#firstResponseId = event.response.id;
        return [{ type: 'run.started', runId: event.response.id, threadId: this.threadId! }];
      }
      case 'response.output_text.delta':
        return event.delta ? [{ type: 'text.delta', text: event.delta }] : [];
      case 'response.output_item.done': {
        if (event.item.id) this.#lastItemId = event.item.id;
        if (event.item.type === 'compaction') {
          this.logger.info('the conversation was compacted', {
            conversationId: this.threadId,
            responseId: this.#currentId,
          });
          return [];
        }
        const toolCall = fromOutputItem(event.item);
        if (!toolCall) return [];
        if (toolCall.type === 'function') this.#calls.push(toolCall);
        return [{ type: 'tool_call.created', toolCall }];
      }
      case 'response.completed': {
        const usage = event.response.usage;
        if (usage) {
          this.#usage.promptTokens += usage.input_tokens;
          this.#usage.completionTokens += usage.output_tokens;
          this.#usage.totalTokens += usage.total_tokens;
        }
        const calls = this.#calls;
        if (calls.length > 0) {
          this.#unanswered = calls.map((c) => c.id);
          return [
            { type: 'tool_outputs.required', runId: this.#firstResponseId, toolCalls: calls },
          ];
        }
        return [{ type: 'run.completed', runId: this.#firstResponseId, usage: { ...this.#usage } }];
      }
      case 'response.failed':
        return [upstreamFailed('response', event.response.id, event.response.error)];
      case 'response.incomplete':
        return [
          upstreamIncomplete(
            'response',
            event.response.id,
            event.response.incomplete_details?.reason,
          ),
        ];
      case 'error':
        return [upstreamFailed('response', this.#currentId, event)];
      default:
        return [];
    }
  }

  /**
   * Cancels the response in flight (a background response by the API's cancel, a streamed one
   * by closing its stream), or answers function calls that wait for outputs so that the
   * conversation accepts the next input.
   */
  protected async cancelUpstream(): Promise<void> {
    const conversationId = this.threadId;
    if (this.#unanswered.length > 0 && conversationId) {
      const calls = this.#unanswered;
      this.#unanswered = [];
      return answerInterrupted(this.client, conversationId, calls);
    }
    // A cancel before the response was created waits for its id, or for the loop to end
    // without one (the create request was aborted).
    await Promise.race([this.#currentKnown, this.stopped]);
    const id = this.#currentId;
    if (!id) return;
    this.abort.abort();
    // A streamed response stops when its connection closes: the abort above closed it. The
    // server frees the conversation once it notices; the next run waits out conversation_locked.
    if (this.#config.background) await cancelResponse(this.client, id);
  }
}

/**
 * The user message that holds `message`, if it is the conversation's newest user message and
 * comes after `after` (the newest item the session's previous run saw, when known): a message
 * repeated from an earlier turn is not taken for this one.
 */
async function requestItem(
  client: OpenAI,
  conversationId: string,
  message: string,
  after: string | undefined,
): Promise<string | null> {
  for await (const item of client.conversations.items.list(conversationId, {
    order: 'desc',
    limit: 20,
  })) {
    if (item.id === after) return null;
    if (item.type === 'message' && item.role === 'user')
      return textOf(item.content) === message ? item.id : null;
  }
  return null;
}

function textOf(content: ReadonlyArray<{ type: string; text?: string }>): string {
  return content.map((part) => part.text ?? '').join('');
}

/**
 * The stream event that tells one conversation item of a response followed through its
 * conversation: an assistant message as one text delta, a tool call as its item's end.
 */
function followedEvent(item: ConversationItem, index: number): ResponseStreamEvent | null {
  switch (item.type) {
    case 'message': {
      const text = item.role === 'assistant' ? textOf(item.content) : '';
      if (!text) return null;
      return {
        type: 'response.output_text.delta',
        item_id: item.id,
        output_index: index,
        content_index: 0,
        delta: text,
        logprobs: [],
        sequence_number: index,
      };
    }
    case 'function_call':
    case 'code_interpreter_call':
    case 'file_search_call':
      return {
        type: 'response.output_item.done',
        item: item as ResponseOutputItem,
        output_index: index,
        sequence_number: index,
      };
    default:
      return null;
  }
}

/** The call a 400 says the conversation still waits on ("No tool output found for function call X"). */
function danglingCall(error: unknown): string | null {
  if (!(error instanceof OpenAI.BadRequestError)) return null;
  return /No tool output found for function call ([\w-]+)/.exec(messageOf(error))?.[1] ?? null;
}

/** Cancels a background response; a 400 means it is no longer in progress: nothing to cancel. */
async function cancelResponse(client: OpenAI, id: string): Promise<void> {
  try {
    await client.responses.cancel(id);
  } catch (error) {
    if (!(error instanceof OpenAI.BadRequestError)) throw error;
  }
}

/**
 * Answers function calls that will get no output, so the conversation takes new input; a 400
 * means they were answered already.
 */
async function answerInterrupted(
  client: OpenAI,
  conversationId: string,
  callIds: string[],
): Promise<void> {
  if (callIds.length === 0) return;
  const items = callIds.map((id) => ({
    type: 'function_call_output' as const,
    call_id: id,
    output: INTERRUPTED_OUTPUT,
  }));
  try {
    await client.conversations.items.create(conversationId, { items });
  } catch (error) {
    if (!(error instanceof OpenAI.BadRequestError)) throw error;
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
