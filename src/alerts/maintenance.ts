/** Maintenance tasks opened by false alarms and device faults; closing one lifts the device's suppression. */

import type { Clock } from '../clock/clock.ts';
import { GridHubError } from '../domain/errors.ts';
import type { AlertStatements, AlertStore } from './alert-store.ts';
import { taskView } from './api-views.ts';
import type { AlertTransactions } from './transactions.ts';
import type { MaintenanceTask } from './types.ts';

export interface Maintenance {
  list(filter?: { open?: boolean }): Promise<MaintenanceTask[]>;
  get(id: number): Promise<MaintenanceTask | undefined>;
  /** Close a task: the device is fixed, so its suppression ends too. */
  close(id: number, actor: string, note?: string): Promise<MaintenanceTask>;
}

export interface MaintenanceDeps {
  store: AlertStore;
  clock: Clock;
  q: AlertStatements;
  alerts: AlertTransactions;
}

export function createMaintenance(deps: MaintenanceDeps): Maintenance {
  const { store, clock, q, alerts } = deps;

  async function get(id: number): Promise<MaintenanceTask | undefined> {
    const r = await q.task(id);
    return r ? taskView(r) : undefined;
  }

  return {
    async list(filter = {}) {
      const rows = await store.maintenanceTasks(filter.open);
      return rows.map(taskView);
    },
    get,
    async close(id, actor, note) {
      const r = await q.taskOnly(id);
      if (!r) throw new GridHubError('NOT_FOUND', `no maintenance task ${id}`);
      if (r.done_at !== null) throw new GridHubError('CONFLICT', `maintenance task ${id} is already closed`);
      await alerts.tx(async (fx) => {
        const now = clock.now();
        await q.closeTask(now, actor, note ?? null, id);
        // The device is fixed: its alarms count again from now on.
        const lifted = await q.liftSuppressions(now, r.device_id, now);
        await alerts.record(
          fx,
          r.alert_id,
          'maintenance_task_closed',
          actor,
          { taskId: id, note: note ?? null, lifted },
          { sink: false },
        );
      });
      return (await get(id)) as MaintenanceTask;
    },
  };
}
