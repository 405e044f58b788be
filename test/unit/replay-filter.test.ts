/** The room's filter on a run's events: each piece once, in order, whatever attempts send it. */
import { describe, expect, it } from 'vitest';
import type { RunEvent, RunEventBody } from '../../src/events.js';
import { ATTEMPT_SPAN } from '../../queues/event-publisher.js';
import { ReplayFilter } from '../../queues/replay-filter.js';

const at = (attempt: number, n: number, body: RunEventBody): RunEvent => ({
  ...body,
  seq: attempt * ATTEMPT_SPAN + n,
});
const text = (t: string): RunEventBody => ({ type: 'text.delta', text: t });

/** Feeds the events and returns the text passed, or 'gap'. */
function passedText(events: Array<[RunEvent, number?]>): string | 'gap' {
  const filter = new ReplayFilter();
  let out = '';
  for (const [event, offset] of events) {
    const passed = filter.admit(event, offset);
    if (passed === 'gap') return 'gap';
    if (passed?.type === 'text.delta') out += passed.text;
  }
  return out;
}

describe('ReplayFilter', () => {
  it('passes one attempt as it is and drops what is read twice', () => {
    const a = at(1, 1, text('Hel'));
    const b = at(1, 2, text('lo'));
    expect(
      passedText([
        [a, 0],
        [b, 3],
        [b, 3],
        [a, 0],
      ]),
    ).toBe('Hello');
  });

  it('keeps only the text a taken-over run lacks when the new attempt replays from its checkpoint', () => {
    // The first attempt delivered "Hello, wor" and died; the second replays its segment from 7.
    expect(
      passedText([
        [at(1, 1, text('Hello, ')), 0],
        [at(1, 2, text('wor')), 7],
        [at(2, 1, text('wo')), 7],
        [at(2, 2, text('rl')), 9],
        [at(2, 3, text('d!')), 11],
      ]),
    ).toBe('Hello, world!');
  });

  it('drops everything a superseded attempt sends after a later one was heard', () => {
    expect(
      passedText([
        [at(1, 1, text('a')), 0],
        [at(2, 1, text('ab')), 0],
        [at(1, 2, text('X')), 1],
        [at(2, 2, text('c')), 2],
      ]),
    ).toBe('abc');
  });

  it('reports a gap in an attempt, and text that starts past what it has', () => {
    expect(
      passedText([
        [at(1, 1, text('a')), 0],
        [at(1, 3, text('c')), 2],
      ]),
    ).toBe('gap');
    expect(
      passedText([
        [at(1, 1, text('a')), 0],
        [at(2, 1, text('c')), 2],
      ]),
    ).toBe('gap');
  });

  it('passes a tool call, a request for outputs and the run start once across attempts', () => {
    const filter = new ReplayFilter();
    const toolCall = {
      id: 'c1',
      type: 'function' as const,
      function: { name: 'f', arguments: '{}' },
    };
    const call: RunEventBody = { type: 'tool_call.created', toolCall };
    const required: RunEventBody = {
      type: 'tool_outputs.required',
      runId: 'r',
      toolCalls: [toolCall],
    };
    const started: RunEventBody = { type: 'run.started', runId: 'r', threadId: 't' };
    const first = [started, call, required].map((e, i) => filter.admit(at(1, i + 1, e)));
    const replayed = [started, call, required].map((e, i) => filter.admit(at(2, i + 1, e)));
    expect(first.every((e) => e !== null && e !== 'gap')).toBe(true);
    expect(replayed).toEqual([null, null, null]);
    expect(filter.admit(at(2, 4, { type: 'run.completed', runId: 'r' }))).toMatchObject({
      type: 'run.completed',
    });
  });
});
