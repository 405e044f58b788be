/** The Lua scripts' files: found next to their loader, and each header matches how it is called. */
import { describe, expect, it } from 'vitest';
import { SCRIPT_FILES, scriptSources, type ScriptName } from '../../queues/scripts.js';

const names = Object.keys(SCRIPT_FILES) as ScriptName[];

/** The header: the comment lines before the first line of code. */
function header(source: string): string[] {
  const lines = source.split('\n');
  const end = lines.findIndex((line) => line.trim() !== '' && !line.startsWith('--'));
  return lines.slice(0, end);
}

describe('Lua scripts', () => {
  it.each(names)('%s: its header documents KEYS, ARGV and what it returns', (name) => {
    const lines = header(scriptSources()[name]);
    const keys = lines.filter((l) => /^-- KEYS\[/.test(l));
    const fixed = SCRIPT_FILES[name].keys;
    if (fixed === null) {
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(/^-- KEYS\[1\.\.n\]/);
    } else {
      // KEYS[1] .. KEYS[n], each on its own line, as many as the loader declares.
      expect(keys.map((l) => /^-- KEYS\[(\d+)\]/.exec(l)?.[1])).toEqual(
        Array.from({ length: fixed }, (_, i) => String(i + 1)),
      );
    }
    expect(lines.some((l) => /^-- ARGV\[/.test(l))).toBe(true);
    expect(lines.some((l) => /^-- Returns /.test(l))).toBe(true);
  });

  it.each(names)('%s: uses only the KEYS and ARGV its header names', (name) => {
    const source = scriptSources()[name];
    const code = source
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n');
    const fixed = SCRIPT_FILES[name].keys;
    const usedKeys = [...code.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
    if (fixed !== null) expect(Math.max(...usedKeys)).toBeLessThanOrEqual(fixed);
    const documentedArgs = header(source).flatMap((l) => {
      const found = /^-- ARGV\[(\d+)(?:\.\.[^\]]*)?\]/.exec(l);
      return found ? [Number(found[1])] : [];
    });
    for (const m of code.matchAll(/ARGV\[(\d+)\]/g)) {
      expect(documentedArgs).toContain(Number(m[1]));
    }
  });
});
