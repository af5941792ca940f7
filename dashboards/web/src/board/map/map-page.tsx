import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Api } from '../../common/api.ts';
import { t, useLang } from '../../common/i18n.ts';
import type { Alert, Light, PlaceNode } from '../../common/types.ts';
import { isoDay } from '../../common/zone.ts';
import { BuildingGrid } from './building-grid.tsx';
import { estatePlan, type PlanHandle } from './estate-plan.ts';
import { type HeatHandle, heatChart } from './heat.ts';
import { buildingSpots, estatesOf, heatCounts, litPlaces } from './layout.ts';

const DAY = 86_400_000;
const PERIODS = { '7d': 7, '30d': 30 } as const;
type Period = keyof typeof PERIODS;

/** 需求地图: the estate's buildings lit live by their alarms, one building as floors × units, and a heat view. */
export function MapPage(props: {
  api: Api;
  places: PlaceNode[];
  alerts: Alert[];
  lightOf: (a: Alert) => Light;
  now: () => number;
  onOpen: (alertId: string) => void;
}) {
  useLang();
  const estates = useMemo(() => estatesOf(props.places), [props.places]);
  const lit = useMemo(() => litPlaces(props.alerts, props.lightOf), [props.alerts, props.lightOf]);
  const byId = useMemo(() => new Map(props.alerts.map((a) => [a.id, a])), [props.alerts]);
  const [estateId, setEstateId] = useState<string | null>(null);
  const [buildingId, setBuildingId] = useState<string | null>(null);
  const [mode, setMode] = useState<'live' | 'heat'>('live');
  const [period, setPeriod] = useState<Period>('7d');
  // Until someone picks an estate, show the one with the most active alarms (else the first).
  const estate =
    estates.find((e) => e.id === estateId) ??
    [...estates].sort(
      (a, b) => (lit.get(b.id)?.alertIds.length ?? 0) - (lit.get(a.id)?.alertIds.length ?? 0),
    )[0] ??
    null;
  const spots = useMemo(
    () => (estate ? buildingSpots(estate.node, props.alerts) : []),
    [estate, props.alerts],
  );
  const spot = spots.find((s) => s.id === buildingId) ?? spots.find((s) => lit.has(s.id)) ?? spots[0] ?? null;
  const countLabel = (n: number) => t('map.alarms').replace('{n}', String(n));

  const planEl = useRef<HTMLDivElement>(null);
  const plan = useRef<PlanHandle | null>(null);
  // The plan's element exists only once the place tree has come (before it the page says there is no estate).
  const hasEstate = estate !== null;
  useEffect(() => {
    if (mode !== 'live' || !hasEstate || !planEl.current) return;
    plan.current = estatePlan(planEl.current, setBuildingId);
    return () => {
      plan.current?.dispose();
      plan.current = null;
    };
  }, [mode, hasEstate]);
  useEffect(() => {
    plan.current?.update(spots, lit, spot?.id ?? null, countLabel);
  });

  const heatEl = useRef<HTMLDivElement>(null);
  const heat = useRef<HeatHandle | null>(null);
  useEffect(() => {
    if (mode !== 'heat' || !heatEl.current || !estate) return;
    heat.current = heatChart(heatEl.current);
    const days = PERIODS[period];
    const end = props.now();
    const dates = Array.from({ length: days }, (_, i) => isoDay(end - (days - 1 - i) * DAY));
    let live = true;
    props.api
      .get<{ items: Alert[] }>(
        `/api/alerts?place=${encodeURIComponent(estate.id)}&from=${end - days * DAY}&limit=500`,
      )
      .then((res) => {
        if (!live) return;
        const ids = spots.map((s) => s.id);
        heat.current?.update(
          spots.map((s) => s.name),
          dates,
          heatCounts(res.items, ids, dates, isoDay),
        );
      })
      .catch(() => undefined);
    return () => {
      live = false;
      heat.current?.dispose();
      heat.current = null;
    };
  }, [mode, period, estate, spots, props.api, props.now]);

  if (!estate) return <p class="empty">{t('map.noEstates')}</p>;
  return (
    <section class="map-page" data-view="map" data-estate={estate.id}>
      <div class="map-bar">
        <label>
          {t('map.estate')}
          <select
            name="estate"
            value={estate.id}
            onChange={(e) => {
              setEstateId(e.currentTarget.value);
              setBuildingId(null);
            }}
          >
            {[...new Set(estates.map((e) => e.community))].map((c) => (
              <optgroup label={c} key={c}>
                {estates
                  .filter((e) => e.community === c)
                  .map((e) => (
                    <option value={e.id} key={e.id}>
                      {e.name}
                      {lit.get(e.id) ? ` (${lit.get(e.id)?.alertIds.length})` : ''}
                    </option>
                  ))}
              </optgroup>
            ))}
          </select>
        </label>
        <fieldset class="segmented">
          {(['live', 'heat'] as const).map((m) => (
            <button
              type="button"
              key={m}
              data-mode={m}
              class={mode === m ? 'active' : ''}
              onClick={() => setMode(m)}
            >
              {t(`map.${m}`)}
            </button>
          ))}
        </fieldset>
        {mode === 'heat' ? (
          <label>
            {t('range')}
            <select name="period" value={period} onChange={(e) => setPeriod(e.currentTarget.value as Period)}>
              {Object.keys(PERIODS).map((p) => (
                <option value={p} key={p}>
                  {t(`range.${p}`)}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <span class="legend">
          {(['critical', 'major', 'minor'] as const).map((s) => (
            <span key={s} class={`swatch sev-${s}`}>
              {t(`severity.${s}`)}
            </span>
          ))}
        </span>
      </div>
      <div class="map-body">
        <div class="plan">
          {mode === 'live' ? (
            <div ref={planEl} class="plan-chart" role="img" aria-label={t('map.plan')} />
          ) : (
            <div ref={heatEl} class="plan-chart heat-chart" role="img" aria-label={t('map.heat')} />
          )}
          <ul class="plan-keys" aria-label={t('map.buildings')}>
            {spots.map((s) => {
              const hit = lit.get(s.id);
              return (
                <li key={s.id}>
                  <button
                    type="button"
                    data-building={s.id}
                    data-severity={hit?.severity ?? ''}
                    data-light={hit?.light ?? ''}
                    class={`${hit ? `sev-${hit.severity}` : ''} ${spot?.id === s.id ? 'selected' : ''}`}
                    onClick={() => setBuildingId(s.id)}
                  >
                    {s.name}
                    {hit ? ` · ${countLabel(hit.alertIds.length)}` : ''}
                  </button>
                </li>
              );
            })}
          </ul>
        </div>
        {spot ? <BuildingGrid spot={spot} lit={lit} alerts={byId} onOpen={props.onOpen} /> : null}
      </div>
    </section>
  );
}
