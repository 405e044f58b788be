/**
 * `node --import ./bench/support/module-census.mjs`: records every module the process loads, so a
 * parent can ask what an import opened. ES modules are seen by a loader hook (which runs in its
 * own thread and answers `import('module-census:list')` with what it saw); CommonJS modules that
 * packages require() among themselves never reach that hook, so they are read from require.cache.
 */
import { createRequire, register } from 'node:module';
import { fileURLToPath } from 'node:url';

const hooks = `
const seen = new Set();
export async function resolve(specifier, context, next) {
  if (specifier === 'module-census:list') {
    const body = 'export default ' + JSON.stringify([...seen]);
    return { url: 'data:text/javascript,' + encodeURIComponent(body), shortCircuit: true };
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url.startsWith('file:')) seen.add(url);
  return next(url, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

const require = createRequire(import.meta.url);

/** Absolute paths of every file module loaded so far (ESM and CommonJS). */
globalThis.moduleCensus = async () => {
  const { default: esm } = await import('module-census:list');
  const paths = new Set(esm.map((url) => fileURLToPath(url)));
  for (const path of Object.keys(require.cache)) paths.add(path);
  return [...paths].sort();
};
