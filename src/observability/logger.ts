import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

/** The one root logger; modules take `log.child({ module })`. Fastify is given the same instance. */
export function createLogger(
  level: string,
  options: LoggerOptions = {},
  destination?: DestinationStream,
): Logger {
  const opts: LoggerOptions = {
    level,
    base: { service: 'gridhub' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'secret', '*.secret', 'token', 'req.headers.authorization'],
      censor: '[redacted]',
    },
    ...options,
  };
  return destination ? pino(opts, destination) : pino(opts);
}
