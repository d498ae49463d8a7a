/**
 * A tiny structured logger writing one line per event to stderr.
 *
 * Secrets never reach it by construction: values registered with {@link registerSecret} are masked in
 * every line, so a token that slips into an error message is still not printed.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const secrets = new Set<string>();
let threshold: LogLevel = 'info';
let sink: (line: string) => void = (line) => process.stderr.write(`${line}\n`);

/** Sets the lowest level that is printed. */
export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/** Redirects log lines (tests capture them to check that nothing secret is printed). */
export function setLogSink(next: (line: string) => void): void {
  sink = next;
}

/** Remembers a secret so that it is masked wherever it would appear in a log line. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out;
}

function format(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** A logger bound to one component name. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Creates a logger whose lines start with the component name. */
export function createLogger(component: string): Logger {
  const write = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (levelRank[level] < levelRank[threshold]) return;
    const extra = fields
      ? Object.entries(fields)
          .map(([key, value]) => ` ${key}=${format(value)}`)
          .join('')
      : '';
    sink(redact(`${new Date().toISOString()} ${level.padEnd(5)} [${component}] ${message}${extra}`));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}
