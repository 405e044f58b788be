/**
 * Prints the sizing table again from a saved bench run, without measuring:
 * `npx tsx bench/capacity-table.ts [bench/results/latest.json]` (a run that included capacity).
 */
import { readFileSync } from 'node:fs';
import { describeAssumptions, sizingTable, type MeasuredFigures } from './capacity-model.js';
import { table } from './table.js';

const file = process.argv[2] ?? new URL('./results/latest.json', import.meta.url).pathname;
const run = JSON.parse(readFileSync(file, 'utf8')) as {
  date: string;
  results: { capacity?: { data?: { targets: Array<{ model: MeasuredFigures | null }> } } };
};
const targets = run.results.capacity?.data?.targets;
if (!targets) throw new Error(`${file}: expected a bench run with the capacity benchmark`);
console.log(`measured ${run.date}; ${describeAssumptions()}\n`);
for (const { model } of targets) {
  if (!model) continue;
  const { headers, rows } = sizingTable(model);
  console.log(`${table(headers, rows)}\n`);
}
