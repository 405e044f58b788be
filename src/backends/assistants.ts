/**
 * The Assistants API v2 backend: the one place that reads AssistantStreamEvents. A run is
 * created with the user's message as `additional_messages`, so the message enters the thread
 * only together with its run.
 */
import OpenAI from 'openai';
import type { AssistantStreamEvent } from 'openai/resources/beta/assistants';
import type { RunCreateParamsBaseStream as RunCreateParams } from 'openai/lib/AssistantStream';
import type { Run } from 'openai/resources/beta/threads/runs/runs';
import type { ToolCall as StepToolCall } from 'openai/resources/beta/threads/runs/steps';
import type { RunEventBody, ToolOutput } from '../events.js';
import {
  assistantsApiUnavailable,
  messageOf,
  runFailure,
  upstreamFailed,
  upstreamIncomplete,
  type RunFailure,
} from '../failures.js';
import type { Logger } from '../logger.js';
import type { BuiltInTool, FunctionToolCall, ToolCall } from '../tools.js';
import {
  TAG_KEY,
  sleep,
  type Backend,
  type BackendRun,
  type RunCheckpoint,
  type RunHooks,
  type RunRequest,
} from './backend.js';
import { RunLoop, withLogger, type BackendOptions } from './run-loop.js';

/** What the Assistants API backend needs: a client, the assistant and the run limits. */
export interface AssistantsBackendOptions extends BackendOptions {
  assistantId: string;
}

const TERMINAL: Run['status'][] = ['cancelled', 'failed', 'completed', 'expired', 'incomplete'];

/** The Assistants API v2 backend: threads, runs and their streams. */
export class AssistantsBackend implements Backend {
  readonly api = 'assistants' as const;
  readonly #options: AssistantsBackendOptions & { logger: Logger };

  constructor(options: AssistantsBackendOptions) {
    this.#options = withLogger(options);
  }

  /** A run lives on the server whatever happens to the process streaming it. */
  readonly resumable = true;

  startRun(request: RunRequest, hooks?: RunHooks): BackendRun {
    return new AssistantsRun(this.#options, request, hooks);
  }

  resumeRun(request: RunRequest, checkpoint: RunCheckpoint, hooks?: RunHooks): BackendRun {
    return new AssistantsRun(this.#options, request, hooks, checkpoint);
  }

  abandon(threadId: string, upstreamRunId: string): Promise<void> {
    return cancelRun(this.#options.client, threadId, upstreamRunId);
  }

  async findStarted(threadId: string, request: RunRequest): Promise<RunCheckpoint | null> {
    if (!request.tag) return null;
    const run = await runByTag(this.#options.client, threadId, request.tag);
    // Followed from its start: the reader drops the text it has.
    return run ? { threadId, upstreamId: run.id, segment: 0, textOffset: 0 } : null;
  }
}

/** One run over the Assistants API: a run on a thread, continued by submitting tool outputs. */
class AssistantsRun extends RunLoop<AssistantStreamEvent> {
  readonly #config: AssistantsBackendOptions & { logger: Logger };
  readonly #request: RunRequest;
  #runId: string | undefined;

  constructor(
    config: AssistantsBackendOptions & { logger: Logger },
    request: RunRequest,
    hooks?: RunHooks,
    resumeFrom?: RunCheckpoint,
  ) {
    super(config, request.threadId, hooks, resumeFrom);
    this.#config = config;
    this.#request = request;
  }

  protected get runId(): string | undefined {
    return this.#runId;
  }

  protected async createThread(): Promise<string> {
    return (await this.client.beta.threads.create({}, { signal: this.abort.signal })).id;
  }

  protected async open(threadId: string): Promise<AsyncIterable<AssistantStreamEvent>> {
    const params: RunCreateParams = {
      assistant_id: this.#config.assistantId,
      additional_messages: [{ role: 'user', content: this.#request.message }],
      ...(this.#request.tag ? { metadata: { [TAG_KEY]: this.#request.tag } } : {}),
    };
    if (this.#request.additionalInstructions) {
      params.additional_instructions = this.#request.additionalInstructions;
    }
    if (this.#request.tools) params.tools = this.#request.tools.map(toAssistantsTool);
    // The SDK's plain event stream: translate() needs no accumulated snapshots, and the
    // AssistantStream helper's accumulator cost about 6 % of a busy worker's CPU.
    try {
      const stream = await this.client.beta.threads.runs.create(
        threadId,
        { ...params, stream: true },
        { signal: this.abort.signal },
      );
      return this.guard(stream);
    } catch (error) {
      // A process that lost this run may have created it after all, its request still on its
      // way when the run was taken over: the thread then has this very run active. Follow it
      // rather than fail the turn and leave it running for nobody.
      const tag = this.#request.tag;
      const existing =
        tag && isActiveRunConflict(error)
          ? ((await runByTag(this.client, threadId, tag, this.abort.signal))?.id ?? null)
          : null;
      if (!existing) throw error;
      this.logger.info('the run was started by a lost attempt after all; following it', {
        runId: existing,
      });
      return this.reopen({ threadId, upstreamId: existing, segment: 0, textOffset: 0 });
    }
  }

  /**
   * The Assistants API cannot stream a run again. So the run is followed until it stops
   * (completed, failed, or waiting for tool outputs), and its whole story is told from what
   * the API keeps: the run, its tool-call steps and its messages, the text from the start of the
   * run (a reader drops the part it has). What follows tool outputs streams live again.
   */
  protected async reopen(checkpoint: RunCheckpoint): Promise<AsyncIterable<AssistantStreamEvent>> {
    const { threadId, upstreamId: runId } = checkpoint;
    // Every Assistants checkpoint names its run: its id comes with the request's answer.
    if (!runId) throw new Error('This checkpoint does not name the run to follow.');
    this.#runId = runId;
    this.replayTextFrom(0);
    const signal = this.abort.signal;
    let run = await this.client.beta.threads.runs.retrieve(
      runId,
      { thread_id: threadId },
      { signal },
    );
    for (let polls = 0; FOLLOWED.includes(run.status); polls++) {
      await sleep(Math.min(100 * 2 ** polls, 1_000));
      run = await this.client.beta.threads.runs.retrieve(
        runId,
        { thread_id: threadId },
        { signal },
      );
    }
    const [steps, messages] = await Promise.all([
      this.client.beta.threads.runs.steps.list(
        runId,
        { thread_id: threadId, order: 'asc', limit: 100 },
        { signal },
      ),
      this.client.beta.threads.messages.list(
        threadId,
        { run_id: runId, order: 'asc', limit: 100 },
        { signal },
      ),
    ]);
    const told: AssistantStreamEvent[] = [{ event: 'thread.run.created', data: run }];
    for (const step of steps.data) {
      if (step.status === 'completed')
        told.push({ event: 'thread.run.step.completed', data: step });
    }
    for (const message of messages.data) {
      const text = message.content
        .map((part) => (part.type === 'text' ? part.text.value : ''))
        .join('');
      if (!text) continue;
      told.push({
        event: 'thread.message.delta',
        data: {
          id: message.id,
          object: 'thread.message.delta',
          delta: { content: [{ index: 0, type: 'text', text: { value: text } }] },
        },
      });
    }
    const end = endEventOf(run);
    if (end) told.push(end);
    return toAsync(told);
  }

  protected async continueWith(
    outputs: ToolOutput[],
  ): Promise<AsyncIterable<AssistantStreamEvent>> {
    const stream = await this.client.beta.threads.runs.submitToolOutputs(
      this.#runId!,
      {
        thread_id: this.threadId!,
        tool_outputs: outputs.map((o) => ({ tool_call_id: o.toolCallId, output: o.output })),
        stream: true,
      },
      { signal: this.abort.signal },
    );
    return this.guard(stream);
  }

  protected override failureOf(error: unknown): RunFailure {
    if (isAssistantsApiMissing(error)) return assistantsApiUnavailable(this.client.baseURL);
    return super.failureOf(error);
  }

  /** Maps one AssistantStreamEvent to run events. */
  protected translate(event: AssistantStreamEvent): RunEventBody[] {
    switch (event.event) {
      case 'thread.run.created':
        this.#runId = event.data.id;
        this.checkpointAt(event.data.id);
        this.upstreamKnown();
        return [{ type: 'run.started', runId: event.data.id, threadId: event.data.thread_id }];
      case 'thread.message.delta':
        return (event.data.delta.content ?? []).flatMap((part) =>
          part.type === 'text' && part.text?.value
            ? [{ type: 'text.delta' as const, text: part.text.value }]
            : [],
        );
      case 'thread.run.step.completed': {
        const details = event.data.step_details;
        if (details.type !== 'tool_calls') return [];
        return details.tool_calls.flatMap((call) => {
          const toolCall = fromStepToolCall(call);
          return toolCall ? [{ type: 'tool_call.created' as const, toolCall }] : [];
        });
      }
      case 'thread.run.requires_action': {
        const calls: FunctionToolCall[] = (
          event.data.required_action?.submit_tool_outputs.tool_calls ?? []
        ).map((call) => ({
          id: call.id,
          type: 'function',
          function: { name: call.function.name, arguments: call.function.arguments },
        }));
        return [
          ...calls.map((toolCall) => ({ type: 'tool_call.created' as const, toolCall })),
          { type: 'tool_outputs.required', runId: event.data.id, toolCalls: calls },
        ];
      }
      case 'thread.run.completed': {
        const usage = event.data.usage;
        return [
          {
            type: 'run.completed',
            runId: event.data.id,
            usage: usage
              ? {
                  promptTokens: usage.prompt_tokens,
                  completionTokens: usage.completion_tokens,
                  totalTokens: usage.total_tokens,
                }
              : undefined,
          },
        ];
      }
      case 'thread.run.failed':
        return [upstreamFailed('run', event.data.id, event.data.last_error)];
      case 'thread.run.expired':
        return [runFailure('expired', 'The run expired.', { runId: event.data.id })];
      case 'thread.run.incomplete':
        return [upstreamIncomplete('run', event.data.id, event.data.incomplete_details?.reason)];
      case 'thread.run.cancelled':
        return [{ type: 'run.cancelled', runId: event.data.id }];
      default:
        return [];
    }
  }

  /** Cancels the run and waits until it is terminal, so that the thread takes the next run. */
  protected async cancelUpstream(): Promise<void> {
    const threadId = this.threadId;
    if (!threadId) return;
    let runId = this.#runId;
    if (!runId) {
      // The create request may have reached the server before it was aborted. Only this
      // request's run (by its tag) is ours to cancel: the thread's newest run may be a later
      // turn's by now.
      const tag = this.#request.tag;
      const run = tag
        ? await runByTag(this.client, threadId, tag)
        : (await this.client.beta.threads.runs.list(threadId, { limit: 1 })).data[0];
      if (!run || TERMINAL.includes(run.status)) return;
      runId = run.id;
    }
    await cancelRun(this.client, threadId, runId);
  }
}

/** The thread's run created for the request tagged `tag` (among its newest 20), if any. */
async function runByTag(
  client: OpenAI,
  threadId: string,
  tag: string,
  signal?: AbortSignal,
): Promise<Run | undefined> {
  const runs = await client.beta.threads.runs.list(
    threadId,
    { limit: 20, order: 'desc' },
    signal ? { signal } : undefined,
  );
  return runs.data.find((run) => run.metadata?.[TAG_KEY] === tag);
}

/** Statuses in which a run taken over is followed until it leaves them. */
const FOLLOWED: Run['status'][] = ['queued', 'in_progress', 'cancelling'];

/** The stream event a run's status stands for once it stopped, as a stream would end. */
function endEventOf(run: Run): AssistantStreamEvent | null {
  switch (run.status) {
    case 'requires_action':
      return { event: 'thread.run.requires_action', data: run };
    case 'completed':
      return { event: 'thread.run.completed', data: run };
    case 'failed':
      return { event: 'thread.run.failed', data: run };
    case 'cancelled':
      return { event: 'thread.run.cancelled', data: run };
    case 'expired':
      return { event: 'thread.run.expired', data: run };
    case 'incomplete':
      return { event: 'thread.run.incomplete', data: run };
    default:
      return null;
  }
}

async function* toAsync<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/** Cancels a run and waits until it is terminal, so that the thread takes the next run. */
async function cancelRun(client: OpenAI, threadId: string, runId: string): Promise<void> {
  try {
    await client.beta.threads.runs.cancel(runId, { thread_id: threadId });
  } catch (error) {
    // 400 when the run already ended: nothing to cancel.
    if (!(error instanceof OpenAI.BadRequestError)) throw error;
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const run = await client.beta.threads.runs.retrieve(runId, { thread_id: threadId });
    if (TERMINAL.includes(run.status)) return;
    await sleep(Math.min(50 * 2 ** attempt, 1_000));
  }
}

function fromStepToolCall(call: StepToolCall): ToolCall | null {
  if (call.type === 'code_interpreter') {
    return {
      id: call.id,
      type: 'code_interpreter',
      code_interpreter: {
        input: call.code_interpreter.input,
        outputs: call.code_interpreter.outputs.map((o) =>
          o.type === 'logs'
            ? { type: 'logs', logs: o.logs }
            : { type: 'image', image: { file_id: o.image.file_id } },
        ),
      },
    };
  }
  if (call.type === 'file_search') {
    return {
      id: call.id,
      type: 'file_search',
      file_search: {
        queries: [],
        results: (call.file_search.results ?? []).map((r) => ({
          file_id: r.file_id,
          file_name: r.file_name,
          score: r.score,
          text: r.content?.map((c) => c.text ?? '').join('') || undefined,
        })),
      },
    };
  }
  return null;
}

/** The seed's tool shapes are the Assistants API's, except for rankers it does not know. */
export function toAssistantsTool(tool: BuiltInTool): NonNullable<RunCreateParams['tools']>[number] {
  if (tool.type !== 'file_search' || !tool.file_search)
    return tool as NonNullable<RunCreateParams['tools']>[number];
  const { max_num_results, ranking_options } = tool.file_search;
  return {
    type: 'file_search',
    file_search: {
      ...(max_num_results !== undefined ? { max_num_results } : {}),
      ...(ranking_options
        ? {
            ranking_options: {
              // The Assistants API knows 'auto' and dated rankers; 'semantic' and 'lexical' map to 'auto'.
              ranker: 'auto',
              score_threshold: ranking_options.score_threshold ?? 0,
            },
          }
        : {}),
    },
  };
}

/** The API refused a run because the thread has one active already. */
function isActiveRunConflict(error: unknown): boolean {
  return (
    error instanceof OpenAI.BadRequestError && /already has an active run/.test(messageOf(error))
  );
}

/** A 404 on the Assistants routes themselves (not on an id) means the API is not served there. */
function isAssistantsApiMissing(error: unknown): boolean {
  return error instanceof OpenAI.NotFoundError && /^Invalid URL/.test(messageOf(error));
}
