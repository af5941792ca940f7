/**
 * `npm run wire`: the wire contract of src/domain/wire.ts as JSON (topics, and JSON Schema of each payload) for
 * what cannot import TypeScript: the Node-RED nodes read it from node-red-contrib-gridhub/lib/wire.json.
 * test/node-red/wire.test.ts fails when the committed file is not what this writes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  deviceErrorMessageSchema,
  eventPayloadSchema,
  INTEGRATION_READINGS_PREFIX,
  integrationReadingSchema,
  TOPIC_ROOT,
  telemetryPayloadSchema,
  workerMessageSchema,
} from '../src/domain/wire.ts';
import { PROJECT_ROOT } from '../src/runtime/project.ts';

export const WIRE_JSON = join(PROJECT_ROOT, 'node-red/node-red-contrib-gridhub/lib/wire.json');

export function wireContractJson(): string {
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  const contract = {
    $comment: 'Generated from src/domain/wire.ts by `npm run wire`; do not edit.',
    topics: {
      root: TOPIC_ROOT,
      telemetry: `${TOPIC_ROOT}/{deviceId}/telemetry`,
      event: `${TOPIC_ROOT}/{deviceId}/event`,
      status: `${TOPIC_ROOT}/{deviceId}/status`,
      errors: `${TOPIC_ROOT}/{deviceId}/errors`,
      workerAlarms: `${TOPIC_ROOT}/workers/{personId}/alarms`,
      integrationReadingsPrefix: INTEGRATION_READINGS_PREFIX,
    },
    schemas: {
      telemetryPayload: schema(telemetryPayloadSchema),
      eventPayload: schema(eventPayloadSchema),
      deviceError: schema(deviceErrorMessageSchema),
      workerMessage: schema(workerMessageSchema),
      integrationReading: schema(integrationReadingSchema),
    },
  };
  return `${JSON.stringify(contract, null, 2)}\n`;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  writeFileSync(WIRE_JSON, wireContractJson());
  process.stdout.write(`wrote ${WIRE_JSON}\n`);
}
