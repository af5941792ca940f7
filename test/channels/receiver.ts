import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** When it arrived, by the receiver's clock (the hub's virtual clock when a test hands it one). */
  at: number;
  json(): Record<string, unknown>;
}

/** What the receiver answers: a status and body, or `hang` (never answers: the sender times out). */
export type Answer = { status: number; body?: unknown } | 'hang';

/**
 * A local HTTP receiver on 127.0.0.1:0 standing in for webhook targets, chat robots, the SMS gateway and the push
 * service. Per path: a script of answers (the last one repeats), default 200 `{"errcode":0,"code":0}`.
 */
export class Receiver {
  readonly received: Received[] = [];
  private readonly scripts = new Map<string, Answer[]>();
  private readonly hanging = new Set<ServerResponse>();
  private server: Server | null = null;
  base = '';
  constructor(private readonly now: () => number = Date.now) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', this.base);
        const body = Buffer.concat(chunks);
        this.received.push({
          method: req.method ?? '',
          url,
          headers: req.headers,
          body,
          at: this.now(),
          json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown>,
        });
        const script = this.scripts.get(url.pathname);
        const answer: Answer = (script && script.length > 1 ? script.shift() : script?.[0]) ?? {
          status: 200,
          body: { errcode: 0, code: 0, errmsg: 'ok' },
        };
        if (answer === 'hang') {
          this.hanging.add(res);
          return;
        }
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body ?? {}));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  url(path: string): string {
    return `${this.base}${path}`;
  }

  script(path: string, ...answers: Answer[]): void {
    this.scripts.set(path, answers);
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.url.pathname === path);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
