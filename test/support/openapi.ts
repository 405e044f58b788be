/**
 * Validates what the emulator sends against OpenAI's published OpenAPI description: the part of
 * it the suites need, committed in test/fixtures/openai-openapi.subset.json and made from the
 * full description by scripts/openapi-subset.ts (which records the source commit). Two rewrites
 * make it JSON Schema 2020 (local refs, `nullable`); format checks are off because the
 * description uses non-standard formats such as `unixtime`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

export const SUBSET_PATH = fileURLToPath(
  new URL('../fixtures/openai-openapi.subset.json', import.meta.url),
);

type Node = unknown;

interface Spec {
  'x-subset': { operationPrefixes: string[]; roots: string[] };
  paths: Record<
    string,
    Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>
  >;
  components: { schemas: Record<string, Record<string, unknown>> };
}

let loaded: Spec | undefined;

export function spec(): Spec {
  return (loaded ??= JSON.parse(readFileSync(SUBSET_PATH, 'utf8')) as Spec);
}

/** `component` is the schema a `$recursiveRef: "#"` inside it points back to. */
function rewrite(node: Node, component?: string): Node {
  if (Array.isArray(node)) return node.map((item) => rewrite(item, component));
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'discriminator' || key === 'nullable' || key.startsWith('x-')) continue;
    // Filters recurse through the 2019-09 keywords; the 2020 dialect spells that as a plain $ref.
    if (key === '$recursiveAnchor') continue;
    if (key === '$recursiveRef') {
      if (!component) throw new Error('$recursiveRef outside a component schema');
      out.$ref = `openai#/$defs/${component}`;
      continue;
    }
    if (key === '$ref' && typeof value === 'string') {
      out.$ref = value.replace('#/components/schemas/', 'openai#/$defs/');
      continue;
    }
    out[key] = rewrite(value, component);
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

function schemas(): Ajv2020 {
  if (!ajv) {
    const defs = Object.fromEntries(
      Object.entries(spec().components.schemas).map(([name, s]) => [name, rewrite(s, name)]),
    );
    ajv = new Ajv2020({ strict: false, validateFormats: false, validateSchema: false });
    ajv.addSchema({ $id: 'openai', $defs: defs });
  }
  return ajv;
}

export function validator(schemaName: string): ValidateFunction {
  const cached = cache.get(schemaName);
  if (cached) return cached;
  if (!(schemaName in spec().components.schemas))
    throw new Error(
      `${schemaName} is not in ${SUBSET_PATH}; add it to ROOTS in scripts/openapi-subset.ts`,
    );
  const validate = schemas().compile({ $ref: `openai#/$defs/${schemaName}` });
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
    const all = spec().components.schemas;
    responseTypes = new Map();
    for (const ref of (all.ResponseStreamEvent?.anyOf ?? []) as Array<{ $ref: string }>) {
      const name = ref.$ref.split('/').pop()!;
      const props = all[name]?.properties as { type?: { enum?: string[] } } | undefined;
      for (const t of props?.type?.enum ?? []) responseTypes.set(t, name);
    }
  }
  return responseTypes.get(type);
}

interface Operation {
  pattern: RegExp;
  method: string;
  /** The JSON request-body schema; undefined for operations that take none. */
  schema: unknown;
  validate?: ValidateFunction;
}

let operations: Operation[] | undefined;

/**
 * Problems with a request body the client sent, checked against the operation's requestBody
 * schema in the description; operations without a JSON body schema pass. A request under a path
 * the subset does not cover, or matching none of its operations, is a problem: the subset must
 * grow (scripts/openapi-subset.ts) rather than let the request go unchecked.
 */
export function requestProblems(method: string, path: string, body: unknown): string[] {
  if (!operations) {
    operations = [];
    for (const [template, ops] of Object.entries(spec().paths)) {
      const pattern = new RegExp(`^/v1${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      for (const [verb, op] of Object.entries(ops)) {
        const schema = op.requestBody?.content?.['application/json']?.schema;
        operations.push({ pattern, method: verb.toUpperCase(), schema });
      }
    }
  }
  const covered = spec()['x-subset'].operationPrefixes.some((p) =>
    new RegExp(`^/v1${p}(/|$)`).test(path),
  );
  if (!covered) return method === 'GET' ? [] : [`${method} ${path}: not covered by the subset`];
  const operation = operations.find((o) => o.method === method && o.pattern.test(path));
  if (!operation) return [`${method} ${path}: no such operation in the description`];
  if (operation.schema === undefined) return [];
  const validate = (operation.validate ??= schemas().compile(rewrite(operation.schema) as object));
  if (validate(body)) return [];
  return (validate.errors ?? [])
    .slice(0, 5)
    .map(
      (e) =>
        `${method} ${path}: ${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
    );
}
