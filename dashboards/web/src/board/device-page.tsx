import { useEffect, useRef, useState } from 'preact/hooks';
import { type Api, query } from '../common/api.ts';
import { fmtTime } from '../common/format.ts';
import { getLang, t, useLang } from '../common/i18n.ts';
import { toPoints } from '../common/points.ts';
import { fieldLabel } from '../common/summary.ts';
import type { CatalogueEntry, CatalogueField, Device } from '../common/types.ts';
import type { ChartHandle } from './chart.ts';
import { presenceLabel } from './presence.ts';

const RANGES = { '1h': [3_600_000, '1m'], '24h': [86_400_000, '15m'], '7d': [7 * 86_400_000, '2h'] } as const;
type Range = keyof typeof RANGES;

let catalogueCache: Promise<CatalogueEntry[]> | undefined;

export function DevicePage(props: { api: Api; id: string; now: () => number; onBack: () => void }) {
  useLang();
  const [device, setDevice] = useState<Device | null>(null);
  const [entry, setEntry] = useState<CatalogueEntry | null>(null);
  const [range, setRange] = useState<Range>('24h');
  const [error, setError] = useState('');
  const [battery, setBattery] = useState<number | null>(null);

  useEffect(() => {
    let live = true;
    catalogueCache ??= props.api.get<CatalogueEntry[]>('/api/catalogue');
    Promise.all([props.api.get<Device>(`/api/devices/${encodeURIComponent(props.id)}`), catalogueCache])
      .then(([d, cat]) => {
        if (!live) return;
        setDevice(d);
        setEntry(cat.find((c) => c.id === d.type) ?? null);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [props.id, props.api]);

  const fields = entry
    ? Object.entries(entry.telemetry).filter(([, f]) => f.kind === 'number' || f.kind === 'boolean')
    : [];
  const typeName =
    entry && typeof entry.name === 'object' ? (entry.name[getLang()] ?? entry.id) : (device?.type ?? '');

  return (
    <aside class="detail device" aria-label={t('device')} data-device={props.id}>
      <header>
        <h2>
          <span class={`dot ${device?.online ? 'light-green' : 'light-none'}`} /> {props.id}
        </h2>
        <button type="button" class="icon" aria-label={t('back')} onClick={props.onBack}>
          ×
        </button>
      </header>
      {error ? <p class="error">{error}</p> : null}
      {device ? (
        <dl class="facts">
          <dt>{t('device')}</dt>
          <dd>{typeName}</dd>
          <dt>{t('status')}</dt>
          <dd data-online={String(device.online)}>{presenceLabel(device)}</dd>
          <dt>{t('lastSeen')}</dt>
          <dd>{device.lastSeen ? fmtTime(Date.parse(device.lastSeen)) : '—'}</dd>
          <dt>{t('place')}</dt>
          <dd>
            {device.placeNames.join(' › ')}
            {device.floor !== null ? ` · ${device.floor}F` : ''}
          </dd>
          {entry?.telemetry.battery ? (
            <>
              <dt>{t('battery')}</dt>
              <dd>
                <Battery value={battery} />
              </dd>
            </>
          ) : null}
        </dl>
      ) : null}
      {device && fields.length ? (
        <section>
          <h3>
            {t('telemetry')}
            <span class="range">
              {(Object.keys(RANGES) as Range[]).map((r) => (
                <button type="button" key={r} class={r === range ? 'active' : ''} onClick={() => setRange(r)}>
                  {t(`range.${r}`)}
                </button>
              ))}
            </span>
          </h3>
          {fields.map(([name, spec]) => (
            <FieldChart
              key={`${name}-${range}`}
              api={props.api}
              device={device}
              field={name}
              spec={spec}
              range={range}
              now={props.now}
              onLatest={name === 'battery' ? setBattery : undefined}
            />
          ))}
        </section>
      ) : null}
    </aside>
  );
}

function Battery(props: { value: number | null }) {
  if (props.value === null) return <span>—</span>;
  const level = props.value < 20 ? 'low' : props.value < 50 ? 'mid' : 'ok';
  return (
    <span class={`battery battery-${level}`} data-battery={props.value}>
      <span style={{ width: `${Math.max(0, Math.min(100, props.value))}%` }} />
      <em>{Math.round(props.value)}%</em>
    </span>
  );
}

function FieldChart(props: {
  api: Api;
  device: Device;
  field: string;
  spec: CatalogueField;
  range: Range;
  now: () => number;
  onLatest?: ((v: number | null) => void) | undefined;
}) {
  const el = useRef<HTMLDivElement>(null);
  const [empty, setEmpty] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    if (!el.current) return;
    const host = el.current;
    let chart: ChartHandle | undefined;
    let live = true;
    const [span, every] = RANGES[props.range];
    const to = props.now();
    const path = `/api/telemetry${query({
      device: props.device.id,
      field: props.field,
      from: to - span,
      to,
      every,
      fn: props.spec.kind === 'number' ? 'mean' : 'last',
    })}`;
    // ECharts loads with the first chart, not with the board.
    Promise.all([props.api.get<unknown>(path), import('./chart.ts')])
      .then(([body, { lineChart }]) => {
        if (!live) return;
        chart = lineChart(host, props.field);
        const points = toPoints(body);
        setEmpty(points.length === 0);
        const states = props.spec.kind === 'boolean' ? { no: t('no'), yes: t('yes') } : undefined;
        chart?.update(points, props.spec.unit, { from: to - span, to }, states);
        const last = [...points].reverse().find((p) => p.v !== null);
        props.onLatest?.(last?.v ?? null);
      })
      .catch((e: Error) => setError(e.message));
    return () => {
      live = false;
      chart?.dispose();
      chart = undefined;
    };
  }, [props.device.id, props.field, props.range]);
  return (
    <figure class="chart" data-field={props.field}>
      <figcaption>
        {fieldLabel(props.device.type, props.field)}
        {props.spec.unit ? ` (${props.spec.unit})` : ''}
        {empty ? <span class="muted"> · {t('noData')}</span> : null}
        {error ? (
          <span class="error" title={error}>
            {' '}
            · {t('error')}
          </span>
        ) : null}
      </figcaption>
      <div ref={el} class="chart-canvas" />
    </figure>
  );
}
