/** Plain-text tables for the terminal, in Markdown so that RESULTS.md can quote them as they are. */

export type Cell = string | number | null | undefined;

export function fmt(value: Cell, digits = 2): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(digits);
}

/** A Markdown table; numeric columns are right-aligned. */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) => headers.map((_, i) => fmt(row[i])));
  const numeric = headers.map(
    (_, i) => i > 0 && rows.every((row) => typeof row[i] !== 'string' || /^[\d.,+-]/.test(row[i])),
  );
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [
    line(headers),
    `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...text.map(line),
  ].join('\n');
}
