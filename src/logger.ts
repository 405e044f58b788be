/** The logger the plugin writes to; pass your own (pino and console both fit). */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** Console logger from `level` up; the default is 'warn'. */
export function consoleLogger(level: (typeof LEVELS)[number] = 'warn'): Logger {
  const min = LEVELS.indexOf(level);
  const write =
    (at: (typeof LEVELS)[number]) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (LEVELS.indexOf(at) < min) return;
      const line = `[assistant] ${at}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`;
      if (at === 'error' || at === 'warn') console.error(line);
      else console.log(line);
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
