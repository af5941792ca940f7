import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type Api, createApi, loadSession, revokeToken, type Session, saveSession } from '../common/api.ts';
import { alertTitle } from '../common/format.ts';
import { t, useLang } from '../common/i18n.ts';
import { playAlarm } from '../common/sound.ts';
import type { Alert, KpiReport, PlaceNode, StreamMessage } from '../common/types.ts';
import { LangSwitch, LoginForm } from '../common/widgets.tsx';
import { setTimeZone } from '../common/zone.ts';
import { AlertDetailPanel } from './alert-detail.tsx';
import { AlertList, FilterBar, type Filters } from './alert-list.tsx';
import { DeviceList } from './device-list.tsx';
import { DevicePage } from './device-page.tsx';
import { KpiPage } from './kpi/kpi-page.tsx';
import { KpiTiles } from './kpis.tsx';
import { alertIsUnder, isActive, lightsByPlace, liveLight } from './lights.ts';
import { MapPage } from './map/map-page.tsx';
import { PlaceTree } from './place-tree.tsx';

const SESSION_KEY = 'gridhub.board.session';
/** How long a new alert keeps its "new" mark unless opened. */
const FRESH_MS = 120_000;

export function BoardApp() {
  useLang();
  const [session, setSession] = useState<Session | null>(() => loadSession(SESSION_KEY));
  const logout = useCallback(() => {
    const old = loadSession(SESSION_KEY);
    if (old) revokeToken(old.token);
    saveSession(SESSION_KEY, null);
    setSession(null);
  }, []);
  const api = useMemo(() => (session ? createApi(session.token, logout) : null), [session, logout]);
  setTimeZone(session?.timeZone);
  if (!session || !api) {
    return (
      <LoginForm
        title={t('appTitle')}
        onLogin={(s) => {
          saveSession(SESSION_KEY, s);
          setSession(s);
        }}
      />
    );
  }
  return <Board api={api} session={session} onLogout={logout} />;
}

type StreamState = 'connecting' | 'live' | 'reconnecting';
const VIEWS = ['board', 'map', 'kpis'] as const;
type View = (typeof VIEWS)[number];
/** The page's view from the address (`#map`, `#kpis`), so a duty screen can be pointed at one. */
const viewFromHash = (): View => VIEWS.find((v) => `#${v}` === location.hash) ?? 'board';

function Board(props: { api: Api; session: Session; onLogout: () => void }) {
  const { api, session } = props;
  const [alerts, setAlerts] = useState<Map<string, Alert>>(new Map());
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [places, setPlaces] = useState<PlaceNode[]>([]);
  const [kpis, setKpis] = useState<KpiReport | null>(null);
  const [place, setPlace] = useState<string | null>(null);
  const [filters, setFilters] = useState<Filters>({ scope: 'active', severity: '', light: '', text: '' });
  const [selected, setSelected] = useState<string | null>(null);
  const [device, setDevice] = useState<string | null>(null);
  const [tab, setTab] = useState<'alerts' | 'devices'>('alerts');
  const [view, setViewState] = useState<View>(viewFromHash);
  const setView = (v: View) => {
    history.replaceState(null, '', v === 'board' ? location.pathname : `#${v}`);
    setViewState(v);
  };
  const [versions, setVersions] = useState<Record<string, number>>({});
  const [stream, setStream] = useState<StreamState>('connecting');
  const [error, setError] = useState('');
  const offset = useRef(0);
  const now = useCallback(() => Date.now() + offset.current, []);

  const upsert = useCallback((list: Alert[]) => {
    setAlerts((prev) => {
      const next = new Map(prev);
      for (const a of list) next.set(a.id, a);
      return next;
    });
  }, []);

  const loadAlerts = useCallback(async () => {
    const res = await api.get<{ items: Alert[] }>('/api/alerts?limit=500');
    setAlerts(new Map(res.items.map((a) => [a.id, a])));
  }, [api]);

  const kpiTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const loadKpis = useCallback(() => {
    // Changes come in bursts (an incident, a storm): at most one refresh per half second, never starved.
    if (kpiTimer.current !== undefined) return;
    kpiTimer.current = setTimeout(() => {
      kpiTimer.current = undefined;
      api
        .get<KpiReport>('/api/kpis')
        .then(setKpis)
        .catch(() => undefined);
    }, 500);
  }, [api]);

  useEffect(() => {
    api
      .get<PlaceNode[]>('/api/places')
      .then(setPlaces)
      .catch((e: Error) => setError(e.message));
    api
      .get<{ now: number }>('/api/clock')
      .then((c) => {
        offset.current = c.now - Date.now();
      })
      .catch(() => undefined);
    loadAlerts().catch((e: Error) => setError(e.message));
    loadKpis();
    const every = setInterval(loadKpis, 60_000);
    return () => clearInterval(every);
  }, [api, loadAlerts, loadKpis]);

  useEffect(() => {
    // EventSource cannot send the bearer header: each connection takes a single-use ticket (30 s), so no
    // token sits in a URL. A ticket cannot be reused, so after a drop we reconnect ourselves with a fresh one.
    let source: EventSource | undefined;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let wasLive = false;
    const connect = async () => {
      let ticket: string;
      try {
        ({ ticket } = await api.post<{ ticket: string }>('/api/auth/stream-ticket'));
      } catch {
        if (!stopped) retry = setTimeout(() => void connect(), 3000);
        return;
      }
      if (stopped) return;
      source = new EventSource(`/api/alerts/stream?ticket=${encodeURIComponent(ticket)}`);
      listen(source);
    };
    const listen = (source: EventSource) => {
      source.onopen = () => {
        setStream('live');
        // After a drop, fetch what changed while the stream was away.
        if (wasLive) loadAlerts().catch(() => undefined);
        wasLive = true;
      };
      source.onerror = () => {
        setStream('reconnecting');
        source.close();
        if (!stopped) retry = setTimeout(() => void connect(), 3000);
      };
      source.addEventListener('alert', (ev) => {
        const msg = JSON.parse((ev as MessageEvent<string>).data) as StreamMessage;
        if (!msg.alert) return;
        upsert([msg.alert]);
        setVersions((v) => ({ ...v, [msg.alertId]: (v[msg.alertId] ?? 0) + 1 }));
        if (msg.type === 'opened' || msg.type === 'reopened') {
          setFresh((f) => new Set(f).add(msg.alertId));
          setTimeout(
            () =>
              setFresh((f) => {
                const n = new Set(f);
                n.delete(msg.alertId);
                return n;
              }),
            FRESH_MS,
          );
          playAlarm(msg.alert.severity === 'critical');
        }
        loadKpis();
      });
    };
    void connect();
    return () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      source?.close();
    };
  }, [api, upsert, loadAlerts, loadKpis]);

  // Lights move with time alone (75 % → yellow, overdue → red): re-evaluate them every few seconds.
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const every = setInterval(() => setTick((n) => n + 1), 5000);
    return () => clearInterval(every);
  }, []);
  const live = useMemo(() => {
    void tick;
    const at = now();
    return [...alerts.values()].map((a) => {
      const light = liveLight(a, at);
      return light === a.light ? a : { ...a, light };
    });
  }, [alerts, tick, now]);
  const lights = useMemo(() => lightsByPlace(live), [live]);
  const lightOf = useCallback((a: Alert) => a.light, []);
  const visible = useMemo(() => {
    const text = filters.text.trim().toLowerCase();
    return live
      .filter((a) => (filters.scope === 'active' ? isActive(a) : true))
      .filter((a) => !filters.severity || a.severity === filters.severity)
      .filter((a) => !filters.light || a.light === filters.light)
      .filter((a) => !place || alertIsUnder(a, place))
      .filter(
        (a) =>
          !text ||
          `${a.title} ${alertTitle(a)} ${a.deviceId} ${a.placeNames.join(' ')} ${a.id}`
            .toLowerCase()
            .includes(text),
      )
      .sort((a, b) => {
        // Active critical first, then the most recent.
        const rank = (x: Alert) => (isActive(x) ? 0 : 3) + ['critical', 'major', 'minor'].indexOf(x.severity);
        return rank(a) - rank(b) || b.openedAt - a.openedAt;
      });
  }, [live, filters, place]);
  const active = useMemo(() => live.filter(isActive).length, [live]);
  const hasCriticalFresh = [...fresh].some((id) => alerts.get(id)?.severity === 'critical');

  const open = (id: string) => {
    setDevice(null);
    setSelected(id);
    setFresh((f) => {
      const n = new Set(f);
      n.delete(id);
      return n;
    });
  };

  const side = device ? (
    <DevicePage api={api} id={device} now={now} onBack={() => setDevice(null)} />
  ) : selected ? (
    <AlertDetailPanel
      api={api}
      id={selected}
      version={versions[selected] ?? 0}
      role={session.user.role}
      now={now}
      onClose={() => setSelected(null)}
      onDevice={setDevice}
      onOpen={open}
      onChanged={(a) => upsert([a])}
    />
  ) : null;

  return (
    <div class={`board ${hasCriticalFresh ? 'critical-pending' : ''}`}>
      <header class="topbar">
        <h1>{t('appTitle')}</h1>
        <nav class="views">
          {VIEWS.map((v) => (
            <button
              type="button"
              key={v}
              data-view-tab={v}
              class={view === v ? 'active' : ''}
              aria-current={view === v ? 'page' : undefined}
              onClick={() => setView(v)}
            >
              {t(`view.${v}`)}
            </button>
          ))}
        </nav>
        <span class={`stream stream-${stream}`} data-stream={stream}>
          {stream === 'live' ? `● ${t('live')}` : t('reconnecting')}
        </span>
        <span class="spacer" />
        <span class="who">{session.user.displayName}</span>
        <LangSwitch />
        <button type="button" onClick={props.onLogout}>
          {t('logout')}
        </button>
      </header>
      {view === 'board' ? <KpiTiles report={kpis} active={active} /> : null}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {view === 'kpis' ? (
        <KpiPage api={api} now={now} />
      ) : view === 'map' ? (
        <div class="columns map-columns">
          <MapPage api={api} places={places} alerts={live} lightOf={lightOf} now={now} onOpen={open} />
          {side}
        </div>
      ) : (
        <div class="columns">
          <PlaceTree roots={places} lights={lights} selected={place} onSelect={setPlace} />
          <main class="list">
            <div class="tabs" role="tablist">
              {(['alerts', 'devices'] as const).map((name) => (
                <button
                  type="button"
                  role="tab"
                  key={name}
                  data-tab={name}
                  aria-selected={tab === name}
                  class={tab === name ? 'active' : ''}
                  onClick={() => setTab(name)}
                >
                  {t(name)}
                </button>
              ))}
            </div>
            {tab === 'alerts' ? (
              <>
                <FilterBar filters={filters} onChange={setFilters} />
                <AlertList alerts={visible} fresh={fresh} selected={selected} onOpen={open} />
              </>
            ) : (
              <DeviceList api={api} place={place} onOpen={setDevice} />
            )}
          </main>
          {side}
        </div>
      )}
    </div>
  );
}
