import type { AlertStatus } from '../common/types.ts';

/** Which actions the alert's state allows (the hub answers 409 for the others anyway). */
export function actionsFor(status: AlertStatus, rated: boolean): string[] {
  switch (status) {
    case 'open':
    case 'dispatched':
      return ['acknowledge', 'arrive', 'resolve', 'whistle', 'false-alarm'];
    case 'acknowledged':
      return ['arrive', 'resolve', 'whistle', 'false-alarm'];
    case 'on_site':
      return ['resolve', 'whistle', 'false-alarm'];
    case 'resolved':
      return rated ? ['close'] : ['rate', 'close'];
    default:
      return [];
  }
}
