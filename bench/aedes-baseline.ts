/**
 * The baseline: a bare aedes 1.2.0 with no authentication, no hooks and Nagle off (stack.md), in its own
 * process so the bench can read its RSS. Prints `PORT <n>` on stdout once listening; stops on SIGTERM.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const broker = await Aedes.createBroker({});
const server = createServer({ noDelay: true }, broker.handle);
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`PORT ${typeof address === 'object' && address ? address.port : 0}\n`);
});
const stop = () => {
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
