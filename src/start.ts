import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './config/config.ts';
import type { DemoCredentials } from './domain/wire.ts';
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

  // Only `npm start` brings the demo to life; a hub built by tests or embedded elsewhere stays still.
  const activity =
    hub.demoCredentialsFile && config.demoActivity
      ? // loaded only here: the demo's device clients (the MQTT client library) are no part of start-up
        await (await import('./demo/activity.ts'))
          .startDemoActivity({
            credentials: JSON.parse(readFileSync(hub.demoCredentialsFile, 'utf8')) as DemoCredentials,
            mqttUrl: hub.urls.mqtt,
            clock: hub.clock,
            log: log.child({ module: 'demo' }),
          })
          .catch((err: unknown) => {
            log.warn({ err }, 'demo activity did not start (set GRIDHUB_DEMO_ACTIVITY=false to turn it off)');
            return undefined;
          })
      : undefined;

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    Promise.resolve(activity?.stop())
      .then(() => hub.stop())
      .then(
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
