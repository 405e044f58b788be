/**
 * The one place that decides what a tool call means for the caller: function calls get an
 * output from the handler (or a clear error output, so a run never hangs in requires_action);
 * code_interpreter and file_search calls are only reported to it.
 */
import type { ToolOutput } from './events.js';
import type { Logger } from './logger.js';
import {
  encodeToolOutput,
  type FunctionToolCall,
  type ToolCall,
  type ToolCallHandler,
} from './tools.js';

export interface ToolDispatchOptions {
  handler: () => ToolCallHandler | undefined;
  logger: Logger;
  /** Outputs longer than this (UTF-8 bytes) are replaced with an error output. */
  maxOutputBytes: number;
}

function errorOutput(message: string): string {
  return JSON.stringify({ error: message });
}

export async function answerFunctionCalls(
  calls: FunctionToolCall[],
  options: ToolDispatchOptions,
): Promise<ToolOutput[]> {
  return Promise.all(
    calls.map(async (call) => ({ toolCallId: call.id, output: await answerOne(call, options) })),
  );
}

async function answerOne(call: FunctionToolCall, options: ToolDispatchOptions): Promise<string> {
  const { logger } = options;
  const name = call.function.name;
  const handler = options.handler();
  if (!handler) {
    logger.warn('function call without a handler; set onToolCallCreated', {
      function: name,
      callId: call.id,
    });
    return errorOutput(`No handler is registered for function ${name}.`);
  }
  let value: unknown;
  try {
    value = await handler(call);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.warn('tool handler threw', { function: name, callId: call.id, error: message });
    return errorOutput(`Function ${name} failed: ${message}`);
  }
  if (value === null || value === undefined) {
    logger.warn('tool handler returned no output for a function call', {
      function: name,
      callId: call.id,
    });
    return errorOutput(`Function ${name} returned no output.`);
  }
  let output: string;
  try {
    output = encodeToolOutput(value);
  } catch (error) {
    logger.warn('tool handler returned a value that cannot be encoded as JSON', {
      function: name,
      callId: call.id,
      error: (error as Error).message,
    });
    return errorOutput(`Function ${name} returned a value that cannot be encoded as JSON.`);
  }
  const bytes = Buffer.byteLength(output, 'utf8');
  if (bytes > options.maxOutputBytes) {
    logger.warn('tool output too large; replaced with an error output', {
      function: name,
      callId: call.id,
      bytes,
      maxBytes: options.maxOutputBytes,
    });
    return errorOutput(
      `Function ${name} returned ${bytes} bytes, more than the ${options.maxOutputBytes}-byte limit.`,
    );
  }
  return output;
}

/** Tells the handler about a code_interpreter or file_search call; its return value is ignored. */
export function reportToolCall(call: ToolCall, options: ToolDispatchOptions): void {
  const handler = options.handler();
  if (!handler) return;
  Promise.resolve()
    .then(() => handler(call))
    .catch((error: unknown) => {
      options.logger.warn('tool handler threw on a reported call', {
        type: call.type,
        callId: call.id,
        error: error instanceof Error ? error.message : String(error),
      });
    });
}
