/**
 * A tiny command framework for `assistant-host`: each command declares its options once, and the
 * same declaration produces `--help`, parses flags (with environment fallbacks) and validates
 * values with errors that name the setting.
 */
import { parseArgs } from 'node:util';
import {
  importOptional,
  missingPackages,
  missingPackagesMessage,
} from '../src/util/optional-packages.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Environment variable read when the flag is absent. */
  env?: string;
  default?: string | boolean;
  /** Hidden values (keys) are never printed, also not in errors. */
  secret?: boolean;
}

export interface Command {
  name: string;
  summary: string;
  options: Record<string, OptionSpec>;
  run(values: Record<string, string | boolean | undefined>): Promise<void>;
}

export class UsageError extends Error {}

/** A command cannot run (e.g. a package it needs is missing): its message, without a stack, and exit 1. */
export class CommandError extends Error {}

export function helpText(program: string, command: Command): string {
  const lines = [
    `Usage: ${program} ${command.name} [options]`,
    '',
    command.summary,
    '',
    'Options:',
  ];
  for (const [name, spec] of Object.entries(command.options)) {
    const flag = spec.type === 'string' ? `--${name} <value>` : `--${name}`;
    const extras = [
      spec.env ? `env ${spec.env}` : '',
      spec.default !== undefined && !spec.secret ? `default ${String(spec.default)}` : '',
    ].filter(Boolean);
    lines.push(
      `  ${flag.padEnd(30)} ${spec.description}${extras.length ? ` (${extras.join(', ')})` : ''}`,
    );
  }
  lines.push(`  ${'--help'.padEnd(30)} Show this help`);
  return lines.join('\n');
}

/**
 * parseArgs refuses a value that starts with '-' after a string option (`--http-port -1`:
 * "argument is ambiguous"), yet a declared string option always takes the next argument. Joining
 * the two as `--name=value` lets negative numbers and dash-leading values through as written.
 */
function joinStringValues(command: Command, argv: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      joined.push(...argv.slice(i));
      break;
    }
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : '';
    const takesValue =
      Object.hasOwn(command.options, name) && command.options[name]!.type === 'string';
    if (takesValue && i + 1 < argv.length) joined.push(`${arg}=${argv[++i]!}`);
    else joined.push(arg);
  }
  return joined;
}

export function parseCommandArgs(
  command: Command,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Record<string, string | boolean | undefined> | 'help' {
  const spec = Object.fromEntries(
    Object.entries(command.options).map(([name, option]) => [name, { type: option.type }]),
  );
  let parsed;
  try {
    parsed = parseArgs({
      args: joinStringValues(command, argv),
      options: { ...spec, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help) return 'help';
  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, option] of Object.entries(command.options)) {
    const given = (parsed.values as Record<string, string | boolean | undefined>)[name];
    const fromEnv = option.env ? env[option.env] : undefined;
    values[name] =
      given ??
      (fromEnv === undefined || fromEnv === ''
        ? option.default
        : option.type === 'boolean'
          ? fromEnv === 'true' || fromEnv === '1'
          : fromEnv);
  }
  return values;
}

/** The name a setting is known by in messages: the flag and, if any, its environment variable. */
export function settingName(command: Command, name: string): string {
  const env = command.options[name]?.env;
  return env ? `--${name} (${env})` : `--${name}`;
}

export function intSetting(
  command: Command,
  values: Record<string, string | boolean | undefined>,
  name: string,
  min: number,
  max: number,
): number {
  const raw = values[name];
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `${settingName(command, name)}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** The Redis URL option, shared by every command that talks to the fleet's Redis. */
export const REDIS_OPTION: OptionSpec = {
  type: 'string',
  description: 'Redis URL; for a Redis Cluster, seed node URLs separated by commas',
  env: 'REDIS_URL',
  default: 'redis://127.0.0.1:6379',
};

/** The queue shards option of the worker and the board; rooms must use the same. */
export const QUEUES_OPTION: OptionSpec = {
  type: 'string',
  description:
    'Queue shards: runs spread over this many queues <queue>-0 ... (1: the queue itself)',
  env: 'ASSISTANT_QUEUES',
  default: '1',
};

/**
 * A configuration error thrown by the fleet ("redis: ...", "redis[1]: ...", "prefix: ...") as a
 * usage error naming the flag and environment variable it came from; null for any other error.
 */
export function settingError(
  command: Command,
  message: string,
  names: readonly string[],
): UsageError | null {
  for (const name of names) {
    if (message.startsWith(`${name}: `) || message.startsWith(`${name}[`)) {
      return new UsageError(`${settingName(command, name)}${message.slice(name.length)}`);
    }
  }
  return null;
}

/**
 * Loads the code of a command that needs optional packages (the worker's bullmq, ioredis and
 * prom-client; the board's express and Bull Board) when the command runs, not when the CLI
 * starts, and names the packages to install when some are missing.
 */
export async function loadFor<T>(
  what: string,
  packages: readonly string[],
  load: () => Promise<T>,
): Promise<T> {
  const missing = missingPackages(packages);
  if (missing.length > 0) throw new CommandError(missingPackagesMessage(what, missing));
  return importOptional(
    load,
    packages,
    (names, cause) => new CommandError(missingPackagesMessage(what, names), { cause }),
  );
}
