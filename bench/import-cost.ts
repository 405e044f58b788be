/**
 * What importing the package costs a single-process user: `npm run bench:import` (after
 * `npm run build`). Each sample is a fresh `node` process that imports a built entry once.
 *
 * - time: `await import(entry)` measured inside the child (Node's own start-up is not counted),
 *   in processes without the census hook, which slows loading down;
 * - modules: files the import loaded (ES modules and CommonJS), counted by
 *   bench/support/module-census.mjs in separate processes, with how many belong to the fleet's
 *   packages (bullmq, ioredis, express, prom-client, @bull-board).
 *
 *   --runs N      timed processes per entry (default 15); the median is reported
 *   --entry PATH  a built entry to measure (repeatable; default dist/src/index.js and the
 *                 ./agent entry); several entries take turns, sample by sample
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CENSUS = fileURLToPath(new URL('./support/module-census.mjs', import.meta.url));
/** The packages a single-process import must not open. */
export const FLEET_PACKAGES = ['bullmq', 'ioredis', 'express', 'prom-client', '@bull-board'];

function timedImport(entry: string): number {
  const script = `
    const t0 = performance.now();
    await import(${JSON.stringify(pathToFileURL(entry).href)});
    process.stdout.write(String(performance.now() - t0));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return Number(out);
}

function census(entry: string): { modules: number; fleet: number } {
  const script = `
    await import(${JSON.stringify(pathToFileURL(entry).href)});
    process.stdout.write(JSON.stringify(await globalThis.moduleCensus()));`;
  const out = execFileSync(
    process.execPath,
    ['--import', pathToFileURL(CENSUS).href, '--input-type=module', '-e', script],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const paths = JSON.parse(out) as string[];
  const fleet = paths.filter((p) =>
    FLEET_PACKAGES.some((name) => p.includes(`/node_modules/${name}/`)),
  );
  return { modules: paths.length, fleet: fleet.length };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '15' },
      entry: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: expected a whole number ≥ 1');
  const entries = (values.entry ?? ['dist/src/index.js', 'dist/actors/index.js']).map((p) =>
    resolve(ROOT, p),
  );
  for (const entry of entries) {
    if (!existsSync(entry)) throw new Error(`${entry} does not exist; run npm run build first`);
  }
  for (const entry of entries) timedImport(entry); // warms the file system cache
  // Entries take turns, so the machine's noise falls on all of them alike.
  const times = new Map<string, number[]>(entries.map((e) => [e, []]));
  for (let i = 0; i < runs; i++) {
    for (const entry of entries) times.get(entry)!.push(timedImport(entry));
  }
  console.log(
    `| entry | import time, median of ${runs} (ms) | min | max | modules | of them fleet packages |`,
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const entry of entries) {
    const samples = times.get(entry)!;
    const counted = census(entry);
    const name = entry.startsWith(ROOT) ? entry.slice(ROOT.length) : entry;
    console.log(
      `| ${name} | ${median(samples).toFixed(1)} | ${Math.min(...samples).toFixed(1)} | ` +
        `${Math.max(...samples).toFixed(1)} | ${counted.modules} | ${counted.fleet} |`,
    );
  }
}

main();
