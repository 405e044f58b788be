/**
 * The package's public API, one report per entry point, made by API Extractor from the build's
 * type declarations (dist/**\/*.d.ts) and committed under api/.
 *
 *   npm run api:check    fails when an entry's API differs from its committed report, or when
 *                        an export is undocumented or names a type that no entry exports
 *   npm run api:update   rewrites the reports after an intended change (commit them)
 *
 * Both build first. API Extractor reads the .d.ts files, so it sees what users see.
 */
import {
  Extractor,
  ExtractorConfig,
  ExtractorLogLevel,
  ExtractorMessageCategory,
  type ExtractorMessage,
  type IConfigFile,
} from '@microsoft/api-extractor';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** package.json "exports" → its declaration file and the report's name. */
export const ENTRIES = [
  { entry: '.', types: 'dist/src/index.d.ts', report: 'agents-plugin-assistant' },
  { entry: './testing', types: 'dist/src/testing.d.ts', report: 'agents-plugin-assistant-testing' },
  { entry: './fleet', types: 'dist/queues/index.d.ts', report: 'agents-plugin-assistant-fleet' },
  { entry: './agent', types: 'dist/actors/index.d.ts', report: 'agents-plugin-assistant-agent' },
];

function config(types: string, report: string): IConfigFile {
  return {
    projectFolder: ROOT,
    mainEntryPointFilePath: `<projectFolder>/${types}`,
    bundledPackages: [],
    compiler: {
      // What a user's compiler sees of the declarations; tests and sources are not involved.
      overrideTsconfig: {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: ['node'],
          strict: true,
          skipLibCheck: true,
        },
        files: [`${ROOT}/${types}`],
      },
    },
    apiReport: {
      enabled: true,
      reportFileName: report,
      reportFolder: '<projectFolder>/api/',
      // Not under dist/, which is published.
      reportTempFolder: '<projectFolder>/node_modules/.cache/api-report/',
    },
    docModel: { enabled: false },
    dtsRollup: { enabled: false },
    tsdocMetadata: { enabled: false },
    newlineKind: 'lf',
    messages: {
      compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
      extractorMessageReporting: {
        default: { logLevel: ExtractorLogLevel.Warning },
        // Release tags (@public, @beta) are not used: everything exported is public.
        'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
        // Every export is documented, and names only types some entry exports.
        'ae-undocumented': { logLevel: ExtractorLogLevel.Error, addToApiReportFile: false },
        'ae-forgotten-export': { logLevel: ExtractorLogLevel.Error, addToApiReportFile: false },
      },
      // Doc comments are read by people and editors, not by a documentation generator: TSDoc's
      // own syntax rules (escaping "@" in "@livekit/agents", braces) are not enforced.
      tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
    },
  };
}

/**
 * Files another branch owns (issue 12's room multiplexer): their undocumented exports and the
 * private types they name are waived here, and counted in the output, until that branch
 * documents them. Remove an entry once its file passes without it.
 */
const PENDING: string[] = [];

function isPending(message: ExtractorMessage): boolean {
  const file = message.sourceFilePath ?? '';
  return (
    (message.messageId === 'ae-undocumented' || message.messageId === 'ae-forgotten-export') &&
    PENDING.some((pending) => file.endsWith(pending))
  );
}

/**
 * ae-undocumented is raised for every member of every interface and class; the rule here is that
 * each export (a top-level declaration of the .d.ts) has a doc comment.
 */
function isExportWithoutDocs(message: ExtractorMessage): boolean {
  const file = message.sourceFilePath;
  const line = message.sourceFileLine;
  if (!file || !line) return true;
  const text = readFileSync(file, 'utf8').split('\n')[line - 1] ?? '';
  return text.startsWith('export ');
}

/** Names the main entry exports, read from its report (made first, in the temp folder). */
function mainExports(): Set<string> {
  const report = readFileSync(
    join(ROOT, 'node_modules/.cache/api-report', `${ENTRIES[0]!.report}.api.md`),
    'utf8',
  );
  const names = report.matchAll(
    /^export (?:declare )?(?:abstract )?(?:class|interface|type|function|const|enum|namespace) (\w+)/gm,
  );
  return new Set([...names].map((m) => m[1]!));
}

/**
 * The other entries build on the main one: a type they name that the main entry exports (Logger,
 * RunTransport, AssistantLLM) is not a forgotten export; a user imports it from there.
 */
function exportedByMain(message: ExtractorMessage, main: Set<string>): boolean {
  const symbol = /The symbol "(\w+)"/.exec(message.text)?.[1];
  return symbol !== undefined && main.has(symbol);
}

function main(): number {
  const { values } = parseArgs({ options: { update: { type: 'boolean', default: false } } });
  const update = values.update === true;
  let failed = false;
  let main: Set<string> | undefined;
  for (const { entry, types, report } of ENTRIES) {
    if (!existsSync(join(ROOT, types))) {
      console.error(`${types} is missing: run npm run build first`);
      return 1;
    }
    const prepared = ExtractorConfig.prepare({
      configObject: config(types, report),
      configObjectFullPath: undefined,
      packageJsonFullPath: join(ROOT, 'package.json'),
    });
    const problems: string[] = [];
    const waived: string[] = [];
    const result = Extractor.invoke(prepared, {
      localBuild: update,
      messageCallback: (message: ExtractorMessage) => {
        message.handled = true;
        // Console messages narrate what the run did ("report copied"): the status line says it.
        if (message.category === ExtractorMessageCategory.Console) return;
        if (message.messageId === 'ae-undocumented' && !isExportWithoutDocs(message)) return;
        if (
          message.messageId === 'ae-forgotten-export' &&
          main !== undefined &&
          exportedByMain(message, main)
        )
          return;
        if (isPending(message)) {
          waived.push(message.formatMessageWithLocation(ROOT));
          return;
        }
        if (
          message.logLevel === ExtractorLogLevel.Error ||
          message.logLevel === ExtractorLogLevel.Warning
        ) {
          problems.push(message.formatMessageWithLocation(ROOT));
        }
      },
    });
    const changed = result.apiReportChanged;
    const status =
      problems.length > 0 ? 'problems' : changed ? (update ? 'updated' : 'changed') : 'unchanged';
    console.log(`${entry.padEnd(10)} api/${report}.api.md: ${status}`);
    for (const problem of problems) console.log(`  ${problem}`);
    if (waived.length > 0) {
      console.log(
        `  ${waived.length} waived in files another branch owns (PENDING in scripts/api-report.ts):`,
      );
      for (const note of waived) console.log(`    ${note}`);
    }
    if (problems.length > 0 || (changed && !update)) failed = true;
    main ??= mainExports();
  }
  if (failed && !update) {
    console.error(
      '\nThe public API differs from api/*.api.md. If the change is intended, run npm run api:update and commit the reports.',
    );
  }
  return failed ? 1 : 0;
}

process.exitCode = main();
