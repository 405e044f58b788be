/** The one layout of inbox and control entries: what is written reads back, anything else does not. */
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/events.js';
import { controlCodec, inboxCodec } from '../../queues/stream-codec.js';

describe('inbox codec', () => {
  it('reads back the run id and the event it wrote', () => {
    const event: RunEvent = { type: 'text.delta', text: 'héllo "world"\n', seq: 1_000_000_001 };
    const fields = inboxCodec.encode({ runId: 'run-1', event });
    expect(fields.every((f) => typeof f === 'string')).toBe(true);
    expect(inboxCodec.decode(fields)).toEqual({ runId: 'run-1', event });
  });

  it('skips entries that are not run events, such as the inbox’s own first entry', () => {
    expect(inboxCodec.decode(['hello', '1234'])).toBeNull();
    expect(inboxCodec.decode(['e', '{}'])).toBeNull();
    expect(inboxCodec.decode([])).toBeNull();
  });
});

describe('control codec', () => {
  it('reads back a cancel and tool outputs', () => {
    expect(controlCodec.decode(controlCodec.encode({ type: 'cancel' }))).toEqual({
      type: 'cancel',
    });
    const outputs = [{ toolCallId: 'call_1', output: '{"t":18}' }];
    expect(controlCodec.decode(controlCodec.encode({ type: 'tool_outputs', outputs }))).toEqual({
      type: 'tool_outputs',
      outputs,
    });
  });

  it('keeps only the fields a tool output has', () => {
    const fields = [
      'c',
      JSON.stringify({
        type: 'tool_outputs',
        outputs: [{ toolCallId: 'a', output: 'b', extra: 1 }],
      }),
    ];
    expect(controlCodec.decode(fields)).toEqual({
      type: 'tool_outputs',
      outputs: [{ toolCallId: 'a', output: 'b' }],
    });
  });

  it('returns null for anything a room does not write, rather than throwing', () => {
    const bad = [
      ['c', 'not json'],
      ['c', 'null'],
      ['c', '"cancel"'],
      ['c', JSON.stringify({ type: 'stop' })],
      ['c', JSON.stringify({ type: 'tool_outputs' })],
      ['c', JSON.stringify({ type: 'tool_outputs', outputs: [{ toolCallId: 1, output: 'x' }] })],
      ['x', JSON.stringify({ type: 'cancel' })],
      ['c'],
    ];
    for (const fields of bad) expect(controlCodec.decode(fields)).toBeNull();
  });
});
