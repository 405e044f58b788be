/**
 * The room's guard on one run's events in fleet mode. Events can arrive twice (a reader that
 * reconnects), from two attempts (a worker that took the run over replays it from its last
 * checkpoint while the room has part of it), or with a gap (Redis lost some). The filter passes
 * each piece of the run once, in order: text by its offset in the run's text, tool calls by id,
 * the rest once each; an attempt's events are dropped once a later attempt has been heard; a gap
 * is reported, never passed over.
 */
import type { RunEvent } from '../src/events.js';
import { ATTEMPT_SPAN } from './event-publisher.js';

/** What becomes of an event: passed (perhaps with the part of its text the room lacks), dropped, or a gap. */
export type Admission = RunEvent | null | 'gap';

export class ReplayFilter {
  #attempt = 0;
  #lastSeq = 0;
  /** Characters of the run's text passed so far. */
  #text = 0;
  readonly #seen = new Set<string>();

  /** `textOffset`: where a `text.delta`'s text starts in the run's text, as the worker said. */
  admit(event: RunEvent, textOffset?: number): Admission {
    const attempt = Math.floor(event.seq / ATTEMPT_SPAN);
    if (attempt < this.#attempt) return null;
    if (attempt > this.#attempt) {
      this.#attempt = attempt;
      this.#lastSeq = attempt * ATTEMPT_SPAN;
    }
    if (event.seq <= this.#lastSeq) return null;
    if (event.seq > this.#lastSeq + 1) return 'gap';
    this.#lastSeq = event.seq;
    switch (event.type) {
      case 'text.delta': {
        if (textOffset === undefined) {
          this.#text += event.text.length;
          return event;
        }
        const end = textOffset + event.text.length;
        if (end <= this.#text) return null;
        if (textOffset > this.#text) return 'gap';
        const lacking = event.text.slice(this.#text - textOffset);
        this.#text = end;
        return lacking === event.text ? event : { ...event, text: lacking };
      }
      case 'thread.created':
      case 'run.started':
        return this.#once(event.type, event);
      case 'tool_call.created':
        return this.#once(`call:${event.toolCall.id}`, event);
      case 'tool_outputs.required':
        return this.#once(`outputs:${event.toolCalls.map((c) => c.id).join(',')}`, event);
      default:
        return event;
    }
  }

  #once(key: string, event: RunEvent): Admission {
    if (this.#seen.has(key)) return null;
    this.#seen.add(key);
    return event;
  }
}
