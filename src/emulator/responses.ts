/**
 * The emulator's Responses and Conversations APIs: conversations with items, responses streamed
 * as ResponseStreamEvents, function_call / function_call_output round trips across responses,
 * background responses that can be cancelled and resumed by sequence number, plain responses
 * that stop when their client disconnects, and server-side compaction (`context_management`).
 */
import type { ServerResponse } from 'node:http';
import { EmulatorContext, optionalString, textOf } from './context.js';
import { EventLog, HttpError, notFound, sendJson, sleep } from './http.js';
import {
  countTokens,
  encodeArguments,
  renderText,
  tokenize,
  type Script,
  type ScriptContext,
  type ScriptStep,
} from './script.js';

type Json = Record<string, unknown>;

interface Conversation {
  id: string;
  created_at: number;
  metadata: Record<string, string>;
  items: Json[];
  /** Index of the first item in the model's context: the latest compaction item, or 0. */
  contextStart: number;
  activeResponseId: string | null;
  /** A script stopped at function calls, continued by the response that brings their outputs. */
  paused: { script: Script; nextStep: number; context: ScriptContext; callIds: string[] } | null;
}

interface StoredPrompt {
  instructions: string;
  model?: string;
}

interface ResponseRun {
  object: Json & { id: string; status: string; output: Json[] };
  conversation: Conversation | null;
  script: Script;
  context: ScriptContext;
  nextStep: number;
  log: EventLog;
  sequence: number;
  abort: AbortController;
  background: boolean;
  promptTokens: number;
  completionTokens: number;
  /** The compaction item this response made before answering, if its input crossed the threshold. */
  compaction: Json | null;
}

/** `safety_identifier`'s maxLength in OpenAI's description (ModelResponseProperties). */
export const MAX_SAFETY_IDENTIFIER = 64;

/** Tokens a compaction item stands for in the model's context; set when it is made. */
const compactionTokens = new WeakMap<Json, number>();

/** What an item costs in the model's context, counted as the emulator counts text: in words. */
function itemTokens(item: Json): number {
  if (item.type === 'compaction') return compactionTokens.get(item) ?? 1;
  if (item.type === 'function_call') return 1 + countTokens(String(item.arguments ?? ''));
  if (item.type === 'function_call_output') return 1 + countTokens(String(item.output ?? ''));
  if (item.type === 'message') return 1 + countTokens(textOf(item.content));
  return 1;
}

/** An optional string field of the create request, checked as the description types it. */
function identifier(body: Json, field: string, maxLength?: number): string | null {
  const value = optionalString(body, field);
  if (value !== null && maxLength !== undefined && value.length > maxLength) {
    throw new HttpError(
      400,
      `Invalid '${field}': string too long. Expected a string with maximum length ${maxLength}, but got a string with length ${value.length} instead.`,
      'string_above_max_length',
      undefined,
      {},
      field,
    );
  }
  return value;
}

/** `context_management` as ContextManagementParam allows it: the compaction threshold, if any. */
function compactionThreshold(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  const invalid = (message: string, param = 'context_management') =>
    new HttpError(400, message, 'invalid_value', undefined, {}, param);
  if (!Array.isArray(value) || value.length === 0)
    throw invalid("Invalid 'context_management': expected a non-empty array.");
  let threshold: number | null = null;
  value.forEach((entry: unknown, i) => {
    const param = `context_management[${i}]`;
    if (typeof entry !== 'object' || entry === null)
      throw invalid(`Invalid '${param}': expected an object.`, param);
    const { type, compact_threshold: limit } = entry as Json;
    if (type !== 'compaction')
      throw invalid(
        `Invalid '${param}.type': only 'compaction' is supported, got ${JSON.stringify(type)}.`,
        `${param}.type`,
      );
    if (limit === undefined || limit === null) return;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1000)
      throw invalid(
        `Invalid '${param}.compact_threshold': expected an integer of at least 1000, got ${JSON.stringify(limit)}.`,
        `${param}.compact_threshold`,
      );
    threshold = limit;
  });
  return threshold;
}

const LOCKED_MESSAGE =
  'Another process is currently operating on this conversation. Please retry in a few seconds.';

export class ResponsesProtocol {
  readonly conversations = new Map<string, Conversation>();
  readonly responses = new Map<string, ResponseRun>();
  readonly prompts = new Map<string, StoredPrompt>();

  constructor(private readonly ctx: EmulatorContext) {}

  async handle(
    method: string,
    path: string[],
    body: Json,
    query: URLSearchParams,
    res: ServerResponse,
  ): Promise<boolean> {
    const [root, a, b, c] = path;
    if (root === 'conversations') {
      if (method === 'POST' && a === undefined)
        return reply(res, conversationObject(this.createConversation(body)));
      if (a === undefined) return false;
      const conversation = this.conversation(a);
      if (b === undefined && method === 'GET') return reply(res, conversationObject(conversation));
      if (b === undefined && method === 'DELETE') {
        this.conversations.delete(conversation.id);
        return reply(res, { id: conversation.id, object: 'conversation.deleted', deleted: true });
      }
      if (b === 'items' && c === undefined && method === 'GET')
        return reply(res, itemList(conversation.items, query));
      if (b === 'items' && c === undefined && method === 'POST')
        return reply(res, this.appendItems(conversation, body));
      return false;
    }
    if (root !== 'responses') return false;
    if (method === 'POST' && a === undefined) return this.createResponse(body, res);
    if (a === undefined) return false;
    const run = this.responses.get(a);
    if (!run) throw notFound('response', a);
    if (method === 'GET' && b === undefined) {
      if (query.get('stream') === 'true') {
        if (!run.background)
          throw new HttpError(400, 'Only background responses can be streamed again.');
        const after = startingAfter(query);
        // Events are numbered from 0 in order, so the first one after `after` is at index after + 1.
        run.log.follow(res, after + 1);
        return true;
      }
      return reply(res, run.object);
    }
    if (method === 'POST' && b === 'cancel') return reply(res, this.cancel(run));
    return false;
  }

  private conversation(id: string): Conversation {
    const conversation = this.conversations.get(id);
    if (!conversation) throw notFound('conversation', id);
    return conversation;
  }

  private createConversation(body: Json): Conversation {
    const conversation: Conversation = {
      id: this.ctx.id('conv'),
      created_at: this.ctx.now(),
      metadata: (body.metadata as Record<string, string>) ?? {},
      items: [],
      contextStart: 0,
      activeResponseId: null,
      paused: null,
    };
    this.conversations.set(conversation.id, conversation);
    if (Array.isArray(body.items)) this.appendItems(conversation, { items: body.items });
    return conversation;
  }

  /** POST /conversations/{id}/items: adds items, which may answer paused function calls. */
  private appendItems(conversation: Conversation, body: Json): Json {
    if (conversation.activeResponseId)
      throw new HttpError(400, LOCKED_MESSAGE, 'conversation_locked');
    if (!Array.isArray(body.items))
      throw new HttpError(400, "Missing required parameter: 'items'.");
    const added = (body.items as unknown[]).map((item) => this.toItem(item));
    this.resolvePaused(conversation, added);
    conversation.paused = null;
    conversation.items.push(...added);
    return itemList(added, new URLSearchParams({ order: 'asc', limit: '100' }));
  }

  private toItem(raw: unknown): Json {
    if (typeof raw !== 'object' || raw === null)
      throw new HttpError(400, 'Invalid input item: expected an object.');
    const item = raw as Json;
    if (item.type === 'function_call_output') {
      if (typeof item.call_id !== 'string')
        throw new HttpError(400, "Missing required parameter: 'input[].call_id'.");
      return {
        id: this.ctx.id('fco'),
        type: 'function_call_output',
        call_id: item.call_id,
        output: typeof item.output === 'string' ? item.output : JSON.stringify(item.output),
        status: 'completed',
      };
    }
    if (item.type === undefined || item.type === 'message') {
      const role = item.role ?? 'user';
      const text = textOf(item.content);
      return {
        id: this.ctx.id('msg'),
        type: 'message',
        role,
        status: 'completed',
        content: [{ type: role === 'assistant' ? 'output_text' : 'input_text', text }],
      };
    }
    throw new HttpError(400, `Unsupported input item type '${String(item.type)}'.`);
  }

  /** Function outputs in `items` answer the conversation's paused calls; other input must not skip them. */
  private resolvePaused(conversation: Conversation, items: Json[]): Json[] {
    const outputs = items.filter((i) => i.type === 'function_call_output');
    const paused = conversation.paused;
    if (!paused) {
      const stray = outputs[0];
      if (stray)
        throw new HttpError(
          400,
          `No tool call found for function call output with call_id ${String(stray.call_id)}.`,
        );
      return outputs;
    }
    const answered = new Set(outputs.map((o) => String(o.call_id)));
    const missing = paused.callIds.find((id) => !answered.has(id));
    if (missing) throw new HttpError(400, `No tool output found for function call ${missing}.`);
    for (const output of outputs)
      paused.context.toolOutputs.push({
        callId: String(output.call_id),
        output: String(output.output),
      });
    return outputs;
  }

  private async createResponse(body: Json, res: ServerResponse): Promise<boolean> {
    const conversationId =
      typeof body.conversation === 'string'
        ? body.conversation
        : typeof body.conversation === 'object' && body.conversation !== null
          ? String((body.conversation as Json).id)
          : null;
    const conversation = conversationId ? this.conversation(conversationId) : null;
    const promptRef = body.prompt as Json | undefined;
    let prompt: StoredPrompt | undefined;
    if (promptRef) {
      prompt = this.prompts.get(String(promptRef.id));
      if (!prompt) throw notFound('prompt', String(promptRef.id));
    }
    const model = typeof body.model === 'string' ? body.model : prompt?.model;
    if (!model)
      throw new HttpError(
        400,
        "Missing required parameter: 'model'.",
        'missing_required_parameter',
        undefined,
        {},
        'model',
      );
    const background = body.background === true;
    if (background && body.store === false)
      throw new HttpError(400, 'Background responses require store=true.');
    const safetyIdentifier = identifier(body, 'safety_identifier', MAX_SAFETY_IDENTIFIER);
    const promptCacheKey = identifier(body, 'prompt_cache_key');
    const compactThreshold = compactionThreshold(body.context_management);
    if (conversation?.activeResponseId)
      throw new HttpError(400, LOCKED_MESSAGE, 'conversation_locked');

    const input =
      typeof body.input === 'string'
        ? [{ role: 'user', content: body.input }]
        : Array.isArray(body.input)
          ? body.input
          : [];
    const items = input.map((i: unknown) => this.toItem(i));
    const outputs = items.filter((i) => i.type === 'function_call_output');
    const userText = [...items].reverse().find((i) => i.type === 'message' && i.role === 'user');
    const message = userText ? textOf(userText.content) : '';
    const instructions = optionalString(body, 'instructions') ?? prompt?.instructions ?? null;
    const tools = Array.isArray(body.tools) ? (body.tools as Json[]) : [];

    const paused = conversation?.paused ?? null;
    const continuing = paused !== null && outputs.length > 0;
    const script = continuing ? paused.script : this.ctx.select({ message, model });
    this.ctx.takeRequestFailure(script);
    if (conversation) this.resolvePaused(conversation, items);
    else if (outputs.length > 0)
      throw new HttpError(
        400,
        'Function call outputs need the conversation (or previous_response_id) they answer.',
      );

    const context: ScriptContext = continuing
      ? { ...paused.context, instructions }
      : {
          message,
          instructions,
          additionalInstructions: null,
          functionNames: tools.flatMap((t) => (t.type === 'function' ? [String(t.name)] : [])),
          toolOutputs: [],
        };
    if (conversation) {
      conversation.paused = null;
      conversation.items.push(...items);
    }
    // What the model reads: the instructions and the conversation from its latest compaction
    // on, or this request's input alone.
    const contextItems = conversation ? conversation.items.slice(conversation.contextStart) : items;
    const inputTokens =
      countTokens(instructions) + contextItems.reduce((n, item) => n + itemTokens(item), 0);
    const compaction =
      conversation && compactThreshold !== null && inputTokens >= compactThreshold
        ? this.compact(conversation, inputTokens - countTokens(instructions))
        : null;
    const id = this.ctx.id('resp');
    const object = {
      id,
      object: 'response',
      created_at: this.ctx.now(),
      status: background ? 'queued' : 'in_progress',
      background,
      completed_at: null,
      error: null,
      incomplete_details: null,
      instructions,
      max_output_tokens: null,
      model,
      output: [] as Json[],
      parallel_tool_calls: true,
      previous_response_id: null,
      conversation: conversation ? { id: conversation.id } : null,
      prompt: promptRef
        ? {
            id: String(promptRef.id),
            version: (promptRef.version as string | undefined) ?? null,
            variables: null,
          }
        : null,
      reasoning: null,
      store: body.store !== false,
      temperature: 1,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools,
      top_p: 1,
      truncation: 'disabled',
      metadata: (body.metadata as Json) ?? {},
      safety_identifier: safetyIdentifier,
      prompt_cache_key: promptCacheKey,
    };
    const run: ResponseRun = {
      object,
      conversation,
      script,
      context,
      nextStep: continuing ? paused.nextStep : 0,
      log: new EventLog(this.ctx.emitted('responses')),
      sequence: 0,
      abort: new AbortController(),
      background,
      promptTokens: compaction ? countTokens(instructions) + itemTokens(compaction) : inputTokens,
      completionTokens: 0,
      compaction,
    };
    this.responses.set(id, run);
    if (conversation) conversation.activeResponseId = id;
    this.emit(run, 'response.created', { response: snapshot(run) });
    if (background) this.emit(run, 'response.queued', { response: snapshot(run) });
    // A response that is not in the background lives as long as its client's connection.
    if (!background) res.on('close', () => this.disconnected(run));
    if (body.stream === true) run.log.follow(res);
    else if (!background) {
      await this.play(run);
      if (!res.destroyed) sendJson(res, 200, run.object);
      return true;
    } else sendJson(res, 200, run.object);
    void this.play(run);
    return true;
  }

  /** The client of a response that is not in the background went away: generation stops. */
  private disconnected(run: ResponseRun): void {
    if (run.object.status !== 'queued' && run.object.status !== 'in_progress') return;
    run.abort.abort();
    this.finish(run, 'cancelled');
    run.log.end();
  }

  /**
   * Server-side compaction: one compaction item, appended after the input that crossed the
   * threshold, stands for every item before it; the model reads from it on. Deterministic: the
   * item is worth a tenth of the tokens it replaces.
   */
  private compact(conversation: Conversation, replacedTokens: number): Json {
    const replaced = conversation.items.length - conversation.contextStart;
    const item: Json = {
      id: this.ctx.id('cmp'),
      type: 'compaction',
      encrypted_content: Buffer.from(
        JSON.stringify({ replacedItems: replaced, replacedTokens }),
      ).toString('base64'),
    };
    compactionTokens.set(item, Math.max(1, Math.ceil(replacedTokens / 10)));
    conversation.items.push(item);
    conversation.contextStart = conversation.items.length - 1;
    return item;
  }

  private cancel(run: ResponseRun): Json {
    // As OpenAI's description says: only background responses can be cancelled.
    if (!run.background)
      throw new HttpError(400, 'Only responses created with background=true can be cancelled.');
    if (run.object.status === 'queued' || run.object.status === 'in_progress') {
      run.abort.abort();
      this.finish(run, 'cancelled');
      run.log.end();
    }
    return run.object;
  }

  private emit(run: ResponseRun, type: string, fields: Json): void {
    run.log.append({ event: type, data: { type, sequence_number: run.sequence++, ...fields } });
  }

  private async play(run: ResponseRun): Promise<void> {
    const signal = run.abort.signal;
    await sleep(0);
    if (signal.aborted) return;
    run.object.status = 'in_progress';
    this.emit(run, 'response.in_progress', { response: snapshot(run) });
    if (run.compaction) this.emitItem(run, run.compaction);
    const calls: Json[] = [];
    while (run.nextStep < run.script.steps.length) {
      const step = run.script.steps[run.nextStep++]!;
      const outcome = await this.playStep(run, step, calls, signal);
      if (signal.aborted || outcome === 'ended') return;
      if (outcome === 'wait') break;
    }
    if (calls.length > 0 && run.conversation) {
      run.conversation.paused = {
        script: run.script,
        nextStep: run.nextStep,
        context: run.context,
        callIds: calls.map((c) => String(c.call_id)),
      };
    }
    run.object.usage = this.usage(run);
    this.finish(run, 'completed');
    this.emit(run, 'response.completed', { response: snapshot(run) });
    run.log.end();
  }

  private async playStep(
    run: ResponseRun,
    step: ScriptStep,
    calls: Json[],
    signal: AbortSignal,
  ): Promise<'next' | 'wait' | 'ended'> {
    const output = run.object.output;
    if ('text' in step) {
      const text = renderText(step.text, run.context);
      const index = output.length;
      const item = {
        id: this.ctx.id('msg'),
        type: 'message',
        role: 'assistant',
        status: 'in_progress',
        content: [] as Json[],
      };
      output.push(item);
      this.emit(run, 'response.output_item.added', {
        output_index: index,
        item: { ...item, content: [] },
      });
      const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      this.emit(run, 'response.content_part.added', {
        item_id: item.id,
        output_index: index,
        content_index: 0,
        part: { ...part },
      });
      item.content.push(part);
      const delay = this.ctx.tokenDelay(run.script);
      for (const token of tokenize(text)) {
        await sleep(delay, signal);
        if (signal.aborted) return 'ended';
        part.text += token;
        run.completionTokens++;
        this.emit(run, 'response.output_text.delta', {
          item_id: item.id,
          output_index: index,
          content_index: 0,
          delta: token,
          logprobs: [],
        });
      }
      this.emit(run, 'response.output_text.done', {
        item_id: item.id,
        output_index: index,
        content_index: 0,
        text: part.text,
        logprobs: [],
      });
      this.emit(run, 'response.content_part.done', {
        item_id: item.id,
        output_index: index,
        content_index: 0,
        part: { ...part },
      });
      item.status = 'completed';
      this.emit(run, 'response.output_item.done', { output_index: index, item: clone(item) });
      run.conversation?.items.push(clone(item));
      return 'next';
    }
    if ('functionCalls' in step) {
      for (const call of step.functionCalls) {
        const index = output.length;
        const args = encodeArguments(call.arguments);
        const item = {
          id: this.ctx.id('fc'),
          type: 'function_call',
          status: 'in_progress',
          arguments: '',
          call_id: this.ctx.id('call'),
          name: call.name,
        };
        output.push(item);
        this.emit(run, 'response.output_item.added', { output_index: index, item: { ...item } });
        this.emit(run, 'response.function_call_arguments.delta', {
          item_id: item.id,
          output_index: index,
          delta: args,
        });
        this.emit(run, 'response.function_call_arguments.done', {
          item_id: item.id,
          name: call.name,
          output_index: index,
          arguments: args,
        });
        item.arguments = args;
        item.status = 'completed';
        run.completionTokens += countTokens(args);
        this.emit(run, 'response.output_item.done', { output_index: index, item: { ...item } });
        run.conversation?.items.push({ ...item });
        calls.push(item);
      }
      return 'wait';
    }
    if ('codeInterpreter' in step) {
      const index = output.length;
      const item = {
        id: this.ctx.id('ci'),
        type: 'code_interpreter_call',
        status: 'in_progress',
        container_id: 'cntr_emulator',
        code: '',
        outputs: null as Json[] | null,
      };
      output.push(item);
      this.emit(run, 'response.output_item.added', { output_index: index, item: { ...item } });
      this.emit(run, 'response.code_interpreter_call.in_progress', {
        output_index: index,
        item_id: item.id,
      });
      this.emit(run, 'response.code_interpreter_call_code.delta', {
        output_index: index,
        item_id: item.id,
        delta: step.codeInterpreter.input,
      });
      this.emit(run, 'response.code_interpreter_call_code.done', {
        output_index: index,
        item_id: item.id,
        code: step.codeInterpreter.input,
      });
      this.emit(run, 'response.code_interpreter_call.interpreting', {
        output_index: index,
        item_id: item.id,
      });
      item.code = step.codeInterpreter.input;
      item.outputs = [{ type: 'logs', logs: step.codeInterpreter.output }];
      item.status = 'completed';
      this.emit(run, 'response.code_interpreter_call.completed', {
        output_index: index,
        item_id: item.id,
      });
      this.emit(run, 'response.output_item.done', { output_index: index, item: clone(item) });
      return 'next';
    }
    if ('fileSearch' in step) {
      const index = output.length;
      const item = {
        id: this.ctx.id('fs'),
        type: 'file_search_call',
        status: 'in_progress',
        queries: [step.fileSearch.query],
        results: null as Json[] | null,
      };
      output.push(item);
      this.emit(run, 'response.output_item.added', { output_index: index, item: { ...item } });
      this.emit(run, 'response.file_search_call.in_progress', {
        output_index: index,
        item_id: item.id,
      });
      this.emit(run, 'response.file_search_call.searching', {
        output_index: index,
        item_id: item.id,
      });
      item.results = (step.fileSearch.results ?? []).map((r, i) => ({
        file_id: `file-${i + 1}`,
        filename: r.fileName,
        score: r.score,
        text: r.text,
        attributes: {},
      }));
      item.status = 'completed';
      this.emit(run, 'response.file_search_call.completed', {
        output_index: index,
        item_id: item.id,
      });
      this.emit(run, 'response.output_item.done', { output_index: index, item: clone(item) });
      return 'next';
    }
    if ('fail' in step || 'expire' in step) {
      run.object.error =
        'fail' in step
          ? { code: step.fail.code, message: step.fail.message }
          : { code: 'server_error', message: 'The response expired before it completed.' };
      this.finish(run, 'failed');
      this.emit(run, 'response.failed', { response: snapshot(run) });
      run.log.end();
      return 'ended';
    }
    if ('incomplete' in step) {
      run.object.incomplete_details = { reason: 'max_output_tokens' };
      run.object.usage = this.usage(run);
      this.finish(run, 'incomplete');
      this.emit(run, 'response.incomplete', { response: snapshot(run) });
      run.log.end();
      return 'ended';
    }
    if ('dropConnection' in step) {
      run.log.dropReaders();
      return 'next';
    }
    await sleep(step.stallMs, signal);
    return 'next';
  }

  /** An output item that is complete as soon as it is added (a compaction item). */
  private emitItem(run: ResponseRun, item: Json): void {
    const index = run.object.output.length;
    run.object.output.push(clone(item));
    this.emit(run, 'response.output_item.added', { output_index: index, item: clone(item) });
    this.emit(run, 'response.output_item.done', { output_index: index, item: clone(item) });
  }

  private usage(run: ResponseRun): Json {
    return {
      input_tokens: run.promptTokens,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: run.completionTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: run.promptTokens + run.completionTokens,
    };
  }

  private finish(run: ResponseRun, status: string): void {
    run.object.status = status;
    if (status === 'completed') run.object.completed_at = this.ctx.now();
    if (run.conversation?.activeResponseId === run.object.id)
      run.conversation.activeResponseId = null;
  }
}

/** The `starting_after` query parameter: a sequence number (an integer), or -1 when absent. */
function startingAfter(query: URLSearchParams): number {
  const raw = query.get('starting_after');
  if (raw === null) return -1;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < 0)
    throw new HttpError(
      400,
      `Invalid 'starting_after': expected a non-negative integer (a sequence number), got '${raw}'.`,
      'invalid_type',
      undefined,
      {},
      'starting_after',
    );
  return value;
}

function reply(res: ServerResponse, body: unknown): true {
  sendJson(res, 200, body);
  return true;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function snapshot(run: ResponseRun): Json {
  return clone(run.object);
}

function conversationObject(c: Conversation): Json {
  return { id: c.id, object: 'conversation', created_at: c.created_at, metadata: c.metadata };
}

/** A page of items as the API lists them: newest first unless `order=asc`, after the `after` cursor. */
function itemList(items: Json[], query: URLSearchParams): Json {
  let ordered = query.get('order') === 'asc' ? items : [...items].reverse();
  const after = query.get('after');
  if (after !== null) {
    const at = ordered.findIndex((item) => item.id === after);
    if (at < 0) throw notFound('item', after);
    ordered = ordered.slice(at + 1);
  }
  const limit = Math.max(1, Math.min(100, Number(query.get('limit') ?? 20)));
  const data = ordered.slice(0, limit);
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: ordered.length > data.length,
  };
}
