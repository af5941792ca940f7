import mqtt from 'mqtt';
import { type WorkerMessage, workerMessageSchema } from '../../../../src/domain/wire.ts';
import { seenMessages } from './seen-messages.ts';

export type SourceState = 'connecting' | 'connected' | 'disconnected';

/**
 * Where a worker's alarms come from. MQTT over WebSocket today; Web Push (through the service worker) is
 * another implementation of the same interface, so the page does not change when it is added.
 */
export interface AlarmSource {
  start(onMessage: (message: WorkerMessage) => void, onState: (s: SourceState) => void): void;
  stop(): void;
}

/** `gh/workers/{personId}/alarms` at QoS 1, logging in with the user name and an API token. */
export function mqttAlarmSource(options: {
  url: string;
  username: string;
  token: string;
  personId: string;
  clientId: string;
}): AlarmSource {
  let client: mqtt.MqttClient | undefined;
  // across reconnects: the persistent session redelivers what the phone had not acknowledged
  const seen = seenMessages();
  return {
    start(onMessage, onState) {
      onState('connecting');
      client = mqtt.connect(options.url, {
        username: options.username,
        password: options.token,
        clientId: options.clientId,
        // A persistent session keeps QoS 1 alarms for the phone while it is away.
        clean: false,
        reconnectPeriod: 3000,
        connectTimeout: 10_000,
        protocolVersion: 4,
      });
      const topic = `gh/workers/${options.personId}/alarms`;
      client.on('connect', () => {
        onState('connected');
        client?.subscribe(topic, { qos: 1 });
      });
      client.on('close', () => onState('disconnected'));
      client.on('offline', () => onState('disconnected'));
      client.on('message', (_topic, payload) => {
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder().decode(payload));
        } catch {
          return;
        }
        // An alarm or a digest of many; anything else (a newer hub's message kind) is left to the list refresh.
        const message = workerMessageSchema.safeParse(json);
        if (message.success && seen.first(message.data.messageId)) onMessage(message.data);
      });
    },
    stop() {
      client?.end(true);
      client = undefined;
    },
  };
}
