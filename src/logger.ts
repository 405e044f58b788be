/**
 * Where the plugin writes what it has to say. By default, in a LiveKit job, that is
 * @livekit/agents' logger (pino, with the job's context); a `logger` option replaces it.
 */
import { log } from '@livekit/agents';

/** The logger the plugin writes to; pass your own (pino and console both fit). */
export interface Logger {
  /** Detail for debugging. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Normal operation. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something went wrong and was handled (a tool handler threw, an output was too large). */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something went wrong and was not handled. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The four methods of a pino logger the plugin calls: fields first, then the message. */
export interface PinoLike {
  /** pino's `debug(fields, message)`. */
  debug(fields: object, message: string): void;
  /** pino's `info(fields, message)`. */
  info(fields: object, message: string): void;
  /** pino's `warn(fields, message)`. */
  warn(fields: object, message: string): void;
  /** pino's `error(fields, message)`. */
  error(fields: object, message: string): void;
}

/** A level of the plugin's Logger. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Console logger from `level` up; the default is 'warn'. */
export function consoleLogger(level: LogLevel = 'warn'): Logger {
  const min = LEVELS.indexOf(level);
  const write =
    (at: LogLevel) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (LEVELS.indexOf(at) < min) return;
      const line = `[assistant] ${at}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`;
      if (at === 'error' || at === 'warn') console.error(line);
      else console.log(line);
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** A Logger that writes to a pino logger (or anything with pino's call shape). */
export function pinoLogger(target: PinoLike): Logger {
  return {
    debug: (message, fields) => target.debug(fields ?? {}, message),
    info: (message, fields) => target.info(fields ?? {}, message),
    warn: (message, fields) => target.warn(fields ?? {}, message),
    error: (message, fields) => target.error(fields ?? {}, message),
  };
}

/** The pino logger of @livekit/agents, if it is initialized (it is in a LiveKit worker and job). */
function livekitLog(): PinoLike | undefined {
  try {
    return log();
  } catch {
    // log() throws until initializeLogger() has run: outside LiveKit's CLI, the console serves.
    return undefined;
  }
}

/**
 * The default logger: @livekit/agents' logger when it is initialized, looked up at each line
 * because a job replaces it with one that carries the job's id and room; otherwise the console,
 * warn and up.
 */
export function defaultLogger(): Logger {
  const fallback = consoleLogger('warn');
  let parent: PinoLike | undefined;
  let child: Logger | undefined;
  const current = (): Logger => {
    const target = livekitLog();
    if (!target) return fallback;
    if (target !== parent) {
      parent = target;
      const withChild = target as PinoLike & { child?: (bindings: object) => PinoLike };
      child = pinoLogger(
        typeof withChild.child === 'function'
          ? withChild.child({ plugin: 'assistant' })
          : withChild,
      );
    }
    return child!;
  };
  return {
    debug: (message, fields) => current().debug(message, fields),
    info: (message, fields) => current().info(message, fields),
    warn: (message, fields) => current().warn(message, fields),
    error: (message, fields) => current().error(message, fields),
  };
}
