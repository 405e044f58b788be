/**
 * Writes test/fixtures/openai-openapi.subset.json: the part of OpenAI's published OpenAPI
 * description that the test suites validate the emulator against, so that the repository needs
 * nothing beside it to run its tests.
 *
 * What is kept:
 * - the component schemas named in ROOTS and every schema they reach through `$ref` (a
 *   `$recursiveRef` counts as a reference to the component that holds its `$recursiveAnchor`);
 * - for every operation under OPERATION_PREFIXES, its JSON request-body schema (and what it reaches).
 * What is dropped: annotations (`description`, `title`, `example(s)`, `deprecated`) and every
 * `x-*` extension, `x-oaiMeta` included. The suites do not read the streaming transcripts under
 * `x-oaiMeta`: they validate each event the emulator sends against the event schemas instead.
 * Keywords that validate are kept unchanged, so the subset validates exactly as the full file does.
 *
 * Regenerate (after changing ROOTS or OPERATION_PREFIXES, or to follow a newer description):
 *   git clone https://github.com/openai/openai-openapi /tmp/openai-openapi
 *   npm run openapi:subset -- /tmp/openai-openapi/openapi.json \
 *     --commit "$(git -C /tmp/openai-openapi rev-parse HEAD)" \
 *     --commit-date "$(git -C /tmp/openai-openapi log -1 --format=%cs)"
 * then run the suites (`npm test`) and commit the JSON file. The input path is required: the
 * script reads nothing it is not given. The current file was made from
 * openai/openai-openapi at f85dbe223d40e1a31cba812ab2d755c7e98a92a3 (2026-08-21).
 * Options: --out <file> writes elsewhere (default test/fixtures/openai-openapi.subset.json).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The schemas test/support/openapi.ts validates by name. */
export const ROOTS = [
  // Assistants v2: the stream union, and the data schemas that explain why an event fails.
  'AssistantStreamEvent',
  'ThreadObject',
  'RunObject',
  'RunStepObject',
  'RunStepDeltaObject',
  'MessageObject',
  'MessageDeltaObject',
  // Responses + Conversations.
  'ResponseStreamEvent',
  'Response',
  'ConversationResource',
] as const;

/** Paths the emulator serves; the request bodies sent to them are checked against these operations. */
export const OPERATION_PREFIXES = ['/assistants', '/threads', '/responses', '/conversations'];

const ANNOTATIONS = new Set(['description', 'title', 'example', 'examples', 'deprecated']);
/** Keywords whose value maps names to schemas (the names are not keywords). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions']);
/** Keywords whose value is data, copied as it is. */
const DATA = new Set(['enum', 'const', 'default', 'required']);
const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']);
const REF_PREFIX = '#/components/schemas/';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Spec {
  openapi: string;
  info?: { version?: string };
  paths: Record<string, Record<string, JsonObject>>;
  components: { schemas: Record<string, Json> };
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A schema without annotations and extensions; `refs` collects the components it names. */
function strip(node: Json, refs: Set<string>, component?: string): Json {
  if (Array.isArray(node)) return node.map((item) => strip(item, refs, component));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (ANNOTATIONS.has(key) || key.startsWith('x-')) continue;
    if (DATA.has(key)) out[key] = value;
    else if (SCHEMA_MAPS.has(key) && isObject(value)) {
      const map: JsonObject = {};
      for (const [name, schema] of Object.entries(value))
        map[name] = strip(schema, refs, component);
      out[key] = map;
    } else if (key === '$ref' && typeof value === 'string') {
      if (!value.startsWith(REF_PREFIX)) throw new Error(`unexpected $ref ${value}`);
      refs.add(value.slice(REF_PREFIX.length));
      out[key] = value;
    } else if (key === '$recursiveRef') {
      if (!component) throw new Error('$recursiveRef outside a component schema');
      refs.add(component);
      out[key] = value;
    } else out[key] = strip(value, refs, component);
  }
  return out;
}

export interface SubsetHeader {
  source: { repository: string; commit: string; commitDate: string; file: string; sha256: string };
  generated: string;
  generator: string;
  regenerate: string;
  roots: string[];
  operationPrefixes: string[];
}

export interface Subset {
  'x-subset': SubsetHeader;
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, JsonObject>>;
  components: { schemas: Record<string, Json> };
}

export function subset(
  text: string,
  source: { commit: string; commitDate: string },
  generated: Date,
): Subset {
  const spec = JSON.parse(text) as Spec;
  const all = spec.components?.schemas;
  if (!spec.paths || !all) throw new Error('not an OpenAPI description: no paths or no schemas');

  const pending: string[] = [];
  const queue = (refs: Set<string>) => pending.push(...refs);

  const paths: Subset['paths'] = {};
  for (const [template, item] of Object.entries(spec.paths)) {
    // Templates with a query (`/responses/compact?beta=true`) are variants no client of ours calls.
    if (template.includes('?')) continue;
    if (!OPERATION_PREFIXES.some((p) => template === p || template.startsWith(`${p}/`))) continue;
    for (const [method, operation] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const body = operation.requestBody;
      const schema =
        isObject(body) && isObject(body.content) && isObject(body.content['application/json'])
          ? body.content['application/json'].schema
          : undefined;
      // Operations without a JSON body stay listed, so a test can tell them from unknown paths.
      const kept: JsonObject = {};
      if (schema !== undefined) {
        const refs = new Set<string>();
        kept.requestBody = { content: { 'application/json': { schema: strip(schema, refs) } } };
        queue(refs);
      }
      (paths[template] ??= {})[method] = kept;
    }
  }

  for (const root of ROOTS) {
    if (!(root in all)) throw new Error(`root schema ${root} is not in the description`);
    pending.push(root);
  }
  const schemas: Record<string, Json> = {};
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (name in schemas) continue;
    const schema = all[name];
    if (schema === undefined) throw new Error(`$ref to missing schema ${name}`);
    const refs = new Set<string>();
    schemas[name] = strip(schema, refs, name);
    queue(refs);
  }
  const sorted = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));

  return {
    'x-subset': {
      source: {
        repository: 'openai/openai-openapi',
        commit: source.commit,
        commitDate: source.commitDate,
        file: 'openapi.json',
        sha256: createHash('sha256').update(text).digest('hex'),
      },
      generated: generated.toISOString().slice(0, 10),
      generator: 'scripts/openapi-subset.ts',
      regenerate:
        'npm run openapi:subset -- <openai-openapi checkout>/openapi.json --commit <sha> --commit-date <YYYY-MM-DD>',
      roots: [...ROOTS],
      operationPrefixes: OPERATION_PREFIXES,
    },
    openapi: spec.openapi,
    info: { version: spec.info?.version ?? '' },
    paths,
    components: { schemas: sorted },
  };
}

function main(): void {
  const usage =
    'usage: npm run openapi:subset -- <path to openai-openapi/openapi.json> --commit <sha> --commit-date <YYYY-MM-DD> [--out <file>]';
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      commit: { type: 'string' },
      'commit-date': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const [input, ...extra] = positionals;
  if (!input || extra.length > 0) throw new Error(`expected one input file\n${usage}`);
  const commit = values.commit ?? '';
  if (!/^[0-9a-f]{40}$/.test(commit))
    throw new Error(`--commit: expected the 40-hex commit of openai/openai-openapi\n${usage}`);
  const commitDate = values['commit-date'] ?? '';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(commitDate))
    throw new Error(`--commit-date: expected the commit's date as YYYY-MM-DD\n${usage}`);
  const out =
    values.out ??
    fileURLToPath(new URL('../test/fixtures/openai-openapi.subset.json', import.meta.url));

  const result = subset(readFileSync(input, 'utf8'), { commit, commitDate }, new Date());
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(out, json);
  const operations = Object.values(result.paths).reduce((n, p) => n + Object.keys(p).length, 0);
  console.log(
    `${out}: ${Object.keys(result.components.schemas).length} schemas, ${operations} operations, ${json.length} bytes`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
