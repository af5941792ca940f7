/**
 * The dashboards' live stream: alert changes fanned out to Server-Sent-Event connections straight from the event
 * bus, never through the outbox. Each connection has a bounded send buffer (the bytes its socket has not taken
 * yet); a dashboard that falls behind by more than that is cut off, counted, and reconnects with a fresh ticket
 * and a fresh snapshot (dashboards/web/src/board/app.tsx). Writing to a socket never waits, so a slow dashboard
 * costs the others nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AlertStreamMessage } from '../domain/events.ts';

export type StreamMessage = AlertStreamMessage;
export type StreamListener = (msg: StreamMessage) => void;

/** The fan-out itself: SSE connections subscribe; the dispatcher publishes what the bus brings. */
export interface AlertStream {
  subscribe(listener: StreamListener): () => void;
  readonly subscribers: number;
  publish(msg: StreamMessage): void;
  /**
   * Serve one SSE connection: messages `visible` lets through are written as `event: alert`, with keep-alive
   * comments; the connection is cut off once its socket holds more than the buffer allows.
   */
  serve(
    req: IncomingMessage,
    res: ServerResponse,
    options: { visible: (msg: StreamMessage) => boolean; keepAliveMs: number; now: () => number },
  ): void;
}

export interface AlertStreamOptions {
  /** Bytes one connection may have unsent before it is cut off. */
  maxBufferedBytes: number;
  metrics: Registry;
  log: Logger;
}

export function createAlertStream(options: AlertStreamOptions): AlertStream {
  const { maxBufferedBytes, log } = options;
  const listeners = new Set<StreamListener>();
  const cutOffs = new Counter({
    name: 'gridhub_alerts_stream_cutoffs_total',
    help: 'Live-stream (SSE) connections cut off because they fell behind by more than alerts.streamMaxBufferedBytes',
    registers: [options.metrics],
  });
  new Gauge({
    name: 'gridhub_alerts_stream_connections',
    help: 'Open live-stream (SSE) connections',
    registers: [options.metrics],
    collect() {
      this.set(listeners.size);
    },
  });

  const subscribe = (listener: StreamListener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };

  return {
    subscribe,
    get subscribers() {
      return listeners.size;
    },
    publish(msg) {
      for (const l of listeners) {
        try {
          l(msg);
        } catch (err) {
          // One broken connection must not stop the others; its own close handler unsubscribes it.
          log.warn({ err, alertId: msg.alertId }, 'stream listener failed');
        }
      }
    },
    serve(req, res, o) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(`retry: 3000\n: connected ${o.now()}\n\n`);
      let open = true;
      const end = () => {
        if (!open) return;
        open = false;
        clearInterval(keepAlive);
        unsubscribe();
      };
      /**
       * Write, unless the connection is already that far behind: then cut it off instead of buffering on. (The
       * backlog before this message is what counts, so one large message never cuts a reader that keeps up.)
       */
      const send = (chunk: string) => {
        if (!open) return;
        if (res.writableLength > maxBufferedBytes) {
          cutOffs.inc();
          log.warn(
            { buffered: res.writableLength, maxBufferedBytes, ip: req.socket.remoteAddress },
            'live stream connection too far behind; cut off (the page reconnects and reloads)',
          );
          end();
          res.destroy();
          return;
        }
        res.write(chunk);
      };
      const unsubscribe = subscribe((msg) => {
        if (!o.visible(msg)) return;
        send(`id: ${msg.alertId}:${msg.at}\nevent: alert\ndata: ${JSON.stringify(msg)}\n\n`);
      });
      const keepAlive = setInterval(() => send(': keep-alive\n\n'), o.keepAliveMs);
      keepAlive.unref();
      req.on('close', end);
      res.on('close', end);
      res.on('error', end);
    },
  };
}
