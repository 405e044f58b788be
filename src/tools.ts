/**
 * Tool definitions (what the caller configures) and tool calls (what the model asks for), in the
 * seed README's shapes, plus their validation. Backends map these to each protocol's own shapes.
 */
import { ConfigError } from './errors.js';

/** The kinds of tool an assistant can use. */
export type BuiltInToolType = 'code_interpreter' | 'file_search' | 'function';

/** The code_interpreter tool: the model runs Python on OpenAI's side. */
export interface CodeInterpreterTool {
  type: 'code_interpreter';
}

/** How file_search ranks its results. */
export interface FileSearchRankingOptions {
  score_threshold?: number;
  ranker?: 'auto' | 'semantic' | 'lexical';
}

/** The file_search tool: the model searches the assistant's vector stores. */
export interface FileSearchTool {
  type: 'file_search';
  file_search?: {
    max_num_results?: number;
    ranking_options?: FileSearchRankingOptions;
  };
}

/** A JSON Schema for function parameters. Kept open: OpenAI accepts any JSON Schema object. */
export interface FunctionParameters {
  type: 'object';
  properties?: Record<string, JsonSchemaProperty>;
  required?: string[];
  [keyword: string]: unknown;
}

/** One property of a function's parameters (a JSON Schema). */
export interface JsonSchemaProperty {
  type?: string | string[];
  description?: string;
  enum?: Array<string | number | boolean | null>;
  items?: JsonSchemaProperty;
  [keyword: string]: unknown;
}

/** A function the model may call; its output comes from onToolCallCreated or an Agent's tool. */
export interface FunctionTool {
  type: 'function';
  function: {
    name: string;
    description?: string;
    parameters?: FunctionParameters;
    strict?: boolean;
  };
}

/** A tool definition, as `tools` and process()'s `runTools` take it. */
export type BuiltInTool = CodeInterpreterTool | FileSearchTool | FunctionTool;

/** The model calls a function: `arguments` is its JSON text, as the model wrote it. */
export interface FunctionToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** What a code_interpreter call produced: its logs or an image file. */
export type CodeInterpreterOutput =
  { type: 'logs'; logs: string } | { type: 'image'; image: { file_id: string } };

/** A code_interpreter step: the code and what it printed (reported, not answered). */
export interface CodeInterpreterToolCall {
  id: string;
  type: 'code_interpreter';
  code_interpreter: { input: string; outputs: CodeInterpreterOutput[] };
}

/** One file_search hit. */
export interface FileSearchResult {
  file_id: string;
  file_name: string;
  score: number;
  text?: string;
}

/** A file_search step: the queries and the hits (reported, not answered). */
export interface FileSearchToolCall {
  id: string;
  type: 'file_search';
  file_search: { queries: string[]; results: FileSearchResult[] };
}

/** A tool call the model made, as onToolCallCreated receives it. */
export type ToolCall = FunctionToolCall | CodeInterpreterToolCall | FileSearchToolCall;

/**
 * The caller's tool handler. For a function call its return value is submitted as the output
 * (JSON-encoded unless it is a string); for code_interpreter and file_search calls it is only
 * informed and its return value is ignored.
 */
export type ToolCallHandler = (toolCall: ToolCall) => unknown;

const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a list of tool definitions; throws ConfigError naming the first bad field. */
export function validateTools(tools: unknown, field: string): BuiltInTool[] {
  if (tools === undefined) return [];
  if (!Array.isArray(tools)) {
    throw new ConfigError(field, `expected an array of tools, got ${describe(tools)}`);
  }
  const names = new Set<string>();
  return tools.map((tool: unknown, index) => {
    const at = `${field}[${index}]`;
    if (!isRecord(tool)) throw new ConfigError(at, `expected a tool object, got ${describe(tool)}`);
    switch (tool.type) {
      case 'code_interpreter':
        return { type: 'code_interpreter' };
      case 'file_search':
        return validateFileSearch(tool, at);
      case 'function': {
        const fn = validateFunction(tool, at);
        if (names.has(fn.function.name)) {
          throw new ConfigError(
            `${at}.function.name`,
            `duplicate function name ${fn.function.name}`,
          );
        }
        names.add(fn.function.name);
        return fn;
      }
      default:
        throw new ConfigError(
          `${at}.type`,
          `expected 'code_interpreter', 'file_search' or 'function', got ${describe(tool.type)}`,
        );
    }
  });
}

function validateFileSearch(tool: Record<string, unknown>, at: string): FileSearchTool {
  const options = tool.file_search;
  if (options === undefined) return { type: 'file_search' };
  if (!isRecord(options)) {
    throw new ConfigError(`${at}.file_search`, `expected an object, got ${describe(options)}`);
  }
  const max = options.max_num_results;
  if (
    max !== undefined &&
    (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 50)
  ) {
    throw new ConfigError(
      `${at}.file_search.max_num_results`,
      `expected an integer from 1 to 50, got ${describe(max)}`,
    );
  }
  const ranking = options.ranking_options;
  if (ranking !== undefined) {
    if (!isRecord(ranking)) {
      throw new ConfigError(
        `${at}.file_search.ranking_options`,
        `expected an object, got ${describe(ranking)}`,
      );
    }
    const threshold = ranking.score_threshold;
    if (
      threshold !== undefined &&
      (typeof threshold !== 'number' || threshold < 0 || threshold > 1)
    ) {
      throw new ConfigError(
        `${at}.file_search.ranking_options.score_threshold`,
        `expected a number from 0 to 1, got ${describe(threshold)}`,
      );
    }
    const ranker = ranking.ranker;
    if (
      ranker !== undefined &&
      ranker !== 'auto' &&
      ranker !== 'semantic' &&
      ranker !== 'lexical'
    ) {
      throw new ConfigError(
        `${at}.file_search.ranking_options.ranker`,
        `expected 'auto', 'semantic' or 'lexical', got ${describe(ranker)}`,
      );
    }
  }
  return { type: 'file_search', file_search: options as FileSearchTool['file_search'] };
}

function validateFunction(tool: Record<string, unknown>, at: string): FunctionTool {
  const fn = tool.function;
  if (!isRecord(fn)) {
    throw new ConfigError(`${at}.function`, `expected an object, got ${describe(fn)}`);
  }
  if (typeof fn.name !== 'string' || !FUNCTION_NAME.test(fn.name)) {
    throw new ConfigError(
      `${at}.function.name`,
      `expected 1 to 64 letters, digits, '_' or '-', got ${describe(fn.name)}`,
    );
  }
  if (fn.description !== undefined && typeof fn.description !== 'string') {
    throw new ConfigError(
      `${at}.function.description`,
      `expected a string, got ${describe(fn.description)}`,
    );
  }
  const params = fn.parameters;
  if (params !== undefined) {
    if (!isRecord(params) || params.type !== 'object') {
      throw new ConfigError(
        `${at}.function.parameters`,
        `expected a JSON Schema object with type 'object', got ${describe(params)}`,
      );
    }
    if (params.properties !== undefined && !isRecord(params.properties)) {
      throw new ConfigError(
        `${at}.function.parameters.properties`,
        `expected an object, got ${describe(params.properties)}`,
      );
    }
    const required = params.required;
    if (
      required !== undefined &&
      (!Array.isArray(required) || required.some((r) => typeof r !== 'string'))
    ) {
      throw new ConfigError(
        `${at}.function.parameters.required`,
        `expected an array of property names, got ${describe(required)}`,
      );
    }
  }
  return tool as unknown as FunctionTool;
}

/** Turns a handler's return value into the string submitted as a function output. */
export function encodeToolOutput(value: unknown): string {
  if (typeof value === 'string') return value;
  const encoded = JSON.stringify(value);
  if (encoded === undefined) throw new TypeError(`a ${typeof value} cannot be encoded as JSON`);
  return encoded;
}
