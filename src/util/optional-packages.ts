/**
 * Packages that only some features need (the fleet, the board, the metrics) are optional peer
 * dependencies: a plugin user who never asks for those features does not install them. This
 * finds out which are missing and turns a failed import into an error that says what to install.
 */
import { createRequire } from 'node:module';

/** The install command for `names`. */
export function installCommand(names: readonly string[]): string {
  return `npm install ${names.join(' ')}`;
}

/** `purpose` needs `missing`: a sentence naming the packages and the command that installs them. */
export function missingPackagesMessage(purpose: string, missing: readonly string[]): string {
  const list =
    missing.length === 1
      ? missing[0]!
      : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)!}`;
  return `${purpose} needs ${list}, which ${missing.length === 1 ? 'is' : 'are'} not installed; run: ${installCommand(missing)}`;
}

/**
 * The packages of `names` that cannot be resolved from `from` (by default, from this package).
 * Resolving reads a package's package.json but runs none of its code.
 */
export function missingPackages(
  names: readonly string[],
  from: string | URL = import.meta.url,
): string[] {
  const base = String(from);
  // import.meta.resolve honours the process's module hooks, as import() does; Node before
  // 20.6 (and some test runners) lack it, and CommonJS resolution finds the same packages.
  const resolve =
    base === import.meta.url && typeof import.meta.resolve === 'function'
      ? (name: string) => import.meta.resolve(name)
      : (name: string) => createRequire(base).resolve(name);
  return names.filter((name) => {
    try {
      resolve(name);
      return false;
    } catch (error) {
      // Only "not found" means missing: a package whose entry cannot be required (ESM-only
      // exports) is still installed.
      const code = (error as NodeJS.ErrnoException).code;
      return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    }
  });
}

/** The package a failed import could not find, if that is why it failed and it is one of `names`. */
export function notFoundPackage(error: unknown, names: readonly string[]): string | undefined {
  const { code, message } = (error ?? {}) as NodeJS.ErrnoException;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  const quoted = /Cannot find (?:package|module) '([^']+)'/.exec(String(message))?.[1];
  if (quoted === undefined) return undefined;
  // A deep import ('@bull-board/api/bullMQAdapter', 'bullmq/x') names its package first.
  return names.find((name) => quoted === name || quoted.startsWith(`${name}/`));
}

/**
 * Runs `load` (an import of code that needs the optional packages `names`); when it fails
 * because one of them is missing, throws what `onMissing` makes of the missing ones instead.
 */
export async function importOptional<T>(
  load: () => Promise<T>,
  names: readonly string[],
  onMissing: (missing: string[], cause: unknown) => Error,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const package_ = notFoundPackage(error, names);
    if (package_ === undefined) throw error;
    // Name every missing one, not only the first the import hit.
    const missing = missingPackages(names);
    throw onMissing(missing.includes(package_) ? missing : [package_, ...missing], error);
  }
}
