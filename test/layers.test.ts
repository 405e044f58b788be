/**
 * Layers are folders: the core (src/) imports nothing from the fleet (queues/), the actors or the
 * CLI, so a single-process user loads none of the fleet's packages; those packages are optional,
 * and asking for fleet mode without them says what to install.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { missingPackages } from '../src/util/optional-packages.js';
import { cli, ROOT } from './support/cli.js';

const run = promisify(execFile);
const CENSUS = pathToFileURL(join(ROOT, 'bench/support/module-census.mjs')).href;
const HIDE = pathToFileURL(join(ROOT, 'test/support/hide-packages.mjs')).href;
const FLEET_ONLY = ['bullmq', 'ioredis', 'express', 'prom-client', '@bull-board'];

/** Relative import specifiers of a TypeScript file (static, re-exports and dynamic). */
function relativeImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const found = [
    ...source.matchAll(/\bfrom\s+'(\.[^']+)'/g),
    ...source.matchAll(/\bimport\s*\(\s*'(\.[^']+)'\s*\)/g),
    ...source.matchAll(/^import\s+'(\.[^']+)'/gm),
  ];
  return found.map((m) => m[1]!);
}

function tsFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The top-level folders that `folder`'s files import from. */
function importedFolders(folder: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  for (const file of tsFiles(folder)) {
    for (const specifier of relativeImports(file)) {
      const target = relative(ROOT, resolve(dirname(file), specifier)).split('/')[0]!;
      if (target === folder) continue;
      seen.set(target, [...(seen.get(target) ?? []), relative(ROOT, file)]);
    }
  }
  return seen;
}

/**
 * What importing `entry` (a TypeScript file, as the package's entries are before the build) in a
 * fresh Node process loads: every file, ES module or CommonJS. `after` runs once it is imported.
 */
async function loadedBy(entry: string, after = ''): Promise<string[]> {
  const script = `
    const entry = await import(${JSON.stringify(pathToFileURL(join(ROOT, entry)).href)});
    ${after}
    process.stdout.write(JSON.stringify(await globalThis.moduleCensus()));`;
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--import', CENSUS, '--input-type=module', '-e', script],
    { cwd: ROOT, timeout: 60_000 },
  );
  return JSON.parse(stdout) as string[];
}

function packagesIn(paths: string[]): string[] {
  const names = new Set<string>();
  for (const path of paths) {
    for (const name of FLEET_ONLY) if (path.includes(`/node_modules/${name}/`)) names.add(name);
  }
  return [...names].sort();
}

describe('layers', () => {
  it('the core imports nothing from the fleet, the actors or the CLI; the actors nothing from the fleet or the CLI', () => {
    const core = importedFolders('src');
    expect([...core.keys()]).toEqual([]);
    const actors = importedFolders('actors');
    expect([...actors.keys()]).toEqual(['src']);
    const fleet = importedFolders('queues');
    expect([...fleet.keys()]).toEqual(['src']);
    // The scan sees imports at all: the CLI's reach into the other layers shows up.
    expect([...importedFolders('cli').keys()].sort()).toEqual(['queues', 'src']);
  });

  it('a single-process import opens no file of bullmq, ioredis, express, prom-client or Bull Board', async () => {
    const [core, agent, testing] = await Promise.all([
      loadedBy('src/index.ts'),
      loadedBy('actors/index.ts'),
      loadedBy('src/testing.ts'),
    ]);
    // The census sees the core itself and its peers (so an empty list below means something).
    expect(core.some((p) => p.endsWith('/src/assistant-llm.ts'))).toBe(true);
    expect(core.some((p) => p.includes('/node_modules/@livekit/agents/'))).toBe(true);
    expect(packagesIn(core)).toEqual([]);
    expect(packagesIn(agent)).toEqual([]);
    expect(packagesIn(testing)).toEqual([]);
    // An AssistantLLM in single-process mode loads nothing more of them either.
    const used = await loadedBy(
      'src/index.ts',
      `const llm = new entry.AssistantLLM({ api: 'responses', model: 'm', apiKey: 'sk-x' });
       await llm.aclose();`,
    );
    expect(packagesIn(used)).toEqual([]);
  }, 120_000);

  it('fleet mode loads the fleet (bullmq, ioredis) when a Redis transport is asked for, and not the board or the metrics', async () => {
    const fleetMode = await loadedBy(
      'src/index.ts',
      `const llm = new entry.AssistantLLM({
         api: 'responses', model: 'm', transport: { redis: 'redis://127.0.0.1:6379' },
       });
       await llm.aclose();`,
    );
    expect(packagesIn(fleetMode)).toEqual(['bullmq', 'ioredis']);
    expect(fleetMode.some((p) => p.endsWith('/queues/redis-transport.ts'))).toBe(true);
    const fleetEntry = await loadedBy('queues/index.ts');
    expect(packagesIn(fleetEntry)).toEqual(['bullmq', 'ioredis']);
  }, 120_000);
});

describe('optional packages', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'assistant-no-packages-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('finds which packages cannot be resolved from a place', () => {
    expect(missingPackages(['bullmq', 'ioredis', 'prom-client'])).toEqual([]);
    expect(missingPackages(['bullmq', 'no-such-package-for-this-test'])).toEqual([
      'no-such-package-for-this-test',
    ]);
    // A folder with no node_modules above it resolves none of them.
    expect(missingPackages(['bullmq', 'ioredis'], pathToFileURL(join(scratch, 'x.mjs')))).toEqual([
      'bullmq',
      'ioredis',
    ]);
  });

  it("loading the fleet where bullmq is missing fails with a ConfigError naming it and the install command (Node's own error behind it)", async () => {
    // Modules outside the repository, where Node finds no bullmq: one imports it, as the fleet
    // does; one fails for another reason, which must not be dressed up as a missing package.
    const missing = join(scratch, 'fleet.mjs');
    writeFileSync(missing, "import 'bullmq';\nexport const createRedisTransport = () => null;\n");
    const broken = join(scratch, 'broken.mjs');
    writeFileSync(broken, "throw new Error('boom');\n");
    // A plain Node process: the test runner's own resolver would find the repository's bullmq.
    const script = `
      const { loadFleet } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/fleet-mode.ts')).href)});
      const report = async (url) => {
        const error = await loadFleet(() => import(url)).then(() => null, (e) => e);
        return { name: error?.name, field: error?.field, message: error?.message, cause: error?.cause?.code };
      };
      console.log(JSON.stringify([
        await report(${JSON.stringify(pathToFileURL(missing).href)}),
        await report(${JSON.stringify(pathToFileURL(broken).href)}),
      ]));`;
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, timeout: 60_000 },
    );
    const [missingReport, brokenReport] = JSON.parse(stdout) as Array<Record<string, unknown>>;
    expect(missingReport).toEqual({
      name: 'ConfigError',
      field: 'transport',
      message:
        'transport: fleet mode (a Redis transport) needs bullmq, which is not installed; run: npm install bullmq',
      cause: 'ERR_MODULE_NOT_FOUND',
    });
    expect(brokenReport).toEqual({ name: 'Error', message: 'boom' });
  }, 60_000);

  it('new AssistantLLM with a Redis transport, without bullmq and ioredis installed, names both', async () => {
    const script = `
      const { AssistantLLM, ConfigError } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/index.ts')).href)});
      try {
        new AssistantLLM({ api: 'responses', model: 'm', transport: { redis: 'redis://127.0.0.1:6379' } });
        console.log('constructed');
      } catch (error) {
        console.log(error instanceof ConfigError, error.message);
      }
      // Single-process mode does not need them.
      const llm = new AssistantLLM({ api: 'responses', model: 'm', apiKey: 'sk-x' });
      await llm.aclose();
      console.log('single-process ok');`;
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: ROOT,
        timeout: 60_000,
        env: { ...process.env, NODE_OPTIONS: `--import=${HIDE}`, HIDE_PACKAGES: 'bullmq,ioredis' },
      },
    );
    expect(stdout).toBe(
      'true transport: fleet mode (a Redis transport) needs bullmq and ioredis, which are not installed; run: npm install bullmq ioredis\n' +
        'single-process ok\n',
    );
  }, 60_000);

  it('the CLI names what its worker and board need; its other commands run without them', async () => {
    const hide = (packages: string) => ({
      NODE_OPTIONS: `--import=${HIDE}`,
      HIDE_PACKAGES: packages,
    });
    const worker = await cli(['worker'], { OPENAI_API_KEY: 'sk-x', ...hide('prom-client') });
    expect(worker.code).toBe(1);
    expect(worker.stderr).toBe(
      'assistant-host worker: the worker needs prom-client, which is not installed; run: npm install prom-client\n',
    );
    const board = await cli(['board'], hide('express,@bull-board/api,@bull-board/express'));
    expect(board.code).toBe(1);
    expect(board.stderr).toBe(
      'assistant-host board: the board needs express, @bull-board/api and @bull-board/express, which are not installed; run: npm install express @bull-board/api @bull-board/express\n',
    );
    const all = hide(FLEET_ONLY.join(',') + ',@bull-board/api,@bull-board/express');
    const help = await cli(['--help'], all);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Commands:\n\s+demo /);
    const workerHelp = await cli(['worker', '--help'], all);
    expect(workerHelp.code).toBe(0);
    expect(workerHelp.stdout).toMatch(/^Usage: assistant-host worker/);
  }, 120_000);
});
