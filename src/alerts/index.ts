/** The dispatcher area: what src/hub.ts wires. */
export type { AlertStream, Channel, StreamMessage } from './channels.ts';
export { mqttChannel } from './channels.ts';
export type { AlertsConfig, Ladder, LadderStep, SlaAllowance } from './config.ts';
export { alertsConfigSchema, DEFAULT_LADDERS, DEFAULT_SLA } from './config.ts';
export type { Dispatcher, DispatcherDeps, PlaceNames } from './dispatcher.ts';
export { createDispatcher } from './dispatcher.ts';
export type { DutyDirectory, DutyPick, PeopleStore } from './duty.ts';
export { createPeopleStore } from './duty.ts';
export type { KpiFigures, KpiFilter, KpiReport } from './kpis.ts';
export type { AlertsRoutesDeps } from './routes.ts';
export { alertsPublicRoutes, alertsRoutes } from './routes.ts';
export type { Light, SlaClock } from './sla.ts';
export type {
  AlertFilter,
  AlertStatus,
  AlertView,
  IncidentView,
  Resolution,
  TimelineEvent,
} from './types.ts';
