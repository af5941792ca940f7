import { t } from '../common/i18n.ts';
import type { Device } from '../common/types.ts';

/** Online, offline — or not yet online: a device that never connected is not reported as a fault. */
export function presenceLabel(d: Pick<Device, 'online' | 'lastSeen'>): string {
  if (d.online) return t('online');
  return d.lastSeen === null ? t('notYetOnline') : t('offline');
}
