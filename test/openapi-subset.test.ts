/**
 * The committed subset of OpenAI's description (test/fixtures/openai-openapi.subset.json) is
 * complete, says where it came from, and still rejects what the official schemas reject: events
 * the emulator really sent pass, and the same events broken in one place fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRIPTS } from './support/assistant.js';
import { startEmulator, type EmulatorFixture } from './support/emulator.js';
import { eventProblems, problems, requestProblems, spec, validator } from './support/openapi.js';

type Captured = { event: string; data: Record<string, unknown> };

let fx: EmulatorFixture;
const sent: Record<'assistants' | 'responses', Captured[]> = { assistants: [], responses: [] };

beforeAll(async () => {
  fx = await startEmulator({ scripts: SCRIPTS });
  const assistant = await fx.client.beta.assistants.create({ model: 'emulator-1' });
  await fx.client.beta.threads
    .createAndRunStream({
      assistant_id: assistant.id,
      thread: { messages: [{ role: 'user', content: 'Tell me about TypeScript' }] },
    })
    .finalRun();
  await fx.client.responses
    .stream({ model: 'emulator-1', input: 'Tell me about TypeScript' })
    .finalResponse();
  for (const e of fx.emulator.events)
    sent[e.protocol].push({ event: e.event, data: e.data as Record<string, unknown> });
});

afterAll(() => fx.emulator.close());

/** The first event named `name`, deep-copied so a test can break it. */
function copyOf(protocol: 'assistants' | 'responses', name: string): Captured {
  const found = sent[protocol].find((e) => e.event === name);
  if (!found) throw new Error(`the emulator sent no ${name} event`);
  return structuredClone(found);
}

describe('the committed OpenAPI subset', () => {
  it('records its source and holds every schema its references name', () => {
    const subset = spec();
    expect(subset['x-subset']).toMatchObject({
      source: {
        repository: 'openai/openai-openapi',
        commit: expect.stringMatching(/^[0-9a-f]{40}$/),
        commitDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      },
      generator: 'scripts/openapi-subset.ts',
    });
    const names = new Set(Object.keys(subset.components.schemas));
    const missing = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (typeof node !== 'object' || node === null) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string') {
          const name = value.replace('#/components/schemas/', '');
          if (!names.has(name)) missing.add(value);
        } else walk(value);
      }
    };
    walk(subset.paths);
    walk(subset.components.schemas);
    expect([...missing]).toEqual([]);
    for (const root of subset['x-subset'].roots) expect(names).toContain(root);
    // Every root compiles: Ajv throws on a reference it cannot resolve.
    for (const root of subset['x-subset'].roots) expect(typeof validator(root)).toBe('function');
  });

  it('accepts the events the emulator sent, of both protocols', () => {
    expect(sent.assistants.length).toBeGreaterThan(5);
    expect(sent.responses.length).toBeGreaterThan(5);
    for (const protocol of ['assistants', 'responses'] as const)
      for (const event of sent[protocol]) expect(eventProblems(protocol, event)).toEqual([]);
  });

  it('rejects Assistants events broken in one place', () => {
    const noId = copyOf('assistants', 'thread.run.created');
    delete noId.data.id;
    expect(eventProblems('assistants', noId).join(' ')).toMatch(/required.*"id"/);

    const badStatus = copyOf('assistants', 'thread.run.completed');
    badStatus.data.status = 'finished';
    expect(eventProblems('assistants', badStatus).join(' ')).toMatch(/\/status.*allowed values/);

    const badDelta = copyOf('assistants', 'thread.message.delta');
    (badDelta.data.delta as { content: unknown }).content = 'text';
    expect(eventProblems('assistants', badDelta).join(' ')).toMatch(/\/delta\/content.*array/);

    const mismatched = copyOf('assistants', 'thread.message.completed');
    mismatched.event = 'thread.run.completed';
    expect(eventProblems('assistants', mismatched)).not.toEqual([]);

    const unknown = copyOf('assistants', 'thread.run.created');
    unknown.event = 'thread.run.started';
    expect(eventProblems('assistants', unknown)).not.toEqual([]);
  });

  it('rejects Responses events broken in one place', () => {
    const noDelta = copyOf('responses', 'response.output_text.delta');
    delete noDelta.data.delta;
    expect(eventProblems('responses', noDelta).join(' ')).toMatch(/required.*"delta"/);

    const badSequence = copyOf('responses', 'response.output_text.delta');
    badSequence.data.sequence_number = 'first';
    expect(eventProblems('responses', badSequence).join(' ')).toMatch(/sequence_number.*integer/);

    const badStatus = copyOf('responses', 'response.completed');
    (badStatus.data.response as { status: unknown }).status = 'finished';
    expect(eventProblems('responses', badStatus).join(' ')).toMatch(/status/);

    const renamed = copyOf('responses', 'response.created');
    renamed.event = renamed.data.type = 'response.begun';
    expect(eventProblems('responses', renamed)).not.toEqual([]);
  });

  it('rejects objects and request bodies that break the official schemas', () => {
    expect(
      problems('ConversationResource', {
        id: 'conv_1',
        object: 'conversation',
        metadata: {},
      }),
    ).toEqual([expect.stringMatching(/required.*"created_at"/)]);
    // `description` is both an annotation (stripped) and a property name (kept).
    expect(
      requestProblems('POST', '/v1/assistants', { model: 'emulator-1', description: 7 }).join(' '),
    ).toMatch(/\/description/);
    expect(requestProblems('POST', '/v1/assistants', { model: 'emulator-1' })).toEqual([]);
    expect(requestProblems('POST', '/v1/threads/thread_1/runs', { assistant_id: 42 })).not.toEqual(
      [],
    );
    expect(requestProblems('POST', '/v1/responses', { model: 'emulator-1', input: 5 })).not.toEqual(
      [],
    );
    // A request the subset does not cover is reported, not waved through.
    expect(requestProblems('POST', '/v1/vector_stores', {})).toEqual([
      'POST /v1/vector_stores: not covered by the subset',
    ]);
  });
});
