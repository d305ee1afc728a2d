/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ranks: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Structured logger: one JSON object a line on stderr, with bound fields on every line. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function levelFrom(value: string | undefined): LogLevel | 'silent' {
  if (value === 'silent') return 'silent';
  return value !== undefined && value in ranks ? (value as LogLevel) : 'info';
}

/**
 * A JSON-lines logger on stderr; `HITL_LOG_LEVEL` (debug, info, warn, error, silent) sets the
 * threshold.
 *
 * @example
 * const log = createLogger({ actor: 'gate' });
 * log.info('step committed', { workflowId: 'wf-1' });
 */
export function createLogger(
  bindings: Record<string, unknown> = {},
  level: LogLevel | 'silent' = levelFrom(process.env.HITL_LOG_LEVEL),
): Logger {
  const threshold = level === 'silent' ? Infinity : ranks[level];
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ranks[lvl] < threshold) return;
    const line = { level: lvl, time: new Date().toISOString(), msg, ...bindings, ...fields };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (fields) => createLogger({ ...bindings, ...fields }, level),
  };
}
