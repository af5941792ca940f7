/** The dispatcher area: what src/hub.ts wires. */
export type {
  AlertStream,
  Channel,
  DeliveryMeta,
  DeliveryReceipt,
  StreamMessage,
} from '../channels/channel.ts';
export { DeliveryError, mqttChannel } from '../channels/channel.ts';
export type { DutyDirectory, DutyPick, PeopleStore } from '../registry/people.ts';
export type { AuditEntry } from './audit-log.ts';
export type { ChannelTarget } from './channel-targets.ts';
export type { AlertsConfig, Ladder, LadderStep, SlaAllowance } from './config.ts';
export { alertsConfigSchema, DEFAULT_LADDERS, DEFAULT_SLA } from './config.ts';
export { deliveryChannels, outboundPolicy } from './delivery-channels.ts';
export { deliveryRoutes } from './delivery-routes.ts';
export type { DeliveryView, Dispatcher, DispatcherDeps, PlaceNames } from './dispatcher.ts';
export { createDispatcher, MUST_REACH_RUNGS } from './dispatcher.ts';
export type { KpiFigures, KpiFilter, KpiReport } from './kpis.ts';
export { openSharedAlertStores } from './postgres-alert-store.ts';
export { type MaskedResident, maskName, maskPhone, maskResident } from './privacy.ts';
export type { QuietHours } from './quiet-hours.ts';
export { ratingPagePlugin } from './rating-page.ts';
export type { ResidentStore } from './residents.ts';
export type { AlertsRoutesDeps } from './routes.ts';
export { alertsPublicRoutes, alertsRoutes } from './routes.ts';
export type { Light, SlaClock } from './sla.ts';
export { type AlertStores, openSqliteAlertStores } from './sqlite-alert-store.ts';
export type {
  AlertFilter,
  AlertScope,
  AlertStatus,
  AlertView,
  IncidentView,
  MaintenanceTask,
  Resolution,
  TimelineEvent,
} from './types.ts';
