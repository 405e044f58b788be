/**
 * The LLMStream behind AssistantLLM.chat(). The thread holds the conversation, so each chat()
 * sends only what is new in the chat context. Function calls for the Agent's tools are handed to
 * the AgentSession as FunctionCalls; when it calls chat() again with their outputs, they are
 * submitted to the waiting run, which then streams on.
 */
import {
  APIConnectionError,
  APIError,
  APIStatusError,
  APITimeoutError,
  llm,
  type APIConnectOptions,
} from '@livekit/agents';
import type { AssistantLLM } from './assistant-llm.js';
import { chatHostOf, type ChatHost } from './chat-session.js';
import type { RunEvent, ToolOutput } from './events.js';
import { cancelledUpstream, FAILURES, type RunFailure } from './failures.js';
import { oversizedMessage } from './options.js';
import type { QueuedRun } from './run-queue.js';
import { answerFunctionCalls, reportToolCall } from './tool-dispatch.js';
import type { BuiltInTool, FunctionTool } from './tools.js';
import { unlessAborted } from './util/abortable.js';

/**
 * The LLMStream that AssistantLLM.chat() returns: one turn of an AgentSession, streamed from a
 * run on the assistant's thread.
 */
export class AssistantLLMStream extends llm.LLMStream {
  readonly #owner: ChatHost;
  /** Kept across the framework's retries of run(), so a retry resends the same turn. */
  #turn: { message: string; instructions: string; tools: BuiltInTool[] | undefined } | null = null;

  /** Made by AssistantLLM.chat(); `owner` is the AssistantLLM whose thread the turn goes to. */
  constructor(
    owner: AssistantLLM,
    options: {
      chatCtx: llm.ChatContext;
      toolCtx?: llm.ToolContextLike;
      connOptions: APIConnectOptions;
    },
  ) {
    super(owner, options);
    this.#owner = chatHostOf(owner);
  }

  protected async run(): Promise<void> {
    const signal = this.abortController.signal;
    if (signal.aborted) return;
    const state = this.#owner.chatState;
    let run: QueuedRun | null = null;
    let events: AsyncIterator<RunEvent> | null = null;

    const pending = state.pending;
    state.pending = null;
    if (pending) {
      const outputs = this.#sessionOutputs(pending.sessionCallIds);
      if (outputs) {
        run = pending.run;
        events = pending.events;
        await run.submitToolOutputs([...pending.handlerOutputs, ...outputs]);
      } else {
        // The session moved on without answering (e.g. it was interrupted): drop that run.
        await pending.run.cancel('superseded');
      }
    }
    if (!run) {
      this.#turn ??= this.#newTurn();
      if (!this.#turn) {
        this.#owner.logger.warn(
          'chat() found no new user message in the chat context; nothing was sent',
        );
        return;
      }
      const oversized = oversizedMessage(this.#turn.message);
      if (oversized) throw new APIError(`message: ${oversized}`, { retryable: false });
      run = this.#owner.enqueueRun(this.#turn.message, {
        interrupt: true,
        ...(this.#turn.instructions ? { additionalInstructions: this.#turn.instructions } : {}),
        ...(this.#turn.tools ? { tools: this.#turn.tools } : {}),
      });
      events = run[Symbol.asyncIterator]();
    }
    const active = run;
    const onAbort = () => {
      active.cancel('interrupted').catch((error: unknown) =>
        // Logged, as nobody awaits this cancel: the stream is closing anyway, and a run that
        // still holds the thread makes the next run fail with the API's own error.
        this.#owner.logger.warn('could not cancel the run when the stream closed', {
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#stream(active, events!, signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async #stream(
    run: QueuedRun,
    events: AsyncIterator<RunEvent>,
    signal: AbortSignal,
  ): Promise<void> {
    let emitted = false;
    const id = () => run.runId ?? 'assistant-run';
    while (true) {
      const next = await events.next();
      if (next.done || signal.aborted) return;
      const event = next.value;
      switch (event.type) {
        case 'text.delta':
          emitted = true;
          this.queue.put({ id: id(), delta: { role: 'assistant', content: event.text } });
          break;
        case 'tool_call.created':
          if (event.toolCall.type !== 'function')
            reportToolCall(event.toolCall, this.#owner.dispatch);
          break;
        case 'tool_outputs.required': {
          const agentTools = this.toolCtx?.functionTools ?? {};
          const forSession = event.toolCalls.filter((c) => c.function.name in agentTools);
          const forHandler = event.toolCalls.filter((c) => !(c.function.name in agentTools));
          const handlerOutputs = await unlessAborted(
            answerFunctionCalls(forHandler, this.#owner.dispatch),
            run.signal,
            null,
          );
          if (!handlerOutputs) return;
          if (forSession.length === 0) {
            await run.submitToolOutputs(handlerOutputs);
            break;
          }
          for (const call of forSession) {
            this.queue.put({
              id: id(),
              delta: {
                role: 'assistant',
                toolCalls: [
                  llm.FunctionCall.create({
                    callId: call.id,
                    name: call.function.name,
                    args: call.function.arguments,
                  }),
                ],
              },
            });
          }
          this.#owner.chatState.pending = {
            run,
            events,
            sessionCallIds: forSession.map((c) => c.id),
            handlerOutputs,
          };
          return;
        }
        case 'run.completed':
          if (event.usage) {
            this.queue.put({
              id: id(),
              usage: {
                completionTokens: event.usage.completionTokens,
                promptTokens: event.usage.promptTokens,
                promptCachedTokens: 0,
                totalTokens: event.usage.totalTokens,
              },
            });
          }
          return;
        case 'run.failed':
          throw frameworkErrorOf(event, emitted);
        case 'run.cancelled':
          if (run.isCancelled) return;
          throw frameworkErrorOf(cancelledUpstream(event.runId), emitted);
        default:
          break;
      }
    }
  }

  /** The session's outputs for `callIds`, or null when it did not answer all of them. */
  #sessionOutputs(callIds: string[]): ToolOutput[] | null {
    const byCall = new Map<string, llm.FunctionCallOutput>();
    for (const item of this.chatCtx.items) {
      if (item.type === 'function_call_output') byCall.set(item.callId, item);
    }
    if (!callIds.every((id) => byCall.has(id))) return null;
    this.#markSeen();
    return callIds.map((id) => ({ toolCallId: id, output: byCall.get(id)!.output }));
  }

  /** What this chat context adds since the last chat(): the new user text, instructions, tools. */
  #newTurn(): {
    message: string;
    instructions: string;
    tools: BuiltInTool[] | undefined;
  } | null {
    const items = this.chatCtx.items;
    // Only the id of the last item already handled is kept (not every id), so a long
    // conversation costs nothing; if that item is gone, the turn is what follows the last reply.
    const last = this.#owner.chatState.lastItemId;
    let from = last ? items.findIndex((item) => item.id === last) + 1 : 0;
    if (last && from === 0) {
      from =
        items.findLastIndex((item) => item.type === 'message' && item.role === 'assistant') + 1;
    }
    const fresh: string[] = [];
    const instructions: string[] = [];
    for (const [index, item] of items.entries()) {
      if (item.type !== 'message') continue;
      if (item.role === 'system' || item.role === 'developer') {
        if (item.textContent) instructions.push(item.textContent);
      } else if (item.role === 'user' && index >= from && item.textContent?.trim()) {
        fresh.push(item.textContent);
      }
    }
    this.#markSeen();
    if (fresh.length === 0) return null;
    return {
      message: fresh.join('\n'),
      instructions: instructions.join('\n'),
      tools: this.#runTools(),
    };
  }

  #markSeen(): void {
    this.#owner.chatState.lastItemId =
      this.chatCtx.items.at(-1)?.id ?? this.#owner.chatState.lastItemId;
  }

  /** The Agent's tools join the default tools (an Agent tool wins over a default of the same name). */
  #runTools(): BuiltInTool[] | undefined {
    const agentTools = this.toolCtx ? llm.sortedToolEntries(this.toolCtx) : [];
    if (agentTools.length === 0) return undefined;
    const converted: FunctionTool[] = agentTools.map(([name, tool]) => {
      const { $schema: _schema, ...parameters } = llm.toJsonSchema(
        tool.parameters,
        true,
        false,
      ) as Record<string, unknown>;
      return {
        type: 'function',
        function: {
          name,
          description: tool.description,
          parameters: parameters as FunctionTool['function']['parameters'],
        },
      };
    });
    const names = new Set(converted.map((t) => t.function.name));
    return [
      ...this.#owner.defaultTools.filter(
        (t) => t.type !== 'function' || !names.has(t.function.name),
      ),
      ...converted,
    ];
  }
}

/** The framework's error for a failed run, by the table in failures.ts, so its retry policy applies. */
export function frameworkErrorOf(failure: RunFailure, emitted: boolean): APIError {
  const retryable = !emitted && failure.retryable;
  const body = {
    reason: failure.reason,
    code: failure.code ?? failure.reason,
    runId: failure.runId ?? null,
  };
  const options = { retryable };
  switch (FAILURES[failure.reason].framework) {
    case 'APITimeoutError':
      return new APITimeoutError({ message: failure.message, options });
    case 'APIConnectionError':
      return new APIConnectionError({ message: failure.message, options });
    case 'status':
      if (failure.status !== undefined) {
        return new APIStatusError({
          message: failure.message,
          options: { statusCode: failure.status, retryable, body },
        });
      }
      return new APIError(failure.message, { retryable: false, body });
    case 'APIError':
      return new APIError(failure.message, { retryable: false, body });
  }
}
