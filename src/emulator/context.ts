/** What the server gives each protocol: ids, clock, script selection, pacing and event capture. */
import { randomBytes } from 'node:crypto';
import { HttpError, type SseEvent } from './http.js';
import {
  defaultScript,
  matches,
  type Script,
  type ScriptRule,
  type ScriptSelector,
} from './script.js';

/** An OpenAI protocol the local server can serve. */
export type Protocol = 'assistants' | 'responses';

/** A server-sent event the local server streamed, with the run it belonged to. */
export interface CapturedEvent extends SseEvent {
  /** The protocol whose stream carried it. */
  protocol: Protocol;
}

export interface EmulatorSettings {
  /** Delay before each text delta unless a script sets its own. Default 0. */
  tokenDelayMs: number;
  /** How long a run may wait in requires_action before it expires. Default 10 minutes. */
  requiresActionTimeoutMs: number;
}

export class EmulatorContext {
  private readonly failuresUsed = new Map<Script, number>();

  constructor(
    readonly rules: ScriptRule[],
    readonly settings: EmulatorSettings,
    private readonly capture: (event: CapturedEvent) => void,
  ) {}

  id(prefix: string): string {
    return `${prefix}_${randomBytes(12).toString('hex')}`;
  }

  now(): number {
    return Math.floor(Date.now() / 1000);
  }

  select(selector: ScriptSelector): Script {
    return this.rules.find((rule) => matches(rule, selector))?.script ?? defaultScript();
  }

  /** Throws the script's scripted HTTP error while it has uses left. */
  takeRequestFailure(script: Script): void {
    const plan = script.failRequests;
    if (!plan) return;
    const used = this.failuresUsed.get(script) ?? 0;
    if (used >= plan.times) return;
    this.failuresUsed.set(script, used + 1);
    const headers: Record<string, string> = {};
    if (plan.retryAfterSeconds !== undefined)
      headers['retry-after'] = String(plan.retryAfterSeconds);
    const code = plan.status === 429 ? 'rate_limit_exceeded' : 'server_error';
    throw new HttpError(
      plan.status,
      plan.message ?? `Scripted failure ${plan.status} (${used + 1} of ${plan.times}).`,
      code,
      undefined,
      headers,
    );
  }

  tokenDelay(script: Script): number {
    return script.tokenDelayMs ?? this.settings.tokenDelayMs;
  }

  emitted(protocol: Protocol): (event: SseEvent) => void {
    return (event) => this.capture({ protocol, ...event });
  }
}

/** A message's content in either protocol: a string or a list of text parts. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) => {
        if (typeof part !== 'object' || part === null) return '';
        const p = part as { text?: unknown };
        if (typeof p.text === 'string') return p.text;
        if (typeof p.text === 'object' && p.text !== null) {
          const value = (p.text as { value?: unknown }).value;
          return typeof value === 'string' ? value : '';
        }
        return '';
      })
      .join('');
  }
  return '';
}

export function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new HttpError(
      400,
      `Missing required parameter: '${field}'.`,
      'missing_required_parameter',
      undefined,
      {},
      field,
    );
  }
  return value;
}

export function optionalString(body: Record<string, unknown>, field: string): string | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    throw new HttpError(
      400,
      `Invalid type for '${field}': expected a string.`,
      'invalid_type',
      undefined,
      {},
      field,
    );
  }
  return value;
}
