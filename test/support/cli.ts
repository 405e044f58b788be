/** Runs the package's CLI in a child process, as a user would. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../cli/index.ts', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeout = 60_000,
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { cwd: ROOT, env: { ...cleanEnv(), ...env }, timeout, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface StartOptions {
  /** Node flags before the entry, e.g. --expose-gc. */
  nodeArgs?: string[];
  /** Another entry than the package's CLI, taking the same arguments. */
  entry?: string;
  /** Keep only the last this many characters of output (long-running benchmarks). */
  keepOutput?: number;
  /** How long the command may take to print its ready line. Default 30 s. */
  readyTimeoutMs?: number;
}

/** Starts a long-running CLI command; resolves once its output matches `ready`. */
export async function startCli(
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
  options: StartOptions = {},
): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  const { nodeArgs = [], entry = CLI, keepOutput = Infinity, readyTimeoutMs = 30_000 } = options;
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', entry, ...args], {
    cwd: ROOT,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (data: Buffer) => {
    output += data.toString();
    if (output.length > keepOutput) output = output.slice(-keepOutput);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not ready in time; output:\n${output}`)),
      readyTimeoutMs,
    );
    const check = () => {
      const found = output.match(ready);
      if (found) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.stderr!.off('data', check);
        child.off('exit', early);
        resolve(found);
      }
    };
    const early = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready; output:\n${output}`));
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', early);
  });
  return { child, match, output: () => output };
}

/** One line a service command logged: pino's JSON. */
export interface LogRecord {
  level: number;
  time: number;
  pid: number;
  name: string;
  msg: string;
  [field: string]: unknown;
}

/** The JSON lines of `output` (pino's records); other lines are left out. */
export function logRecords(output: string): LogRecord[] {
  return output.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as LogRecord];
    } catch {
      return [];
    }
  });
}

/** A regular expression for the JSON line whose message starts with `msg`, capturing `field`. */
export function logLine(msg: string, field: string): RegExp {
  const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // pino writes the message last, after the fields.
  return new RegExp(`"${escaped(field)}":"([^"]+)"[^\\n]*"msg":"${escaped(msg)}`);
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** The parent's environment without OpenAI settings, so tests see a fresh machine. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('OPENAI_') || key.startsWith('ASSISTANT_') || key.startsWith('EMULATOR_'))
      delete env[key];
  }
  return env;
}
