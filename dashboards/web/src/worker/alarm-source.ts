import mqtt from 'mqtt';
import type { WorkerAlarm } from '../common/types.ts';

export type SourceState = 'connecting' | 'connected' | 'disconnected';

/**
 * Where a worker's alarms come from. MQTT over WebSocket today; Web Push (through the service worker) is
 * another implementation of the same interface, so the page does not change when it is added.
 */
export interface AlarmSource {
  start(onAlarm: (alarm: WorkerAlarm) => void, onState: (s: SourceState) => void): void;
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
  return {
    start(onAlarm, onState) {
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
        try {
          const alarm = JSON.parse(new TextDecoder().decode(payload)) as WorkerAlarm;
          if (alarm && typeof alarm.alertId === 'string') onAlarm(alarm);
        } catch {
          // Not an alarm we understand; the list refresh still shows the alert.
        }
      });
    },
    stop() {
      client?.end(true);
      client = undefined;
    },
  };
}
