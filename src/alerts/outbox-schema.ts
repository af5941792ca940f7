/**
 * Migrations of the outbox's delivery lanes, module `alerts.outbox` (the table itself is created by the `alerts`
 * migrations, which run first). Append, never edit.
 */
export const OUTBOX_MIGRATIONS: readonly string[] = [
  `
  -- Claims: a row being delivered carries the hub that took it and until when; the outcome clears both, and a
  -- claim whose lease ran out (its hub died) may be taken over. Rows are never held in memory only.
  ALTER TABLE alert_outbox ADD COLUMN claimed_by TEXT;
  ALTER TABLE alert_outbox ADD COLUMN lease_until INTEGER;
  -- One lane per channel and target: due rows of a lane, critical first.
  CREATE INDEX alert_outbox_lane ON alert_outbox(state, channel, target, next_at);
  -- The live stream is fed from the event bus now; its rows of earlier versions have nobody to go to.
  DELETE FROM alert_outbox WHERE channel = 'stream';
  `,
];
