/**
 * `NODE_OPTIONS=--import=<this file> HIDE_PACKAGES=bullmq,ioredis`: the process resolves those
 * packages as if they were not installed (Node's own "Cannot find package" error), so a test
 * sees what a user without them sees, without uninstalling anything.
 */
import { register } from 'node:module';
import process from 'node:process';

const hidden = (process.env.HIDE_PACKAGES ?? '').split(',').filter(Boolean);
const hooks = `
const hidden = ${JSON.stringify(hidden)};
export async function resolve(specifier, context, next) {
  const name = hidden.find((h) => specifier === h || specifier.startsWith(h + '/'));
  if (name !== undefined) {
    const error = new Error(
      "Cannot find package '" + name + "' imported from " + (context.parentURL ?? 'the command line'),
    );
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
