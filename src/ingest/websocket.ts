import type { Duplex } from 'node:stream';
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import { createWebSocketStream } from 'ws';

export interface WebSocketMqttOptions {
  path: string;
  maxPacketBytes: number;
  /** Hand a connection's byte stream to the broker. */
  attach(stream: Duplex, ip: string): void;
}

/**
 * MQTT over WebSocket on the HTTP port (browsers, the worker view, clients behind HTTP-only proxies). Register
 * it outside the authenticated `/api` scope: MQTT authenticates in CONNECT. When the app already uses
 * @fastify/websocket, register that first (at the root) and this plugin reuses it: a second registration
 * would add a second 'upgrade' listener on the same server.
 */
export function mqttWebSocketPlugin(options: WebSocketMqttOptions): FastifyPluginAsync {
  return async function mqttWebSocket(app) {
    if (!app.hasDecorator('websocketServer')) {
      // a WebSocket message may carry several MQTT frames; the frame guard behind it checks each frame, this
      // only keeps ws from buffering an absurd message before the guard sees it
      await app.register(websocket, {
        options: { maxPayload: Math.max(2 * options.maxPacketBytes, 1024 * 1024) },
      });
    }
    app.get(options.path, { websocket: true }, (socket, request) => {
      options.attach(createWebSocketStream(socket), request.ip);
    });
  };
}
