import { alertTitle } from '../../common/format.ts';
import { t, useLang } from '../../common/i18n.ts';
import type { Alert } from '../../common/types.ts';
import { type BuildingSpot, cellKey, floorKey, type Lit } from './layout.ts';

/** One building as floors × units, top floor first; a lit cell opens its alert. */
export function BuildingGrid(props: {
  spot: BuildingSpot;
  lit: Map<string, Lit>;
  alerts: Map<string, Alert>;
  onOpen: (alertId: string) => void;
}) {
  useLang();
  const { spot, lit } = props;
  const floors = Array.from({ length: spot.floors }, (_, i) => spot.floors - i);
  const units = spot.units.length ? spot.units : [{ id: '', name: '—' }];
  const whole = lit.get(spot.id);
  const titleOf = (l: Lit | undefined) =>
    l
      ? l.alertIds
          .map((id) => props.alerts.get(id))
          .filter((a): a is Alert => !!a)
          .map((a) => alertTitle(a))
          .join(t('tl.listSep'))
      : '';
  return (
    <section class="building-grid" data-building-grid={spot.id} aria-label={spot.name}>
      <h3>
        {spot.name}
        {whole ? (
          <span class={`badge sev-${whole.severity}`}>
            {t('map.alarms').replace('{n}', String(whole.alertIds.length))}
          </span>
        ) : null}
      </h3>
      <table>
        <thead>
          <tr>
            <th>{t('floor')}</th>
            {units.map((u) => (
              <th key={u.id}>{u.name}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {floors.map((f) => {
            const row = lit.get(floorKey(spot.id, f));
            return (
              <tr key={f} data-floor-row={f} data-severity={row?.severity ?? ''}>
                <th class={row ? `sev-${row.severity}` : ''}>{t('map.floorN').replace('{n}', String(f))}</th>
                {units.map((u) => {
                  const cell = u.id ? lit.get(cellKey(spot.id, f, u.id)) : row;
                  return (
                    <td key={u.id} data-floor={f} data-unit={u.id} data-severity={cell?.severity ?? ''}>
                      {cell ? (
                        <button
                          type="button"
                          class={`cell sev-${cell.severity} light-${cell.light}`}
                          title={titleOf(cell)}
                          onClick={() => props.onOpen(cell.alertIds[0] as string)}
                        >
                          {titleOf(cell)}
                        </button>
                      ) : null}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
