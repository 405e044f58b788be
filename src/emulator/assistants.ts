/**
 * The emulator's Assistants API v2: assistants, threads, messages, runs and run steps, with
 * streaming runs whose events follow OpenAI's published AssistantStreamEvent schemas.
 */
import type { ServerResponse } from 'node:http';
import { EmulatorContext, optionalString, requireString, textOf } from './context.js';
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

interface Assistant {
  id: string;
  created_at: number;
  name: string | null;
  model: string;
  instructions: string | null;
  tools: Json[];
  /** As the client gave it; the emulator's file_search does not read the stores. */
  tool_resources: Json;
  metadata: Record<string, string>;
}

interface Thread {
  id: string;
  created_at: number;
  metadata: Record<string, string>;
  messages: Json[];
  activeRunId: string | null;
}

type RunStatus =
  | 'queued'
  | 'in_progress'
  | 'requires_action'
  | 'cancelling'
  | 'cancelled'
  | 'failed'
  | 'completed'
  | 'incomplete'
  | 'expired';

interface Run {
  object: Json & { id: string; status: RunStatus; thread_id: string };
  thread: Thread;
  script: Script;
  context: ScriptContext;
  nextStep: number;
  steps: Json[];
  pendingCalls: string[];
  /** Step waiting for tool outputs, completed when they arrive. */
  waitingStep: Json | null;
  abort: AbortController;
  log: EventLog | null;
  expiryTimer: NodeJS.Timeout | null;
  completionTokens: number;
  promptTokens: number;
}

const ACTIVE: RunStatus[] = ['queued', 'in_progress', 'requires_action', 'cancelling'];

export const DEFAULT_ASSISTANT_ID = 'asst_emulator';

export class AssistantsProtocol {
  readonly assistants = new Map<string, Assistant>();
  readonly threads = new Map<string, Thread>();
  readonly runs = new Map<string, Run>();

  constructor(private readonly ctx: EmulatorContext) {
    this.createAssistant({ model: 'emulator-1', name: 'Emulator' }, DEFAULT_ASSISTANT_ID);
  }

  createAssistant(body: Json, id = this.ctx.id('asst')): Assistant {
    const assistant: Assistant = {
      id,
      created_at: this.ctx.now(),
      name: optionalString(body, 'name'),
      model: typeof body.model === 'string' ? body.model : 'emulator-1',
      instructions: optionalString(body, 'instructions'),
      tools: Array.isArray(body.tools) ? (body.tools as Json[]) : [],
      tool_resources:
        typeof body.tool_resources === 'object' && body.tool_resources !== null
          ? (body.tool_resources as Json)
          : {},
      metadata: (body.metadata as Record<string, string>) ?? {},
    };
    this.assistants.set(id, assistant);
    return assistant;
  }

  /** Routes `/v1/assistants...` and `/v1/threads...`; returns false for paths it does not own. */
  async handle(
    method: string,
    path: string[],
    body: Json,
    query: URLSearchParams,
    res: ServerResponse,
  ): Promise<boolean> {
    const [root, a, b, c, d, e] = path;
    if (root === 'assistants') {
      if (method === 'POST' && a === undefined)
        return reply(res, assistantObject(this.createAssistant(body)));
      if (method === 'GET' && a !== undefined && b === undefined)
        return reply(res, assistantObject(this.assistant(a)));
      return false;
    }
    if (root !== 'threads') return false;
    if (method === 'POST' && a === undefined)
      return reply(res, threadObject(this.createThread(body)));
    if (method === 'POST' && a === 'runs' && b === undefined)
      return this.createThreadAndRun(body, res);
    if (a === undefined) return false;
    const thread = this.thread(a);
    if (b === undefined) {
      if (method === 'GET') return reply(res, threadObject(thread));
      if (method === 'DELETE') {
        this.threads.delete(thread.id);
        return reply(res, { id: thread.id, object: 'thread.deleted', deleted: true });
      }
      return false;
    }
    if (b === 'messages' && c === undefined) {
      if (method === 'POST') return reply(res, this.addUserMessage(thread, body));
      if (method === 'GET') return reply(res, listMessages(thread, query));
      return false;
    }
    if (b !== 'runs') return false;
    if (c === undefined) {
      if (method === 'POST') return this.createRun(thread, body, res);
      if (method === 'GET')
        return reply(
          res,
          list(
            [...this.runs.values()]
              .filter((r) => r.thread === thread)
              .map((r) => r.object)
              .reverse(),
          ),
        );
      return false;
    }
    const run = this.run(thread, c);
    if (d === undefined && method === 'GET') return reply(res, run.object);
    if (d === 'steps' && e === undefined && method === 'GET')
      return reply(
        res,
        list(query.get('order') === 'asc' ? [...run.steps] : [...run.steps].reverse()),
      );
    if (d === 'cancel' && method === 'POST') return reply(res, this.cancel(run));
    if (d === 'submit_tool_outputs' && method === 'POST')
      return this.submitToolOutputs(run, body, res);
    return false;
  }

  private assistant(id: string): Assistant {
    const assistant = this.assistants.get(id);
    if (!assistant) throw notFound('assistant', id);
    return assistant;
  }

  private thread(id: string): Thread {
    const thread = this.threads.get(id);
    if (!thread) throw notFound('thread', id);
    return thread;
  }

  private run(thread: Thread, id: string): Run {
    const run = this.runs.get(id);
    if (!run || run.thread !== thread) throw notFound('run', id);
    return run;
  }

  createThread(body: Json): Thread {
    const thread: Thread = {
      id: this.ctx.id('thread'),
      created_at: this.ctx.now(),
      metadata: (body.metadata as Record<string, string>) ?? {},
      messages: [],
      activeRunId: null,
    };
    this.threads.set(thread.id, thread);
    const messages = body.messages;
    if (messages !== undefined) {
      if (!Array.isArray(messages))
        throw new HttpError(400, "Invalid type for 'messages': expected an array.");
      for (const message of messages) this.addUserMessage(thread, message as Json);
    }
    return thread;
  }

  private addUserMessage(thread: Thread, body: Json): Json {
    if (thread.activeRunId) {
      throw new HttpError(
        400,
        `Can't add messages to ${thread.id} while a run ${thread.activeRunId} is active.`,
      );
    }
    const role = body.role;
    if (role !== 'user' && role !== 'assistant') {
      throw new HttpError(
        400,
        "Invalid value for 'role': expected 'user' or 'assistant'.",
        'invalid_value',
        undefined,
        {},
        'role',
      );
    }
    if (typeof body.content !== 'string' && !Array.isArray(body.content)) {
      throw new HttpError(
        400,
        "Missing required parameter: 'content'.",
        'missing_required_parameter',
        undefined,
        {},
        'content',
      );
    }
    const message = this.message(thread, role, textOf(body.content), {
      status: 'completed',
      run_id: null,
      assistant_id: null,
      metadata: (body.metadata as Json) ?? {},
    });
    thread.messages.push(message);
    return message;
  }

  private message(thread: Thread, role: string, text: string, extra: Json): Json {
    const now = this.ctx.now();
    return {
      id: this.ctx.id('msg'),
      object: 'thread.message',
      created_at: now,
      thread_id: thread.id,
      status: 'completed',
      incomplete_details: null,
      completed_at: extra.status === 'completed' ? now : null,
      incomplete_at: null,
      role,
      content:
        text.length > 0 || role === 'user'
          ? [{ type: 'text', text: { value: text, annotations: [] } }]
          : [],
      assistant_id: null,
      run_id: null,
      attachments: [],
      metadata: {},
      ...extra,
    };
  }

  private async createThreadAndRun(body: Json, res: ServerResponse): Promise<boolean> {
    const assistant = this.assistant(requireString(body, 'assistant_id'));
    const threadBody = (body.thread as Json | undefined) ?? {};
    const script = this.chooseScript(assistant, latestUserText(threadBody.messages));
    this.ctx.takeRequestFailure(script);
    const thread = this.createThread(threadBody);
    return this.startRun(thread, assistant, script, body, res, true);
  }

  private async createRun(thread: Thread, body: Json, res: ServerResponse): Promise<boolean> {
    const assistant = this.assistant(requireString(body, 'assistant_id'));
    if (thread.activeRunId) {
      throw new HttpError(
        400,
        `Thread ${thread.id} already has an active run ${thread.activeRunId}.`,
      );
    }
    const extra = body.additional_messages;
    const pendingText =
      Array.isArray(extra) && extra.length > 0
        ? latestUserText(extra)
        : latestUserText(thread.messages);
    const script = this.chooseScript(assistant, pendingText);
    this.ctx.takeRequestFailure(script);
    if (Array.isArray(extra))
      for (const message of extra) this.addUserMessage(thread, message as Json);
    return this.startRun(thread, assistant, script, body, res, false);
  }

  private chooseScript(assistant: Assistant, message: string): Script {
    return this.ctx.select({ message, assistantId: assistant.id, model: assistant.model });
  }

  private startRun(
    thread: Thread,
    assistant: Assistant,
    script: Script,
    body: Json,
    res: ServerResponse,
    announceThread: boolean,
  ): boolean {
    const instructions = optionalString(body, 'instructions') ?? assistant.instructions;
    const additional = optionalString(body, 'additional_instructions');
    const tools = Array.isArray(body.tools) ? (body.tools as Json[]) : assistant.tools;
    const now = this.ctx.now();
    const message = latestUserText(thread.messages);
    const object = {
      id: this.ctx.id('run'),
      object: 'thread.run',
      created_at: now,
      thread_id: thread.id,
      assistant_id: assistant.id,
      status: 'queued' as RunStatus,
      required_action: null,
      last_error: null,
      expires_at: now + 600,
      started_at: null,
      cancelled_at: null,
      failed_at: null,
      completed_at: null,
      incomplete_details: null,
      model: typeof body.model === 'string' ? body.model : assistant.model,
      instructions: [instructions, additional].filter(Boolean).join('\n'),
      tools,
      metadata: (body.metadata as Json) ?? {},
      usage: null,
      temperature: 1,
      top_p: 1,
      max_prompt_tokens: null,
      max_completion_tokens: null,
      truncation_strategy: { type: 'auto', last_messages: null },
      tool_choice: 'auto',
      parallel_tool_calls: true,
      response_format: 'auto',
    };
    const run: Run = {
      object,
      thread,
      script,
      context: {
        message,
        instructions,
        additionalInstructions: additional,
        functionNames: tools.flatMap((t) =>
          t.type === 'function' ? [String((t.function as Json).name)] : [],
        ),
        toolOutputs: [],
      },
      nextStep: 0,
      steps: [],
      pendingCalls: [],
      waitingStep: null,
      abort: new AbortController(),
      log: null,
      expiryTimer: null,
      completionTokens: 0,
      promptTokens: countTokens(message) + countTokens(instructions) + countTokens(additional),
    };
    this.runs.set(object.id, run);
    thread.activeRunId = object.id;
    const log = this.openLog(run);
    if (announceThread) log.append({ event: 'thread.created', data: threadObject(thread) });
    log.append({ event: 'thread.run.created', data: { ...object } });
    log.append({ event: 'thread.run.queued', data: { ...object } });
    if (body.stream === true) log.follow(res);
    else sendJson(res, 200, { ...object });
    void this.play(run);
    return true;
  }

  private openLog(run: Run): EventLog {
    run.log = new EventLog(this.ctx.emitted('assistants'));
    return run.log;
  }

  private async submitToolOutputs(run: Run, body: Json, res: ServerResponse): Promise<boolean> {
    if (run.object.status !== 'requires_action') {
      throw new HttpError(400, `Runs in status "${run.object.status}" do not accept tool outputs.`);
    }
    const outputs = body.tool_outputs;
    if (!Array.isArray(outputs))
      throw new HttpError(
        400,
        "Missing required parameter: 'tool_outputs'.",
        'missing_required_parameter',
        undefined,
        {},
        'tool_outputs',
      );
    const given = new Map<string, string>();
    for (const item of outputs as Json[]) {
      if (typeof item.tool_call_id !== 'string')
        throw new HttpError(400, "Missing required parameter: 'tool_outputs[].tool_call_id'.");
      given.set(item.tool_call_id, typeof item.output === 'string' ? item.output : '');
    }
    const missing = run.pendingCalls.filter((id) => !given.has(id));
    if (missing.length > 0) {
      throw new HttpError(
        400,
        `Expected tool outputs for call_ids ${JSON.stringify(run.pendingCalls)}, got ${JSON.stringify([...given.keys()])}`,
      );
    }
    this.ctx.takeRequestFailure(run.script);
    if (run.expiryTimer) clearTimeout(run.expiryTimer);
    for (const id of run.pendingCalls)
      run.context.toolOutputs.push({ callId: id, output: given.get(id) ?? '' });
    const step = run.waitingStep;
    if (step) {
      const calls = (step.step_details as { tool_calls: Json[] }).tool_calls;
      for (const call of calls) (call.function as Json).output = given.get(String(call.id)) ?? null;
    }
    run.pendingCalls = [];
    run.object.required_action = null;
    run.object.status = 'queued';
    const log = this.openLog(run);
    log.append({ event: 'thread.run.queued', data: { ...run.object } });
    if (step) {
      this.finishStep(run, step, 'completed');
      run.waitingStep = null;
    }
    if (body.stream === true) log.follow(res);
    else sendJson(res, 200, { ...run.object });
    void this.play(run);
    return true;
  }

  private cancel(run: Run): Json {
    if (!ACTIVE.includes(run.object.status)) {
      throw new HttpError(400, `Cannot cancel run with status '${run.object.status}'.`);
    }
    if (run.object.status === 'requires_action') {
      if (run.expiryTimer) clearTimeout(run.expiryTimer);
      const log = this.openLog(run);
      this.terminate(run, 'cancelled');
      log.end();
      return { ...run.object };
    }
    run.object.status = 'cancelling';
    run.abort.abort();
    return { ...run.object };
  }

  /** Plays the script from `run.nextStep` until the run needs tool outputs or ends. */
  private async play(run: Run): Promise<void> {
    const log = run.log!;
    const signal = run.abort.signal;
    await sleep(0);
    if (signal.aborted) return this.finishCancelled(run, log);
    run.object.status = 'in_progress';
    run.object.started_at ??= this.ctx.now();
    log.append({ event: 'thread.run.in_progress', data: { ...run.object } });
    while (run.nextStep < run.script.steps.length) {
      const step = run.script.steps[run.nextStep++]!;
      const outcome = await this.playStep(run, step, log, signal);
      if (signal.aborted) return this.finishCancelled(run, log);
      if (outcome === 'wait' || outcome === 'ended') return;
    }
    run.object.usage = this.usage(run);
    this.terminate(run, 'completed');
    log.append({ event: 'thread.run.completed', data: { ...run.object } });
    this.done(log);
  }

  private async playStep(
    run: Run,
    step: ScriptStep,
    log: EventLog,
    signal: AbortSignal,
  ): Promise<'next' | 'wait' | 'ended'> {
    if ('text' in step) {
      const text = renderText(step.text, run.context);
      const message = this.message(run.thread, 'assistant', '', {
        status: 'in_progress',
        assistant_id: run.object.assistant_id,
        run_id: run.object.id,
      });
      run.thread.messages.push(message);
      const runStep = this.startStep(run, log, {
        type: 'message_creation',
        message_creation: { message_id: message.id },
      });
      log.append({ event: 'thread.message.created', data: { ...message } });
      log.append({ event: 'thread.message.in_progress', data: { ...message } });
      let value = '';
      const delay = this.ctx.tokenDelay(run.script);
      for (const token of tokenize(text)) {
        await sleep(delay, signal);
        if (signal.aborted) {
          message.status = 'incomplete';
          message.content = [{ type: 'text', text: { value, annotations: [] } }];
          return 'next';
        }
        value += token;
        run.completionTokens++;
        log.append({
          event: 'thread.message.delta',
          data: {
            id: message.id,
            object: 'thread.message.delta',
            delta: {
              content: [{ index: 0, type: 'text', text: { value: token, annotations: [] } }],
            },
          },
        });
      }
      message.status = 'completed';
      message.completed_at = this.ctx.now();
      message.content = [{ type: 'text', text: { value, annotations: [] } }];
      log.append({ event: 'thread.message.completed', data: { ...message } });
      this.finishStep(run, runStep, 'completed');
      return 'next';
    }
    if ('functionCalls' in step) {
      const calls = step.functionCalls.map((call) => ({
        id: this.ctx.id('call'),
        type: 'function',
        function: {
          name: call.name,
          arguments: encodeArguments(call.arguments),
          output: null as string | null,
        },
      }));
      const runStep = this.startStep(run, log, { type: 'tool_calls', tool_calls: calls });
      calls.forEach((call, index) => {
        run.completionTokens += countTokens(call.function.arguments);
        this.stepDelta(log, runStep.id, {
          index,
          id: call.id,
          type: 'function',
          function: {
            name: call.function.name,
            arguments: call.function.arguments,
            output: null,
          },
        });
      });
      run.waitingStep = runStep;
      run.pendingCalls = calls.map((c) => c.id);
      run.object.status = 'requires_action';
      run.object.required_action = {
        type: 'submit_tool_outputs',
        submit_tool_outputs: {
          tool_calls: calls.map((c) => ({
            id: c.id,
            type: 'function',
            function: { name: c.function.name, arguments: c.function.arguments },
          })),
        },
      };
      log.append({ event: 'thread.run.requires_action', data: { ...run.object } });
      this.done(log);
      run.expiryTimer = setTimeout(
        () => this.expireWaiting(run),
        this.ctx.settings.requiresActionTimeoutMs,
      );
      run.expiryTimer.unref();
      return 'wait';
    }
    if ('codeInterpreter' in step) {
      const id = this.ctx.id('call');
      const call = {
        id,
        type: 'code_interpreter',
        code_interpreter: {
          input: step.codeInterpreter.input,
          outputs: [{ type: 'logs', logs: step.codeInterpreter.output }],
        },
      };
      const runStep = this.startStep(run, log, { type: 'tool_calls', tool_calls: [call] });
      this.stepDelta(log, runStep.id, {
        index: 0,
        id,
        type: 'code_interpreter',
        code_interpreter: { input: step.codeInterpreter.input, outputs: [] },
      });
      this.finishStep(run, runStep, 'completed');
      return 'next';
    }
    if ('fileSearch' in step) {
      const results = (step.fileSearch.results ?? []).map((r, i) => ({
        file_id: `file-${i + 1}`,
        file_name: r.fileName,
        score: r.score,
        content: [{ type: 'text', text: r.text }],
      }));
      const call = {
        id: this.ctx.id('call'),
        type: 'file_search',
        file_search: { ranking_options: { ranker: 'auto', score_threshold: 0 }, results },
      };
      const runStep = this.startStep(run, log, { type: 'tool_calls', tool_calls: [call] });
      this.stepDelta(log, runStep.id, {
        index: 0,
        id: call.id,
        type: 'file_search',
        file_search: {},
      });
      this.finishStep(run, runStep, 'completed');
      return 'next';
    }
    if ('fail' in step) {
      run.object.last_error = { code: step.fail.code, message: step.fail.message };
      this.terminate(run, 'failed');
      log.append({ event: 'thread.run.failed', data: { ...run.object } });
      this.done(log);
      return 'ended';
    }
    if ('expire' in step) {
      this.terminate(run, 'expired');
      log.append({ event: 'thread.run.expired', data: { ...run.object } });
      this.done(log);
      return 'ended';
    }
    if ('incomplete' in step) {
      run.object.incomplete_details = { reason: step.incomplete };
      run.object.usage = this.usage(run);
      this.terminate(run, 'incomplete');
      log.append({ event: 'thread.run.incomplete', data: { ...run.object } });
      this.done(log);
      return 'ended';
    }
    if ('dropConnection' in step) {
      log.dropReaders();
      return 'next';
    }
    await sleep(step.stallMs, signal);
    return 'next';
  }

  private startStep(run: Run, log: EventLog, details: Json): Json & { id: string } {
    const step = {
      id: this.ctx.id('step'),
      object: 'thread.run.step',
      created_at: this.ctx.now(),
      assistant_id: run.object.assistant_id,
      thread_id: run.thread.id,
      run_id: run.object.id,
      type: details.type,
      status: 'in_progress',
      step_details: details,
      last_error: null,
      expired_at: null,
      cancelled_at: null,
      failed_at: null,
      completed_at: null,
      metadata: {},
      usage: null,
    };
    run.steps.push(step);
    log.append({ event: 'thread.run.step.created', data: { ...step } });
    log.append({ event: 'thread.run.step.in_progress', data: { ...step } });
    return step;
  }

  /** One tool call's delta of a run step, as the SDK's stream helper accumulates it. */
  private stepDelta(log: EventLog, stepId: string, toolCall: Json): void {
    log.append({
      event: 'thread.run.step.delta',
      data: {
        id: stepId,
        object: 'thread.run.step.delta',
        delta: { step_details: { type: 'tool_calls', tool_calls: [toolCall] } },
      },
    });
  }

  private finishStep(run: Run, step: Json, status: 'completed' | 'cancelled' | 'expired'): void {
    step.status = status;
    const now = this.ctx.now();
    if (status === 'completed') step.completed_at = now;
    if (status === 'cancelled') step.cancelled_at = now;
    if (status === 'expired') step.expired_at = now;
    step.usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    run.log?.append({ event: `thread.run.step.${status}`, data: { ...step } });
  }

  private usage(run: Run): Json {
    return {
      prompt_tokens: run.promptTokens,
      completion_tokens: run.completionTokens,
      total_tokens: run.promptTokens + run.completionTokens,
    };
  }

  private finishCancelled(run: Run, log: EventLog): void {
    run.object.status = 'cancelling';
    log.append({ event: 'thread.run.cancelling', data: { ...run.object } });
    this.terminate(run, 'cancelled');
    log.append({ event: 'thread.run.cancelled', data: { ...run.object } });
    this.done(log);
  }

  private expireWaiting(run: Run): void {
    if (run.object.status !== 'requires_action') return;
    const log = this.openLog(run);
    if (run.waitingStep) this.finishStep(run, run.waitingStep, 'expired');
    this.terminate(run, 'expired');
    log.append({ event: 'thread.run.expired', data: { ...run.object } });
    this.done(log);
  }

  private terminate(run: Run, status: RunStatus): void {
    const now = this.ctx.now();
    run.object.status = status;
    run.object.required_action = null;
    if (status === 'completed') run.object.completed_at = now;
    if (status === 'failed') run.object.failed_at = now;
    if (status === 'cancelled') run.object.cancelled_at = now;
    if (run.thread.activeRunId === run.object.id) run.thread.activeRunId = null;
    if (run.expiryTimer) clearTimeout(run.expiryTimer);
  }

  private done(log: EventLog): void {
    log.append({ event: 'done', data: '[DONE]' });
    log.end();
  }
}

function reply(res: ServerResponse, body: unknown): true {
  sendJson(res, 200, body);
  return true;
}

function list(data: unknown[]): Json {
  const first = data[0] as Json | undefined;
  const last = data[data.length - 1] as Json | undefined;
  return {
    object: 'list',
    data,
    first_id: first?.id ?? null,
    last_id: last?.id ?? null,
    has_more: false,
  };
}

function listMessages(thread: Thread, query: URLSearchParams): Json {
  const ascending = query.get('order') === 'asc';
  // As the API does: `run_id` keeps the messages that run created.
  const runId = query.get('run_id');
  const own = runId ? thread.messages.filter((m) => m.run_id === runId) : thread.messages;
  const messages = ascending ? [...own] : [...own].reverse();
  const limit = Number(query.get('limit') ?? 20);
  return list(messages.slice(0, Math.max(1, Math.min(100, limit))));
}

function latestUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as Json;
    if (message.role === 'user') return textOf(message.content);
  }
  return '';
}

function threadObject(thread: Thread): Json {
  return {
    id: thread.id,
    object: 'thread',
    created_at: thread.created_at,
    tool_resources: {},
    metadata: thread.metadata,
  };
}

function assistantObject(a: Assistant): Json {
  return {
    id: a.id,
    object: 'assistant',
    created_at: a.created_at,
    name: a.name,
    description: null,
    model: a.model,
    instructions: a.instructions,
    tools: a.tools,
    tool_resources: a.tool_resources,
    metadata: a.metadata,
    temperature: 1,
    top_p: 1,
    response_format: 'auto',
  };
}
