import { ConfigError, loadConfig } from './config/config.ts';
import { createHub, StartupError } from './hub.ts';
import { createLogger } from './observability/logger.ts';

/** Load config, build the hub, start it, stop it cleanly on SIGINT/SIGTERM (entered through `main.ts`). */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gridhub: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const started = Date.now();
  const hub = await createHub({ config, log }).catch((err: unknown) => fail(err));
  await hub.start().catch((err: unknown) => fail(err));
  log.info(
    { http: hub.urls.http, mqtt: hub.urls.mqtt, dataDir: config.dataDir, startupMs: Date.now() - started },
    'GridHub ready',
  );
  if (hub.demoCredentialsFile) {
    process.stdout.write(`\nGridHub is up: dashboard/API ${hub.urls.http}  MQTT ${hub.urls.mqtt}\n`);
    process.stdout.write(`Demo credentials (devices, users, worker tokens): ${hub.demoCredentialsFile}\n\n`);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    hub.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  function fail(err: unknown): never {
    if (err instanceof StartupError) {
      log.fatal(err.message);
      process.stderr.write(`gridhub: ${err.message}\n`);
    } else log.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
}

await main();
