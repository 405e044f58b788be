/**
 * The emulator's deterministic "model": a script of steps chosen per request by rules. A rule
 * matches the newest user message (substring or RegExp), the assistant id or the model name;
 * the first matching rule wins, and a request no rule matches gets the default reply.
 */

/** What a dynamic step sees when it is played. */
export interface ScriptContext {
  /** The newest user message text of this run. */
  message: string;
  /** Instructions in force for this run (assistant / request instructions). */
  instructions: string | null;
  additionalInstructions: string | null;
  /** Names of the function tools the run may call. */
  functionNames: string[];
  /** Tool outputs submitted so far in this run, in submission order. */
  toolOutputs: Array<{ callId: string; output: string }>;
}

/** Text a step streams: fixed, or made from what the run has seen so far. */
export type TextSource = string | ((context: ScriptContext) => string);

/** A function call a script makes the model ask for. */
export interface ScriptedFunctionCall {
  name: string;
  /** Object arguments are JSON-encoded; a string is sent as is (it may be malformed on purpose). */
  arguments: string | Record<string, unknown>;
}

/** One step of a script: text, tool calls, a failure, or a fault of the connection. */
export type ScriptStep =
  /** Streams text, one word per delta. */
  | { text: TextSource }
  /** One or several function calls in one step; the run waits for their outputs. */
  | { functionCalls: ScriptedFunctionCall[] }
  | { codeInterpreter: { input: string; output: string } }
  | {
      fileSearch: {
        query: string;
        results?: Array<{ fileName: string; score: number; text: string }>;
      };
    }
  /** The run fails with `last_error` (Assistants) or `error` (Responses). */
  | { fail: { code: 'server_error' | 'rate_limit_exceeded' | 'invalid_prompt'; message: string } }
  | { expire: true }
  | { incomplete: 'max_completion_tokens' | 'max_prompt_tokens' }
  /** The server closes every open stream of this run abruptly; the run itself goes on. */
  | { dropConnection: true }
  /** Nothing is sent for this long. */
  | { stallMs: number };

/** What the emulated model does for one run, step by step. */
export interface Script {
  steps: ScriptStep[];
  /** Delay before each text delta; overrides the server's `tokenDelayMs`. */
  tokenDelayMs?: number;
  /**
   * Requests that create or continue a run answer with this HTTP error instead, `times` times
   * (counted per rule), before they succeed.
   */
  failRequests?: { status: number; times: number; retryAfterSeconds?: number; message?: string };
}

/** Chooses a script for the requests it matches: all the fields given must match. */
export interface ScriptRule {
  /** Substring of, or pattern for, the newest user message. */
  message?: string | RegExp;
  assistantId?: string;
  model?: string;
  script: Script;
}

export interface ScriptSelector {
  message: string;
  assistantId?: string | undefined;
  model?: string | undefined;
}

/** A rule plus how many of its failRequests were used. */
export interface ActiveRule {
  rule: ScriptRule | undefined;
  script: Script;
}

export function defaultScript(): Script {
  return {
    steps: [{ text: (ctx) => `You said: ${ctx.message}` }],
  };
}

export function matches(rule: ScriptRule, selector: ScriptSelector): boolean {
  if (rule.assistantId !== undefined && rule.assistantId !== selector.assistantId) return false;
  if (rule.model !== undefined && rule.model !== selector.model) return false;
  if (rule.message === undefined) return true;
  return typeof rule.message === 'string'
    ? selector.message.includes(rule.message)
    : rule.message.test(selector.message);
}

export function renderText(source: TextSource, context: ScriptContext): string {
  return typeof source === 'string' ? source : source(context);
}

/** Splits text into word-sized deltas, keeping whitespace so that the deltas join back exactly. */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text.length > 0 ? [text] : []);
}

export function countTokens(text: string | null | undefined): number {
  return text ? tokenize(text).length : 0;
}

export function encodeArguments(args: ScriptedFunctionCall['arguments']): string {
  return typeof args === 'string' ? args : JSON.stringify(args);
}

/**
 * Rules in JSON form, for `assistant-host emulator --scripts file.json`: the same shape as
 * ScriptRule, with `message` a plain substring and every text a plain string.
 */
export function parseScriptRules(json: unknown, source: string): ScriptRule[] {
  if (!Array.isArray(json)) throw new Error(`${source}: expected an array of rules`);
  return json.map((rule: unknown, index) => {
    const at = `${source}[${index}]`;
    if (typeof rule !== 'object' || rule === null) throw new Error(`${at}: expected an object`);
    const r = rule as Record<string, unknown>;
    const script = r.script as Record<string, unknown> | undefined;
    if (!script || !Array.isArray(script.steps)) {
      throw new Error(`${at}.script.steps: expected an array of steps`);
    }
    return rule as ScriptRule;
  });
}
