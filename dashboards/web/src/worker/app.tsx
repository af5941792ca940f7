import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import type { ResidentCard as ResidentCardData } from '../../../../src/domain/alarm.ts';
import { type Api, createApi, loadSession, revokeToken, type Session, saveSession } from '../common/api.ts';
import { alertTitle, fmtTime, placeLabel } from '../common/format.ts';
import { t, useLang } from '../common/i18n.ts';
import { fill } from '../common/i18n-views.ts';
import { ResidentCard } from '../common/resident-card.tsx';
import { playAlarm } from '../common/sound.ts';
import type { Alert, AlertDetail, WorkerMessage } from '../common/types.ts';
import { OPEN_STATUSES } from '../common/types.ts';
import { LangSwitch, LightDot, LoginForm, SeverityBadge, Stars, StatusBadge } from '../common/widgets.tsx';
import { setTimeZone } from '../common/zone.ts';
import { type AlarmSource, mqttAlarmSource, type SourceState } from './alarm-source.ts';
import { enableWebPush } from './web-push.ts';

const SESSION_KEY = 'gridhub.worker.session';
const MQTT_KEY = 'gridhub.worker.mqtt';

export function WorkerApp() {
  useLang();
  const [session, setSession] = useState<Session | null>(() => loadSession(SESSION_KEY));
  const logout = useCallback(() => {
    const old = loadSession(SESSION_KEY);
    if (old) revokeToken(old.token);
    const mqttLogin = localStorage.getItem(MQTT_KEY);
    if (mqttLogin) revokeToken((JSON.parse(mqttLogin) as { token: string }).token);
    saveSession(SESSION_KEY, null);
    localStorage.removeItem(MQTT_KEY);
    setSession(null);
  }, []);
  const api = useMemo(() => (session ? createApi(session.token, logout) : null), [session, logout]);
  setTimeZone(session?.timeZone);
  if (!session || !api) {
    return (
      <LoginForm
        title={t('workerTitle')}
        onLogin={(s) => {
          saveSession(SESSION_KEY, s);
          setSession(s);
          // Ask once, on the login gesture: alarms show as notifications when the page is in the background.
          if ('Notification' in window && Notification.permission === 'default') {
            void Notification.requestPermission().catch(() => undefined);
          }
        }}
      />
    );
  }
  return <Worker api={api} session={session} onLogout={logout} />;
}

interface MqttLogin {
  username: string;
  token: string;
  clientId: string;
}

/** An API token for the MQTT login, issued once per phone and kept with the session. */
async function mqttLogin(api: Api, session: Session): Promise<MqttLogin> {
  const stored = localStorage.getItem(MQTT_KEY);
  if (stored) {
    const parsed = JSON.parse(stored) as MqttLogin;
    if (parsed.username === session.user.username) return parsed;
  }
  const res = await api.post<{ token: string; username: string }>('/api/auth/tokens', {
    label: 'worker view',
  });
  const login = {
    username: res.username,
    token: res.token,
    clientId: `wv-${res.username}-${Math.random().toString(36).slice(2, 10)}`,
  };
  localStorage.setItem(MQTT_KEY, JSON.stringify(login));
  return login;
}

/** Changes that call for the worker's attention (a new alarm for them), not those they made themselves. */
const ATTENTION = ['dispatched', 'opened', 'reopened', 'escalated', 'whistled'];

function notify(message: WorkerMessage): void {
  if (message.kind === 'alarm' && !ATTENTION.includes(message.change)) return;
  playAlarm(message.severity === 'critical');
  navigator.vibrate?.(message.severity === 'critical' ? [300, 100, 300, 100, 300] : 200);
  if (document.visibilityState === 'visible' || !('Notification' in window)) return;
  if (Notification.permission !== 'granted') return;
  const [title, body, tag, url] =
    message.kind === 'alarm'
      ? [
          message.title,
          placeLabel(message.placeNames, message.floor),
          message.alertId,
          `/worker/#/alerts/${encodeURIComponent(message.alertId)}`,
        ]
      : [`${message.count} ${t('digestAlarms')}`, digestSummary(message), message.digestId, '/worker/'];
  void navigator.serviceWorker?.ready
    .then((reg) => reg.showNotification(title, { body, tag, data: { url } }))
    .catch(() => undefined);
}

/** The first few lines of a digest, for a notification body. */
function digestSummary(message: Extract<WorkerMessage, { kind: 'digest' }>): string {
  return message.items
    .slice(0, 3)
    .map((i) => `${i.title} · ${placeLabel(i.placeNames, i.floor)}`)
    .join('\n');
}

function Worker(props: { api: Api; session: Session; onLogout: () => void }) {
  const { api, session } = props;
  const [alerts, setAlerts] = useState<Map<string, Alert>>(new Map());
  const [mine, setMine] = useState<Set<string>>(new Set());
  // Resident cards that came with an alarm (no need to read them again from the API).
  const [cards, setCards] = useState<Map<string, ResidentCardData>>(new Map());
  const [state, setState] = useState<SourceState>('connecting');
  const [error, setError] = useState('');
  const [open, setOpen] = useState<string | null>(null);

  const upsert = useCallback((a: Alert) => {
    setAlerts((prev) => new Map(prev).set(a.id, a));
  }, []);

  const load = useCallback(async () => {
    // Catch up with what happened while the page was closed: open alarms and those awaiting a rating.
    const [active, resolved] = await Promise.all([
      api.get<{ items: Alert[] }>(`/api/alerts?status=${OPEN_STATUSES.join(',')}&limit=200`),
      api.get<{ items: Alert[] }>('/api/alerts?status=resolved&limit=50'),
    ]);
    setAlerts(new Map([...resolved.items, ...active.items].map((a) => [a.id, a])));
  }, [api]);

  useEffect(() => {
    load().catch((e: Error) => setError(e.message));
    void enableWebPush(api);
    // A push notification opens /worker/#/alerts/{id}: show that alarm expanded.
    const fromHash = () => {
      const m = /^#\/alerts\/(.+)$/.exec(location.hash);
      if (m?.[1]) setOpen(decodeURIComponent(m[1]));
    };
    fromHash();
    window.addEventListener('hashchange', fromHash);
    return () => window.removeEventListener('hashchange', fromHash);
  }, [load, api]);

  useEffect(() => {
    const personId = session.user.personId;
    if (!personId) {
      setState('disconnected');
      return;
    }
    let source: AlarmSource | undefined;
    let stopped = false;
    mqttLogin(api, session)
      .then((login) => {
        if (stopped) return;
        const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
        source = mqttAlarmSource({ url, personId, ...login });
        source.start((message) => {
          // One alarm, or a digest folding many: each of its alerts is the worker's and joins the list.
          const ids = message.kind === 'alarm' ? [message.alertId] : message.alertIds;
          setMine((m) => new Set([...m, ...ids]));
          const card = message.kind === 'alarm' ? message.residentCard : undefined;
          if (card && message.kind === 'alarm') setCards((c) => new Map(c).set(message.alertId, card));
          for (const id of ids) {
            api
              .get<AlertDetail>(`/api/alerts/${encodeURIComponent(id)}`)
              .then((d) => upsert(d.alert))
              .catch(() => undefined);
          }
          notify(message);
        }, setState);
      })
      .catch((e: Error) => {
        setState('disconnected');
        setError(e.message);
      });
    return () => {
      stopped = true;
      source?.stop();
    };
  }, [api, session, upsert]);

  const list = [...alerts.values()]
    .filter((a) => a.status !== 'closed' && !(a.status === 'resolved' && a.rating !== null))
    .sort(
      (a, b) =>
        Number(mine.has(b.id)) - Number(mine.has(a.id)) ||
        ['critical', 'major', 'minor'].indexOf(a.severity) -
          ['critical', 'major', 'minor'].indexOf(b.severity) ||
        b.openedAt - a.openedAt,
    );

  // A critical alarm nobody has acknowledged yet stays on top of the screen until someone does.
  const urgent = list.find(
    (a) => a.severity === 'critical' && (a.status === 'open' || a.status === 'dispatched') && mine.has(a.id),
  );

  return (
    <div class="worker">
      <header class="topbar">
        <h1>{t('myAlarms')}</h1>
        <span class={`stream stream-${state}`} data-mqtt={state} title={t('alarmChannel')}>
          ● {t(state === 'connected' ? 'connected' : 'disconnected')}
        </span>
        <span class="spacer" />
        <LangSwitch />
        {/* a word, not a glyph: on a worker's phone an unlabelled ⎋ said nothing (the board shows the same word) */}
        <button type="button" data-action="logout" onClick={props.onLogout}>
          {t('logout')}
        </button>
      </header>
      <p class="who">{session.user.displayName}</p>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {urgent ? (
        <button
          type="button"
          class="banner"
          data-banner={urgent.id}
          onClick={() => {
            setOpen(urgent.id);
            document.querySelector(`[data-alert-id="${CSS.escape(urgent.id)}"]`)?.scrollIntoView();
          }}
        >
          {fill(t('newCritical'), {
            alert: `${alertTitle(urgent)} · ${placeLabel(urgent.placeNames, urgent.floor)}`,
          })}
        </button>
      ) : null}
      {list.length === 0 ? <p class="empty">{t('noAlarms')}</p> : null}
      <ul class="cards">
        {list.map((a) => (
          <AlarmCard
            key={a.id}
            api={api}
            alert={a}
            mine={mine.has(a.id)}
            card={cards.get(a.id)}
            expanded={open === a.id}
            onToggle={() => setOpen(open === a.id ? null : a.id)}
            onChanged={upsert}
          />
        ))}
      </ul>
    </div>
  );
}

function AlarmCard(props: {
  api: Api;
  alert: Alert;
  mine: boolean;
  card: ResidentCardData | undefined;
  expanded: boolean;
  onToggle: () => void;
  onChanged: (a: Alert) => void;
}) {
  useLang();
  const a = props.alert;
  const [note, setNote] = useState('');
  const [score, setScore] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const act = async (action: string, body: Record<string, unknown> = {}) => {
    setBusy(true);
    setError('');
    try {
      const res = await props.api.post<{ alert: Alert }>(
        `/api/alerts/${encodeURIComponent(a.id)}/${action}`,
        body,
      );
      props.onChanged(res.alert);
      setNote('');
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const step =
    a.status === 'open' || a.status === 'dispatched'
      ? 'acknowledge'
      : a.status === 'acknowledged'
        ? 'arrive'
        : a.status === 'on_site'
          ? 'resolve'
          : 'rate';
  return (
    <li
      class={`card alarm sev-${a.severity} ${props.mine ? 'mine' : ''}`}
      data-alert-id={a.id}
      data-status={a.status}
    >
      <button type="button" class="alarm-head" onClick={props.onToggle}>
        <LightDot light={a.light} />
        <SeverityBadge severity={a.severity} />
        <strong>{alertTitle(a)}</strong>
        {/* in the head, not after the place: on a phone "place · date time" broke the time over two lines */}
        <time class="alarm-time muted" dateTime={new Date(a.openedAt).toISOString()}>
          {fmtTime(a.openedAt)}
        </time>
      </button>
      <p class="muted alarm-place">{placeLabel(a.placeNames, a.floor)}</p>
      {a.resident && a.status !== 'resolved' && a.status !== 'closed' ? (
        <ResidentCard api={props.api} alertId={a.id} initial={props.card} />
      ) : null}
      <p>
        <StatusBadge status={a.status} />{' '}
        {props.mine ? (
          <span class="badge mine">{t('assignedToMe')}</span>
        ) : (
          <span class="badge">{t('inMyGrid')}</span>
        )}
      </p>
      {step === 'acknowledge' || step === 'arrive' ? (
        <div class="big-actions">
          <button
            type="button"
            class="primary big"
            data-action={step}
            disabled={busy}
            onClick={() => void act(step)}
          >
            {t(`action.${step}`)}
          </button>
          {step === 'acknowledge' ? (
            <button
              type="button"
              class="big"
              data-action="arrive"
              disabled={busy}
              onClick={() => void act('arrive')}
            >
              {t('action.arrive')}
            </button>
          ) : (
            <button type="button" class="big" data-action="open-resolve" onClick={props.onToggle}>
              {t('action.resolve')}
            </button>
          )}
        </div>
      ) : null}
      {step === 'resolve' || (props.expanded && (step === 'acknowledge' || step === 'arrive')) ? (
        <form
          class="action-form"
          data-form="resolve"
          onSubmit={(e) => {
            e.preventDefault();
            void act('resolve', { note });
          }}
        >
          <textarea
            name="note"
            rows={3}
            required
            placeholder={t('resolveNote')}
            value={note}
            onInput={(e) => setNote(e.currentTarget.value)}
          />
          <button type="submit" class="primary big" data-action="resolve" disabled={busy}>
            {t('action.resolve')}
          </button>
        </form>
      ) : null}
      {step === 'rate' ? (
        <form
          class="action-form"
          data-form="rate"
          onSubmit={(e) => {
            e.preventDefault();
            if (score) void act('rate', note ? { score, comment: note } : { score });
          }}
        >
          <Stars score={score} onChange={setScore} />
          <textarea
            name="comment"
            rows={2}
            placeholder={t('comment')}
            value={note}
            onInput={(e) => setNote(e.currentTarget.value)}
          />
          <button type="submit" class="primary big" data-action="rate" disabled={busy || !score}>
            {t('action.rate')}
          </button>
        </form>
      ) : null}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
    </li>
  );
}
