#!/usr/bin/env node
/** `assistant-host`, the package's command line (package.json "bin"); the commands are in ./commands. */
import { main } from './program.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
