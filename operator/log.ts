import winston from 'winston';

/**
 * Structured JSON logs on stderr (stdout stays free for a command's own output). Job, site and
 * round travel as fields on child loggers, never inside the message text.
 */
export type Logger = winston.Logger;

const level = process.env.FLOTILLA_LOG_LEVEL ?? 'info';

export function createLogger(component: string, fields: Record<string, unknown> = {}): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component, ...fields },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: Object.keys(winston.config.npm.levels) })],
  });
}
