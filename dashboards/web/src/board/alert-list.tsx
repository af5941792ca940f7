import { useState } from 'preact/hooks';
import { alertTitle, fmtTime, placeLabel } from '../common/format.ts';
import { t, useLang } from '../common/i18n.ts';
import { fill } from '../common/i18n-views.ts';
import type { Alert, Light, Severity } from '../common/types.ts';
import { LIGHTS, SEVERITIES } from '../common/types.ts';
import { LightDot, SeverityBadge, StatusBadge } from '../common/widgets.tsx';
import { groupRows } from './incidents.ts';
import { worse } from './lights.ts';

const PLACE_LEVELS = ['street', 'community', 'grid', 'estate', 'building', 'unit'] as const;

export interface Filters {
  scope: 'active' | 'all';
  severity: Severity | '';
  light: Light | '';
  text: string;
}

/** One labelled filter: `name` is also the i18n key of its label; options are [value, label] pairs. */
function FilterSelect(props: {
  name: 'scope' | 'severity' | 'light';
  value: string;
  options: [string, string][];
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {t(props.name === 'scope' ? 'status' : props.name)}
      <select name={props.name} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.options.map(([value, label]) => (
          <option value={value} key={value}>
            {label}
          </option>
        ))}
      </select>
    </label>
  );
}

export function FilterBar(props: { filters: Filters; onChange: (f: Filters) => void }) {
  useLang();
  const f = props.filters;
  const set = (patch: Partial<Filters>) => props.onChange({ ...f, ...patch });
  return (
    <div class="filters">
      <FilterSelect
        name="scope"
        value={f.scope}
        options={[
          ['active', t('active')],
          ['all', t('all')],
        ]}
        onChange={(scope) => set({ scope: scope as Filters['scope'] })}
      />
      <FilterSelect
        name="severity"
        value={f.severity}
        options={[['', t('any')], ...SEVERITIES.map((s): [string, string] => [s, t(`severity.${s}`)])]}
        onChange={(severity) => set({ severity: severity as Filters['severity'] })}
      />
      <FilterSelect
        name="light"
        value={f.light}
        options={[['', t('any')], ...LIGHTS.map((l): [string, string] => [l, t(`light.${l}`)])]}
        onChange={(light) => set({ light: light as Filters['light'] })}
      />
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
  const [openIncidents, setOpenIncidents] = useState<Set<string>>(new Set());
  if (!props.alerts.length) return <p class="empty">{t('noAlerts')}</p>;
  const toggle = (key: string) =>
    setOpenIncidents((prev) => {
      const next = new Set(prev);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  return (
    <ul class="alerts" aria-label={t('alerts')}>
      {groupRows(props.alerts).map((row) => {
        if (row.kind === 'alert') return <AlertRow key={row.alert.id} a={row.alert} {...props} />;
        const first = row.alerts[0] as Alert;
        const expanded = openIncidents.has(row.key);
        const light = row.alerts.reduce<Light>((l, a) => worse(l, a.light) as Light, 'green');
        // The estate of an outage (placeNames has one name per level present in the path, street first).
        const levels = PLACE_LEVELS.filter((l) => first.place[l]);
        const place = first.placeNames[levels.indexOf('estate')] ?? first.placeNames.at(-1) ?? '';
        const title =
          first.category === 'device_offline'
            ? fill(t('incident.offline'), { n: row.alerts.length, place })
            : `${alertTitle(first)} · ${fill(t('incident.members'), { n: row.alerts.length })}`;
        return (
          <li key={row.key} class="incident-row">
            <button
              type="button"
              class={`alert-row sev-row-${first.severity}`}
              data-incident-row={row.key}
              data-members={row.alerts.length}
              aria-expanded={expanded}
              onClick={() => toggle(row.key)}
            >
              <LightDot light={light} title={t(`light.${light}`)} />
              <SeverityBadge severity={first.severity} />
              <span class="alert-title">
                {expanded ? '▾' : '▸'} {title}
              </span>
              <span class="alert-place">{place}</span>
              <span class="badge">{t('incident')}</span>
              <time class="alert-time">{fmtTime(first.openedAt)}</time>
            </button>
            {expanded ? (
              <ul class="members">
                {row.alerts.map((a) => (
                  <AlertRow key={a.id} a={a} {...props} />
                ))}
              </ul>
            ) : null}
          </li>
        );
      })}
    </ul>
  );
}

function AlertRow(props: {
  a: Alert;
  fresh: Set<string>;
  selected: string | null;
  onOpen: (id: string) => void;
}) {
  const { a } = props;
  return (
    <li>
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
          {a.escalated ? <span class="badge escalated">{t(`escalated.${a.reach}`)}</span> : null}
        </span>
        <span class="alert-place">{placeLabel(a.placeNames, a.floor)}</span>
        <StatusBadge status={a.status} />
        <time class="alert-time">{fmtTime(a.openedAt)}</time>
      </button>
    </li>
  );
}
