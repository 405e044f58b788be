/**
 * The layout of the fleet's stream entries, written and read here only: a room's inbox (run
 * events from workers), a run's control stream (tool outputs and cancel from the room) and a
 * worker's control inbox (nudges: which run has new control messages).
 * begin-run.lua also reads a control entry's payload (its second value) to see a cancel sent
 * before the run began; keep the two in step.
 */
import type { RunEvent } from '../src/events.js';
import type { ControlMessage } from './job.js';

/** A stream entry's values as Redis returns them: name, value, name, value, ... */
export type EntryFields = string[];

/** An inbox entry: one event of one run, tagged with the run's id. */
export interface InboxEntry {
  runId: string;
  event: RunEvent;
  /**
   * For `text.delta`: where its text starts in the run's text. A worker that took the run over
   * sends text again from a checkpoint; the room keeps only what it lacks.
   */
  textOffset?: number;
}

export const inboxCodec = {
  encode({ runId, event, textOffset }: InboxEntry): EntryFields {
    const fields = ['e', JSON.stringify(event), 'r', runId];
    if (textOffset !== undefined) fields.push('o', String(textOffset));
    return fields;
  },

  /** The run event an entry carries; null for anything else (the inbox's own first entry). */
  decode(fields: EntryFields): InboxEntry | null {
    const [eventName, event, runName, runId, offsetName, offset] = fields;
    if (eventName !== 'e' || runName !== 'r' || event === undefined || runId === undefined) {
      return null;
    }
    const entry: InboxEntry = { runId, event: JSON.parse(event) as RunEvent };
    if (offsetName === 'o' && offset !== undefined) entry.textOffset = Number(offset);
    return entry;
  },
};

export const controlCodec = {
  encode(message: ControlMessage): EntryFields {
    return ['c', JSON.stringify(message)];
  },

  /** The message an entry carries; null when it is not one (the worker logs and skips it). */
  decode(fields: EntryFields): ControlMessage | null {
    const [name, payload] = fields;
    if (name !== 'c' || payload === undefined) return null;
    let message: unknown;
    try {
      message = JSON.parse(payload);
    } catch {
      return null; // reported by the caller as a malformed control message
    }
    if (typeof message !== 'object' || message === null) return null;
    const { type, outputs } = message as { type?: unknown; outputs?: unknown };
    if (type === 'cancel') return { type };
    if (type === 'tool_outputs' && Array.isArray(outputs) && outputs.every(isToolOutput)) {
      return { type, outputs: outputs.map(({ toolCallId, output }) => ({ toolCallId, output })) };
    }
    return null;
  },
};

function isToolOutput(value: unknown): value is { toolCallId: string; output: string } {
  if (typeof value !== 'object' || value === null) return false;
  const { toolCallId, output } = value as Record<string, unknown>;
  return typeof toolCallId === 'string' && typeof output === 'string';
}

/** A worker's control inbox entry: run `runId` has new control messages on its control stream. */
export const nudgeCodec = {
  encode(runId: string): EntryFields {
    return ['r', runId];
  },

  /** The run a nudge names; null for anything else (the inbox's own keep-alive entries). */
  decode(fields: EntryFields): string | null {
    const [name, runId] = fields;
    return name === 'r' && runId !== undefined ? runId : null;
  },
};
