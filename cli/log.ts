/**
 * The service commands (worker, board, emulator) log with pino: one JSON object per line on
 * stdout, as log collectors expect, or readable lines for a terminal with `--log-format pretty`.
 */
import pino from 'pino';
import { pinoLogger, type Logger } from '../src/logger.js';
import { UsageError, settingName, type Command, type OptionSpec } from './kit.js';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const FORMATS = ['json', 'pretty'] as const;

/** The logging options every service command has. */
export const LOG_OPTIONS: Record<'log-level' | 'log-format', OptionSpec> = {
  'log-level': {
    type: 'string',
    description: "'debug', 'info', 'warn' or 'error'",
    env: 'LOG_LEVEL',
    default: 'info',
  },
  'log-format': {
    type: 'string',
    description: "'json' (one JSON object per line, pino's) or 'pretty' (readable lines)",
    env: 'LOG_FORMAT',
    default: 'json',
  },
};

/**
 * Paths pino replaces with "[redacted]" wherever they appear. Nothing logs a secret on purpose;
 * this catches one that would end up in a logged object by mistake.
 */
const REDACT = [
  'apiKey',
  '*.apiKey',
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

/** The command's pino logger (named after it) and the same as the plugin's Logger. */
export function commandLogger(
  command: Command,
  values: Record<string, string | boolean | undefined>,
  out: NodeJS.WritableStream = process.stdout,
): { pino: pino.Logger; logger: Logger } {
  const level = String(values['log-level']);
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(
      `${settingName(command, 'log-level')}: expected 'debug', 'info', 'warn' or 'error', got ${JSON.stringify(level)}`,
    );
  }
  const format = String(values['log-format']);
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `${settingName(command, 'log-format')}: expected 'json' or 'pretty', got ${JSON.stringify(format)}`,
    );
  }
  const destination: pino.DestinationStream =
    format === 'pretty'
      ? prettyLines(out)
      : out === process.stdout
        ? // Synchronous, so that the last lines before an exit are not lost.
          pino.destination({ dest: 1, sync: true })
        : { write: (line: string) => void out.write(line) };
  const logger = pino(
    {
      name: `assistant-host ${command.name}`,
      level,
      redact: { paths: REDACT, censor: '[redacted]' },
      serializers: { error: pino.stdSerializers.err },
    },
    destination,
  );
  return { pino: logger, logger: pinoLogger(logger) };
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** pino's JSON lines, rewritten as `12:00:00.000 INFO  message key=value ...`. */
function prettyLines(out: NodeJS.WritableStream): pino.DestinationStream {
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        // Not pino's JSON: pass it on as it is rather than lose it.
        out.write(line);
        return;
      }
      const { level, time, msg, pid: _pid, hostname: _host, name: _name, ...fields } = record;
      const clock = new Date(Number(time)).toISOString().slice(11, 23);
      const label = (LEVEL_NAMES[Number(level)] ?? String(level)).padEnd(5);
      const rest = Object.entries(fields)
        .map(
          ([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
        )
        .join(' ');
      out.write(`${clock} ${label} ${String(msg ?? '')}${rest ? ` ${rest}` : ''}\n`);
    },
  };
}
