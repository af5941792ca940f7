import { alertTitle, fmtTime, placeLabel } from '../common/format.ts';
import { t, useLang } from '../common/i18n.ts';
import type { Alert, Light, Severity } from '../common/types.ts';
import { LIGHTS, SEVERITIES } from '../common/types.ts';
import { LightDot, SeverityBadge, StatusBadge } from '../common/widgets.tsx';

export interface Filters {
  scope: 'active' | 'all';
  severity: Severity | '';
  light: Light | '';
  text: string;
}

export function FilterBar(props: { filters: Filters; onChange: (f: Filters) => void }) {
  useLang();
  const f = props.filters;
  const set = (patch: Partial<Filters>) => props.onChange({ ...f, ...patch });
  return (
    <div class="filters">
      <label>
        {t('status')}
        <select
          name="scope"
          value={f.scope}
          onChange={(e) => set({ scope: e.currentTarget.value as Filters['scope'] })}
        >
          <option value="active">{t('active')}</option>
          <option value="all">{t('all')}</option>
        </select>
      </label>
      <label>
        {t('severity')}
        <select
          name="severity"
          value={f.severity}
          onChange={(e) => set({ severity: e.currentTarget.value as Filters['severity'] })}
        >
          <option value="">{t('any')}</option>
          {SEVERITIES.map((s) => (
            <option value={s} key={s}>
              {t(`severity.${s}`)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('light')}
        <select
          name="light"
          value={f.light}
          onChange={(e) => set({ light: e.currentTarget.value as Filters['light'] })}
        >
          <option value="">{t('any')}</option>
          {LIGHTS.map((l) => (
            <option value={l} key={l}>
              {t(`light.${l}`)}
            </option>
          ))}
        </select>
      </label>
      <label class="grow">
        {t('search')}
        <input
          name="text"
          type="search"
          value={f.text}
          onInput={(e) => set({ text: e.currentTarget.value })}
        />
      </label>
    </div>
  );
}

export function AlertList(props: {
  alerts: Alert[];
  fresh: Set<string>;
  selected: string | null;
  onOpen: (id: string) => void;
}) {
  useLang();
  if (!props.alerts.length) return <p class="empty">{t('noAlerts')}</p>;
  return (
    <ul class="alerts" aria-label={t('alerts')}>
      {props.alerts.map((a) => (
        <li key={a.id}>
          <button
            type="button"
            data-alert-id={a.id}
            data-status={a.status}
            class={[
              'alert-row',
              `sev-row-${a.severity}`,
              props.fresh.has(a.id) ? 'fresh' : '',
              props.fresh.has(a.id) && a.severity === 'critical' ? 'flash' : '',
              props.selected === a.id ? 'selected' : '',
            ].join(' ')}
            onClick={() => props.onOpen(a.id)}
          >
            <LightDot light={a.light} title={t(`light.${a.light}`)} />
            <SeverityBadge severity={a.severity} />
            <span class="alert-title">
              {props.fresh.has(a.id) ? <span class="new-mark">{t('newAlert')}</span> : null}
              {alertTitle(a)}
              {a.count > 1 ? <span class="count">×{a.count}</span> : null}
              {a.escalated ? <span class="badge escalated">↑ {t(`reach.${a.reach}`)}</span> : null}
            </span>
            <span class="alert-place">{placeLabel(a.placeNames, a.floor)}</span>
            <StatusBadge status={a.status} />
            <time class="alert-time">{fmtTime(a.openedAt)}</time>
          </button>
        </li>
      ))}
    </ul>
  );
}
