/** Maintenance tasks opened by false alarms and device faults; closing one lifts the device's suppression. */

import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { Db } from '../storage/sqlite.ts';
import type { AlertStore } from './alert-store.ts';
import { taskView } from './api-views.ts';
import type { Queries } from './sqlite-statements.ts';
import type { MaintenanceRow } from './tables.ts';
import type { MaintenanceTask } from './types.ts';

export interface Maintenance {
  list(filter?: { open?: boolean }): MaintenanceTask[];
  get(id: number): MaintenanceTask | undefined;
  /** Close a task: the device is fixed, so its suppression ends too. */
  close(id: number, actor: string, note?: string): MaintenanceTask;
}

export interface MaintenanceDeps {
  db: Db;
  clock: Clock;
  q: Queries;
  store: AlertStore;
}

export function createMaintenance(deps: MaintenanceDeps): Maintenance {
  const { db, clock, q, store } = deps;

  function get(id: number): MaintenanceTask | undefined {
    const r = q.task.get(id);
    return r ? taskView(r) : undefined;
  }

  return {
    list(filter = {}) {
      const rows = db
        .prepare<[], MaintenanceRow>(
          `SELECT m.*, a.place AS place FROM maintenance_tasks m LEFT JOIN alerts a ON a.id = m.alert_id
           ${filter.open === undefined ? '' : filter.open ? 'WHERE m.done_at IS NULL' : 'WHERE m.done_at IS NOT NULL'}
           ORDER BY m.id DESC LIMIT 1000`,
        )
        .all();
      return rows.map(taskView);
    },
    get,
    close(id, actor, note) {
      const r = q.taskOnly.get(id);
      if (!r) throw new GridHubError('NOT_FOUND', `no maintenance task ${id}`);
      if (r.done_at !== null) throw new GridHubError('CONFLICT', `maintenance task ${id} is already closed`);
      store.tx((fx) => {
        const now = clock.now();
        q.closeTask.run(now, actor, note ?? null, id);
        // The device is fixed: its alarms count again from now on.
        const lifted = q.liftSuppressions.run(now, r.device_id, now).changes;
        store.record(
          fx,
          r.alert_id,
          'maintenance_task_closed',
          actor,
          { taskId: id, note: note ?? null, lifted },
          { sink: false },
        );
      });
      return get(id) as MaintenanceTask;
    },
  };
}
