import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

/** The one root logger; modules take `log.child({ module })`. Fastify is given the same instance. */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  return pino({
    level,
    base: { service: 'gridhub' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'secret', '*.secret', 'token', 'req.headers.authorization'],
      censor: '[redacted]',
    },
    ...options,
  });
}
