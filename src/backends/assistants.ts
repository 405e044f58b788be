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
import { AssistantsApiUnavailableError } from '../errors.js';
import type { RunEventBody } from '../events.js';
import type { BuiltInTool, FunctionToolCall, ToolCall } from '../tools.js';
import {
  BaseBackendRun,
  messageOf,
  TAG_KEY,
  sleep,
  withIdleTimeout,
  type Backend,
  type BackendRunOptions,
  type RunRequest,
} from './backend.js';

export interface AssistantsBackendOptions extends BackendRunOptions {
  client: OpenAI;
  assistantId: string;
}

const TERMINAL: Run['status'][] = ['cancelled', 'failed', 'completed', 'expired', 'incomplete'];

export class AssistantsBackend implements Backend {
  readonly api = 'assistants' as const;

  constructor(private readonly options: AssistantsBackendOptions) {}

  startRun(request: RunRequest): AssistantsRun {
    return new AssistantsRun(this.options, request);
  }

  abandon(threadId: string, upstreamRunId: string): Promise<void> {
    return cancelRun(this.options.client, threadId, upstreamRunId);
  }

  async findStarted(threadId: string, request: RunRequest): Promise<string | null> {
    if (!request.tag) return null;
    const runs = await this.options.client.beta.threads.runs.list(threadId, {
      limit: 20,
      order: 'desc',
    });
    return runs.data.find((run) => run.metadata?.[TAG_KEY] === request.tag)?.id ?? null;
  }
}

class AssistantsRun extends BaseBackendRun {
  private threadId: string | undefined;
  private runId: string | undefined;

  constructor(
    private readonly config: AssistantsBackendOptions,
    private readonly request: RunRequest,
  ) {
    super(config.client, config);
    this.threadId = request.threadId;
  }

  protected async *run(): AsyncGenerator<RunEventBody> {
    try {
      if (!this.threadId) {
        const thread = await this.client.beta.threads.create({}, { signal: this.abort.signal });
        this.threadId = thread.id;
        yield { type: 'thread.created', threadId: thread.id };
      }
      const threadId = this.threadId;
      const params: RunCreateParams = {
        assistant_id: this.config.assistantId,
        additional_messages: [{ role: 'user', content: this.request.message }],
        ...(this.request.tag ? { metadata: { [TAG_KEY]: this.request.tag } } : {}),
      };
      if (this.request.additionalInstructions) {
        params.additional_instructions = this.request.additionalInstructions;
      }
      if (this.request.tools) params.tools = this.request.tools.map(toAssistantsTool);
      // The SDK's plain event stream: translate() needs no accumulated snapshots, and the
      // AssistantStream helper's accumulator cost about 6 % of a busy worker's CPU.
      let stream: AsyncIterable<AssistantStreamEvent> = await this.client.beta.threads.runs.create(
        threadId,
        { ...params, stream: true },
        { signal: this.abort.signal },
      );
      while (true) {
        let required: FunctionToolCall[] | null = null;
        for await (const event of withIdleTimeout(stream, this.config.streamIdleTimeoutMs, () =>
          this.abort.abort(),
        )) {
          for (const out of this.translate(event)) {
            if (out.type === 'tool_outputs.required') required = out.toolCalls;
            yield out;
            if (
              out.type === 'run.completed' ||
              out.type === 'run.failed' ||
              out.type === 'run.cancelled'
            )
              return;
          }
        }
        if (this.cancelRequested) return yield* this.cancelled();
        if (!required) {
          // Clean up before the terminal event: a reader stops iterating once it has it.
          await this.cancelUpstream().catch(() => undefined);
          yield this.failure(new Error('The stream ended before the run did.'), this.runId);
          return;
        }
        const outputs = await this.waitForOutputs();
        if (outputs === null) return yield* this.cancelled();
        if (outputs === 'timeout') {
          await this.cancelUpstream().catch(() => undefined);
          yield {
            type: 'run.failed',
            runId: this.runId,
            kind: 'failed',
            code: 'tool_output_timeout',
            message: `No tool outputs arrived within ${this.config.toolOutputTimeoutMs} ms; the run was cancelled.`,
          };
          return;
        }
        stream = await this.client.beta.threads.runs.submitToolOutputs(
          this.runId!,
          {
            thread_id: threadId,
            tool_outputs: outputs.map((o) => ({ tool_call_id: o.toolCallId, output: o.output })),
            stream: true,
          },
          { signal: this.abort.signal },
        );
      }
    } catch (error) {
      if (this.cancelRequested) return yield* this.cancelled();
      if (isAssistantsApiMissing(error)) {
        const unavailable = AssistantsApiUnavailableError.at(this.client.baseURL, error);
        yield {
          type: 'run.failed',
          kind: 'failed',
          code: unavailable.code!,
          message: unavailable.message,
          status: 404,
        };
        return;
      }
      const failed = this.failure(error, this.runId);
      // The run may go on server-side after a broken stream; end it so the thread is free.
      // Before the terminal event: a reader stops iterating once it has it.
      if (this.runId) await this.cancelUpstream().catch(() => undefined);
      yield failed;
    }
  }

  private async *cancelled(): AsyncGenerator<RunEventBody> {
    yield { type: 'run.cancelled', runId: this.runId };
  }

  /** Maps one AssistantStreamEvent to run events. */
  private translate(event: AssistantStreamEvent): RunEventBody[] {
    switch (event.event) {
      case 'thread.run.created':
        this.runId = event.data.id;
        if (this.cancelRequested) void this.cancelUpstream();
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
        return [
          {
            type: 'run.failed',
            runId: event.data.id,
            kind: 'failed',
            code: event.data.last_error?.code ?? 'server_error',
            message: event.data.last_error?.message ?? 'The run failed.',
          },
        ];
      case 'thread.run.expired':
        return [
          {
            type: 'run.failed',
            runId: event.data.id,
            kind: 'expired',
            code: 'expired',
            message: 'The run expired.',
          },
        ];
      case 'thread.run.incomplete': {
        const reason = event.data.incomplete_details?.reason ?? 'incomplete';
        return [
          {
            type: 'run.failed',
            runId: event.data.id,
            kind: 'incomplete',
            code: reason,
            message: `The run ended incomplete: ${reason}.`,
          },
        ];
      }
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
    let runId = this.runId;
    if (!runId) {
      // The create request may have reached the server before it was aborted.
      const latest = await this.client.beta.threads.runs.list(threadId, { limit: 1 });
      const run = latest.data[0];
      if (!run || TERMINAL.includes(run.status)) return;
      runId = run.id;
    }
    await cancelRun(this.client, threadId, runId);
  }
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

/** A 404 on the Assistants routes themselves (not on an id) means the API is not served there. */
function isAssistantsApiMissing(error: unknown): boolean {
  return error instanceof OpenAI.NotFoundError && /^Invalid URL/.test(messageOf(error));
}
