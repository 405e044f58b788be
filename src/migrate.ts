/**
 * Moving an assistant's definition into configuration: the Assistants API kept it server-side
 * (an `asst_...` object), the Responses API takes it with every response. optionsFromAssistant
 * turns the JSON of `GET /v1/assistants/{id}` into AssistantLLM options for `api: 'responses'`.
 */
import { ConfigError } from './errors.js';
import { defaultLogger, type Logger } from './logger.js';
import { validateTools, type BuiltInTool } from './tools.js';

/** The parts of an assistant object (`GET /v1/assistants/{id}`) that carry over. */
export interface ExportedAssistant {
  /** `asst_...`; named in the warning about what does not carry over. */
  id?: string;
  /** The assistant's model; it may be retired by now: override it where it is. */
  model: string;
  /** Becomes the `instructions` option. */
  instructions?: string | null;
  /** code_interpreter, file_search and function tools, as the Assistants API shaped them. */
  tools?: unknown[] | null;
  /** The vector stores file_search read (kept) and code interpreter files (no option: warned). */
  tool_resources?: {
    file_search?: { vector_store_ids?: string[] | null } | null;
    code_interpreter?: { file_ids?: string[] | null } | null;
  } | null;
  /** No option carries a non-default value: warned. */
  temperature?: number | null;
  /** No option carries a non-default value: warned. */
  top_p?: number | null;
  /** No option carries one other than 'auto': warned. */
  response_format?: unknown;
}

/** AssistantLLM options that define the assistant; spread them and add the rest. */
export interface AssistantDefinitionOptions {
  /** The Responses API: an assistant's definition travels with each response there. */
  api: 'responses';
  /** The assistant's model, as exported. */
  model: string;
  /** The assistant's instructions, when it had any. */
  instructions?: string;
  /** The assistant's tools in AssistantLLM's shapes. */
  tools: BuiltInTool[];
  /** The vector stores the assistant's file_search read, when it had any. */
  fileSearch?: { vectorStoreIds: string[] };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * AssistantLLM options from an exported assistant: its model, instructions, tools and the
 * vector stores its file_search read. What has no equivalent option (code interpreter files,
 * a non-default temperature, top_p or response format) is named in one warning on `logger`.
 * Bad input fails with a ConfigError naming the field, as `assistant.tools[1].function.name`.
 */
export function optionsFromAssistant(
  assistant: ExportedAssistant,
  options: { logger?: Logger } = {},
): AssistantDefinitionOptions {
  const raw: unknown = assistant;
  if (!isRecord(raw)) throw new ConfigError('assistant', 'expected an assistant object');
  if (typeof raw.model !== 'string' || raw.model === '')
    throw new ConfigError(
      'assistant.model',
      `expected a model name, got ${JSON.stringify(raw.model)}`,
    );
  const instructions = raw.instructions;
  if (instructions !== undefined && instructions !== null && typeof instructions !== 'string')
    throw new ConfigError('assistant.instructions', 'expected a string or null');
  const tools = validateTools(
    Array.isArray(raw.tools) ? raw.tools.map(fromAssistantTool) : (raw.tools ?? undefined),
    'assistant.tools',
  );
  const resources = isRecord(raw.tool_resources) ? raw.tool_resources : {};
  const fileSearch = isRecord(resources.file_search) ? resources.file_search : {};
  const vectorStoreIds = fileSearch.vector_store_ids ?? [];
  if (!Array.isArray(vectorStoreIds) || vectorStoreIds.some((id) => typeof id !== 'string'))
    throw new ConfigError(
      'assistant.tool_resources.file_search.vector_store_ids',
      'expected an array of vector store ids',
    );

  const dropped: string[] = [];
  const codeFiles = isRecord(resources.code_interpreter) ? resources.code_interpreter.file_ids : [];
  if (Array.isArray(codeFiles) && codeFiles.length > 0)
    dropped.push(`tool_resources.code_interpreter.file_ids (${codeFiles.length} files)`);
  if (typeof raw.temperature === 'number' && raw.temperature !== 1)
    dropped.push(`temperature ${raw.temperature}`);
  if (typeof raw.top_p === 'number' && raw.top_p !== 1) dropped.push(`top_p ${raw.top_p}`);
  if (
    raw.response_format !== undefined &&
    raw.response_format !== null &&
    raw.response_format !== 'auto'
  )
    dropped.push('response_format');
  if (dropped.length > 0) {
    (options.logger ?? defaultLogger()).warn(
      `assistant ${typeof raw.id === 'string' ? raw.id : ''}: no AssistantLLM option carries ${dropped.join(', ')}; they are left out`,
    );
  }
  return {
    api: 'responses',
    model: raw.model,
    ...(typeof instructions === 'string' && instructions !== '' ? { instructions } : {}),
    tools,
    ...(vectorStoreIds.length > 0
      ? { fileSearch: { vectorStoreIds: vectorStoreIds as string[] } }
      : {}),
  };
}

/** An assistant's tool as AssistantLLM's tools take it: nulls dropped, dated rankers as 'auto'. */
function fromAssistantTool(tool: unknown): unknown {
  if (!isRecord(tool)) return tool;
  if (tool.type === 'function' && isRecord(tool.function)) {
    const fn = tool.function;
    return {
      type: 'function',
      function: Object.fromEntries(Object.entries(fn).filter(([, value]) => value !== null)),
    };
  }
  if (tool.type === 'file_search' && isRecord(tool.file_search)) {
    const { max_num_results, ranking_options } = tool.file_search;
    const ranking = isRecord(ranking_options) ? ranking_options : undefined;
    return {
      type: 'file_search',
      file_search: {
        ...(typeof max_num_results === 'number' ? { max_num_results } : {}),
        ...(ranking
          ? {
              ranking_options: {
                // The Assistants API's rankers are 'auto' and dated ones; AssistantLLM knows 'auto'.
                ranker: 'auto',
                ...(typeof ranking.score_threshold === 'number'
                  ? { score_threshold: ranking.score_threshold }
                  : {}),
              },
            }
          : {}),
      },
    };
  }
  return tool;
}
