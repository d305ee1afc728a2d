import {
  destination as pinoDestination,
  pino,
  stdTimeFunctions,
  type DestinationStream,
  type Logger as PinoLogger,
} from 'pino';

/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Structured logger (pino underneath): bound fields such as `workflowId`, `actor` and `step` go
 * on every line.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

function levelFrom(value: string | undefined): LogLevel | 'silent' {
  return (LEVELS as readonly string[]).includes(value ?? '')
    ? (value as LogLevel | 'silent')
    : 'info';
}

/** A readable line per record for a terminal: time, level, message, then key=value pairs. */
function prettyStderr(): DestinationStream {
  return {
    write(line: string): void {
      const {
        time,
        level,
        msg,
        pid: _pid,
        hostname: _host,
        ...rest
      } = JSON.parse(line) as {
        time: number;
        level: string;
        msg: string;
        [key: string]: unknown;
      };
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const stamp = new Date(time).toISOString().slice(11, 23);
      process.stderr.write(`${stamp} ${level.toUpperCase().padEnd(5)} ${msg} ${fields}\n`);
    },
  };
}

function wrap(logger: PinoLogger): Logger {
  return {
    debug: (msg, fields) => logger.debug(fields ?? {}, msg),
    info: (msg, fields) => logger.info(fields ?? {}, msg),
    warn: (msg, fields) => logger.warn(fields ?? {}, msg),
    error: (msg, fields) => logger.error(fields ?? {}, msg),
    child: (fields) => wrap(logger.child(fields)),
  };
}

/**
 * A logger on stderr: JSON lines (one object a line) when stderr is not a terminal, a readable
 * line on a terminal (`HITL_LOG_FORMAT=json|pretty` overrides). `HITL_LOG_LEVEL` (debug, info,
 * warn, error, silent) sets the threshold.
 *
 * @example
 * const log = createLogger({ actor: 'gate' });
 * log.info('step committed', { workflowId: 'wf-1', step: 3 });
 */
export function createLogger(
  bindings: Record<string, unknown> = {},
  level: LogLevel | 'silent' = levelFrom(process.env.HITL_LOG_LEVEL),
): Logger {
  const format = process.env.HITL_LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const destination = format === 'pretty' ? prettyStderr() : pinoDestination({ fd: 2, sync: true });
  return wrap(
    pino(
      {
        level,
        base: bindings,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      destination,
    ),
  );
}
