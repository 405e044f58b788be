/**
 * Validates what the emulator sends against OpenAI's published OpenAPI description in
 * ../shared/openai-openapi. Two rewrites make it JSON Schema 2020 (local refs, `nullable`);
 * format checks are off because the description uses non-standard formats such as `unixtime`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

const SPEC_PATH = fileURLToPath(
  new URL('../../../shared/openai-openapi/openapi.json', import.meta.url),
);

type Node = unknown;

function rewrite(node: Node): Node {
  if (Array.isArray(node)) return node.map(rewrite);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'discriminator' || key === 'nullable' || key.startsWith('x-')) continue;
    // Filters are recursive through 2019-09 keywords; nothing we send uses them.
    if (key === '$recursiveAnchor') continue;
    if (key === '$recursiveRef') {
      out.$ref = 'openai#/$defs/CompoundFilter';
      continue;
    }
    if (key === '$ref' && typeof value === 'string') {
      out.$ref = value.replace('#/components/schemas/', 'openai#/$defs/');
      continue;
    }
    out[key] = rewrite(value);
  }
  const record = node as Record<string, unknown>;
  // `allOf: [X, { nullable: true }]` is how the description marks a nullable reference.
  if (Array.isArray(record.allOf) && record.allOf.some(isNullableMarker)) {
    out.allOf = (out.allOf as Node[]).filter(
      (_, i) => !isNullableMarker((record.allOf as Node[])[i]),
    );
    return { anyOf: [out, { type: 'null' }] };
  }
  if (record.nullable === true) {
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
      return out;
    }
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

function isNullableMarker(node: Node): boolean {
  return (
    typeof node === 'object' &&
    node !== null &&
    (node as Record<string, unknown>).nullable === true &&
    Object.keys(node).length === 1
  );
}

let ajv: Ajv2020 | undefined;
const cache = new Map<string, ValidateFunction>();

export function validator(schemaName: string): ValidateFunction {
  const cached = cache.get(schemaName);
  if (cached) return cached;
  if (!ajv) {
    const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as {
      components: { schemas: Record<string, unknown> };
    };
    ajv = new Ajv2020({ strict: false, validateFormats: false, validateSchema: false });
    ajv.addSchema({ $id: 'openai', $defs: rewrite(spec.components.schemas) });
  }
  const validate = ajv.compile({ $ref: `openai#/$defs/${schemaName}` });
  cache.set(schemaName, validate);
  return validate;
}

/** Returns a readable list of problems, empty when `value` is valid. */
export function problems(schemaName: string, value: unknown): string[] {
  const validate = validator(schemaName);
  if (validate(value)) return [];
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

const ASSISTANT_DATA: Array<[RegExp, string]> = [
  [/^thread\.created$/, 'ThreadObject'],
  [/^thread\.run\.step\.delta$/, 'RunStepDeltaObject'],
  [/^thread\.run\.step\./, 'RunStepObject'],
  [/^thread\.run\./, 'RunObject'],
  [/^thread\.message\.delta$/, 'MessageDeltaObject'],
  [/^thread\.message\./, 'MessageObject'],
];

/**
 * Problems with one streamed event: the whole `{ event, data }` against AssistantStreamEvent, or
 * the data against ResponseStreamEvent. When the union rejects it, the specific schema explains why.
 */
export function eventProblems(
  protocol: 'assistants' | 'responses',
  event: { event: string; data: unknown },
): string[] {
  if (protocol === 'assistants') {
    const found = problems('AssistantStreamEvent', { event: event.event, data: event.data });
    if (found.length === 0) return [];
    const specific = ASSISTANT_DATA.find(([pattern]) => pattern.test(event.event))?.[1];
    return [`${event.event}:`, ...(specific ? problems(specific, event.data) : found)];
  }
  const data = event.data as { type?: unknown };
  if (data.type !== event.event)
    return [`event name ${event.event} differs from type ${String(data.type)}`];
  const found = problems('ResponseStreamEvent', data);
  if (found.length === 0) return [];
  const specific = responseEventSchema(String(data.type));
  return [`${event.event}:`, ...(specific ? problems(specific, data) : found)];
}

let responseTypes: Map<string, string> | undefined;

function responseEventSchema(type: string): string | undefined {
  if (!responseTypes) {
    const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as {
      components: {
        schemas: Record<string, { anyOf?: Array<{ $ref: string }> } & Record<string, unknown>>;
      };
    };
    const schemas = spec.components.schemas;
    responseTypes = new Map();
    for (const ref of schemas.ResponseStreamEvent?.anyOf ?? []) {
      const name = ref.$ref.split('/').pop()!;
      const props = schemas[name]?.properties as { type?: { enum?: string[] } } | undefined;
      for (const t of props?.type?.enum ?? []) responseTypes.set(t, name);
    }
  }
  return responseTypes.get(type);
}

interface Operation {
  pattern: RegExp;
  method: string;
  schema: unknown;
  validate?: ValidateFunction;
}

let operations: Operation[] | undefined;

/**
 * Problems with a request body the client sent, checked against the operation's requestBody
 * schema in the description; requests without a JSON body schema pass.
 */
export function requestProblems(method: string, path: string, body: unknown): string[] {
  if (!operations) {
    const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>
      >;
    };
    operations = [];
    for (const [template, ops] of Object.entries(spec.paths)) {
      const pattern = new RegExp(`^/v1${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      for (const [verb, op] of Object.entries(ops)) {
        const schema = op.requestBody?.content?.['application/json']?.schema;
        if (schema) operations.push({ pattern, method: verb.toUpperCase(), schema });
      }
    }
  }
  const operation = operations.find((o) => o.method === method && o.pattern.test(path));
  if (!operation) return [];
  validator('Metadata'); // makes sure the shared definitions are loaded
  const validate = (operation.validate ??= ajv!.compile(rewrite(operation.schema) as object));
  if (validate(body)) return [];
  return (validate.errors ?? [])
    .slice(0, 5)
    .map(
      (e) =>
        `${method} ${path}: ${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
    );
}
