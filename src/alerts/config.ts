import { z } from 'zod';

/** `alerts` section: env GRIDHUB_ALERTS_<KEY>. SLA allowances and ladders live in policy data, see README. */
export const alertsConfigSchema = z.object({});

export type AlertsConfig = z.output<typeof alertsConfigSchema>;
