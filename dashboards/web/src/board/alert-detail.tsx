import { useEffect, useState } from 'preact/hooks';
import type { Api } from '../common/api.ts';
import { alertRef, alertTitle, fmtTime, placeLabel } from '../common/format.ts';
import { t, useLang } from '../common/i18n.ts';
import { ResidentCard } from '../common/resident-card.tsx';
import { alertSummary, evidenceText, fieldLabel, fieldValue, typeName } from '../common/summary.ts';
import { timelineWords } from '../common/timeline.ts';
import type { Alert, AlertDetail } from '../common/types.ts';
import { DEPARTMENTS } from '../common/types.ts';
import { LightDot, SeverityBadge, Stars, StatusBadge } from '../common/widgets.tsx';
import { actionsFor } from './actions.ts';
import { clockLight, liveLight } from './lights.ts';

const ACTING_ROLES = new Set(['admin', 'manager', 'worker']);

export function AlertDetailPanel(props: {
  api: Api;
  id: string;
  /** Bumped by the page when the stream reports a change of this alert. */
  version: number;
  role: string;
  now: () => number;
  onClose: () => void;
  onDevice: (id: string) => void;
  onOpen: (id: string) => void;
  onChanged: (a: Alert) => void;
}) {
  useLang();
  const [detail, setDetail] = useState<AlertDetail | null>(null);
  const [error, setError] = useState('');
  const [form, setForm] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    props.api
      .get<AlertDetail>(`/api/alerts/${encodeURIComponent(props.id)}`)
      .then((d) => live && setDetail(d))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [props.id, props.version, props.api]);

  const act = async (action: string, body: Record<string, unknown> = {}) => {
    setBusy(true);
    setError('');
    try {
      const res = await props.api.post<{ alert: Alert }>(
        `/api/alerts/${encodeURIComponent(props.id)}/${action}`,
        body,
      );
      props.onChanged(res.alert);
      setForm(null);
      setDetail(await props.api.get<AlertDetail>(`/api/alerts/${encodeURIComponent(props.id)}`));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (!detail) {
    return (
      <aside class="detail">
        <p>{error || '…'}</p>
      </aside>
    );
  }
  const a = detail.alert;
  // A department whistled in reports for itself (报到); the hub knows which department the user is.
  const actions = ACTING_ROLES.has(props.role)
    ? actionsFor(a.status, a.rating !== null)
    : props.role === 'department' && a.whistles.some((w) => w.reportedAt === null)
      ? ['report-in']
      : [];
  return (
    <aside class={`detail sev-${a.severity}`} aria-label={t('detail')} data-alert={a.id}>
      <header>
        <h2>
          <LightDot light={liveLight(a, props.now())} /> {alertTitle(a)}
        </h2>
        <button type="button" class="icon" aria-label={t('close')} onClick={props.onClose}>
          ×
        </button>
      </header>
      <div class="badges">
        <SeverityBadge severity={a.severity} />
        <StatusBadge status={a.status} />
        {a.escalated ? <span class="badge escalated">{t(`escalated.${a.reach}`)}</span> : null}
        <span class="ref" title={a.id}>
          {t('alertNo')} <code>{alertRef(a.id)}</code>
        </span>
      </div>
      <p class="summary" title={a.detail}>
        {alertSummary(a)}
      </p>
      <dl class="facts">
        <dt>{t('device')}</dt>
        <dd>
          <button type="button" class="link" onClick={() => props.onDevice(a.deviceId)}>
            {a.deviceId}
          </button>{' '}
          <span class="muted">{typeName(a.deviceType)}</span>
        </dd>
        <dt>{t('place')}</dt>
        <dd>{placeLabel(a.placeNames, a.floor)}</dd>
        <dt>{t('opened')}</dt>
        <dd>{fmtTime(a.openedAt)}</dd>
        <dt>{t('count')}</dt>
        <dd>{a.count}</dd>
        {a.resolutionNote ? (
          <>
            <dt>{t('note')}</dt>
            <dd>{a.resolutionNote}</dd>
          </>
        ) : null}
        {a.rating !== null ? (
          <>
            <dt>{t('rating')}</dt>
            <dd>
              {'★'.repeat(a.rating)}
              {'☆'.repeat(5 - a.rating)} {a.ratingComment ?? ''}
            </dd>
          </>
        ) : null}
      </dl>
      {a.resident ? <ResidentCard key={a.id} api={props.api} alertId={a.id} /> : null}

      {detail.incident && detail.incident.alertIds.length > 1 ? (
        <section data-incident={detail.incident.id}>
          <h3>{t('incident')}</h3>
          <p class="incident">
            {detail.incident.alertIds
              .filter((id) => id !== a.id)
              .map((id) => (
                <button type="button" class="link" key={id} onClick={() => props.onOpen(id)}>
                  {alertRef(id)}
                </button>
              ))}
          </p>
        </section>
      ) : null}
      {Object.keys(a.evidence).length ? (
        <section>
          <h3>{t('evidence')}</h3>
          <dl class="facts evidence">
            {Object.entries(a.evidence).map(([k, v]) => (
              <>
                <dt key={`${k}-k`}>{fieldLabel(a.deviceType, k)}</dt>
                <dd key={`${k}-v`}>
                  {k === 'clipId' ? <code class="clip">{String(v)}</code> : fieldValue(a.deviceType, k, v)}
                </dd>
              </>
            ))}
          </dl>
        </section>
      ) : null}

      <section>
        <h3>{t('clocks')}</h3>
        <ul class="clocks">
          {a.clocks.map((c) => (
            <li key={c.name}>
              <LightDot light={clockLight(c, props.now())} />
              <span>
                {c.name.startsWith('report_in:')
                  ? `${t('action.whistle')} · ${t(`dept.${c.name.slice(10)}`)}`
                  : t(`clock.${c.name}`)}
              </span>
              <span class="muted">
                {t('due')} {fmtTime(c.dueAt)}
              </span>
              <span>{c.met === null ? `${Math.round(c.used * 100)}%` : c.met ? t('met') : t('missed')}</span>
            </li>
          ))}
        </ul>
      </section>

      {a.whistles.length ? (
        <section>
          <h3>{t('whistles')}</h3>
          <ul class="clocks">
            {a.whistles.map((w) => (
              <li key={w.id}>
                <span>{t(`dept.${w.department}`)}</span>
                <span class="muted">{fmtTime(w.whistledAt)}</span>
                <span>{w.reportedAt ? `✓ ${fmtTime(w.reportedAt)}` : '…'}</span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      {actions.length ? (
        <section class="actions">
          {actions.map((name) =>
            ['resolve', 'rate', 'whistle', 'false-alarm'].includes(name) ? (
              <button
                type="button"
                key={name}
                data-action={name}
                class={form === name ? 'active' : ''}
                onClick={() => setForm(form === name ? null : name)}
              >
                {t(`action.${name}`)}
              </button>
            ) : (
              <button
                type="button"
                key={name}
                data-action={name}
                class="primary"
                disabled={busy}
                onClick={() => void act(name)}
              >
                {t(`action.${name}`)}
              </button>
            ),
          )}
          {form ? <ActionForm name={form} busy={busy} onSubmit={(body) => void act(form, body)} /> : null}
        </section>
      ) : null}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}

      <section>
        <h3>{t('timeline')}</h3>
        <ol class="timeline">
          {detail.timeline.map((e) => {
            const w = timelineWords(e);
            const text =
              e.type === 'opened' ? alertSummary(a) : e.type === 'updated' ? evidenceText(a) : w.text;
            return (
              <li key={e.id} data-event={e.type}>
                <time>{fmtTime(e.at)}</time>
                <strong>{w.title}</strong>
                <span class="muted">{w.who}</span>
                {text ? <span class="ev-data">{text}</span> : null}
              </li>
            );
          })}
        </ol>
      </section>
    </aside>
  );
}

export function ActionForm(props: {
  name: string;
  busy: boolean;
  onSubmit: (body: Record<string, unknown>) => void;
}) {
  useLang();
  const [note, setNote] = useState('');
  const [score, setScore] = useState(5);
  const [dept, setDept] = useState<string>(DEPARTMENTS[0]);
  const submit = (e: Event) => {
    e.preventDefault();
    if (props.name === 'resolve') props.onSubmit({ note });
    else if (props.name === 'rate') props.onSubmit(note ? { score, comment: note } : { score });
    else if (props.name === 'whistle')
      props.onSubmit(note ? { department: dept, note } : { department: dept });
    else props.onSubmit({ kind: 'false_alarm', reason: note });
  };
  return (
    <form class="action-form" data-form={props.name} onSubmit={submit}>
      {props.name === 'rate' ? <Stars score={score} onChange={setScore} /> : null}
      {props.name === 'whistle' ? (
        <select name="department" value={dept} onChange={(e) => setDept(e.currentTarget.value)}>
          {DEPARTMENTS.map((d) => (
            <option key={d} value={d}>
              {t(`dept.${d}`)}
            </option>
          ))}
        </select>
      ) : null}
      <textarea
        name="note"
        rows={2}
        placeholder={
          props.name === 'resolve'
            ? t('resolveNote')
            : props.name === 'false-alarm'
              ? t('reason')
              : props.name === 'rate'
                ? t('comment')
                : t('note')
        }
        required={props.name === 'resolve' || props.name === 'false-alarm'}
        value={note}
        onInput={(e) => setNote(e.currentTarget.value)}
      />
      <button type="submit" class="primary" disabled={props.busy}>
        {t(`action.${props.name}`)}
      </button>
    </form>
  );
}
