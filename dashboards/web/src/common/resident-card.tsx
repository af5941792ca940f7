/**
 * The resident behind a one-key call or a fall: name, callback number, family contact and health note. Shown
 * unmasked only to those acting on the alert (the hub decides: the card in their MQTT alarm, or the audited
 * `GET /api/alerts/{id}/resident`), masked for everyone else. The board's alert detail includes it too.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ResidentCard as Card, MaskedResidentCard } from '../../../../src/domain/alarm.ts';
import type { Api } from './api.ts';
import { getLang, useLang } from './i18n.ts';
import './resident-card.css';

const WORDS = {
  'zh-CN': {
    title: '住户信息',
    callback: '回拨',
    call: '拨打',
    family: '家属',
    health: '健康情况',
    masked: '仅处置人员可见完整信息',
    loading: '正在读取住户信息…',
  },
  en: {
    title: 'Resident',
    callback: 'Call back',
    call: 'Call',
    family: 'Family',
    health: 'Health',
    masked: 'Shown in full only to those acting on the alarm',
    loading: 'Loading the resident…',
  },
} as const;

type Shown = Card | (MaskedResidentCard & { name: string | null });

/** `tel:` links only for real numbers; a masked one is text. */
function Phone(props: { phone: string | null; masked: boolean; label: string }) {
  if (!props.phone) return null;
  if (props.masked) return <span data-phone="masked">{props.phone}</span>;
  return (
    <a class="tel" href={`tel:${props.phone}`} data-phone="tel">
      {props.label} {props.phone}
    </a>
  );
}

export function ResidentCard(props: { api: Api; alertId: string; initial?: Card | undefined }) {
  useLang();
  const w = WORDS[getLang()];
  const [card, setCard] = useState<Shown | null>(props.initial ?? null);
  const [error, setError] = useState('');
  useEffect(() => {
    if (props.initial) return;
    let gone = false;
    // One read per card shown: each unmasked answer is an audited read on the hub.
    props.api
      .get<{ resident: Shown; masked: boolean }>(`/api/alerts/${encodeURIComponent(props.alertId)}/resident`)
      .then((res) => {
        if (!gone) setCard(res.resident);
      })
      .catch((e: Error) => {
        if (!gone) setError(e.message);
      });
    return () => {
      gone = true;
    };
  }, [props.api, props.alertId, props.initial]);

  if (error) return null;
  if (!card) return <p class="muted resident-loading">{w.loading}</p>;
  const masked = card.masked;
  return (
    <section
      class={`resident-card ${masked ? 'masked' : 'unmasked'}`}
      data-resident={masked ? 'masked' : 'unmasked'}
    >
      <h3>{w.title}</h3>
      <p class="resident-name">
        <strong data-field="name">{card.name}</strong>{' '}
        <Phone phone={card.phone} masked={masked} label={w.callback} />
      </p>
      {card.familyName || card.familyPhone ? (
        <p data-field="family">
          {w.family}：{card.familyName} <Phone phone={card.familyPhone} masked={masked} label={w.call} />
        </p>
      ) : null}
      {card.healthNotes && !masked ? (
        <p data-field="health">
          {w.health}：{card.healthNotes}
        </p>
      ) : null}
      {masked ? <p class="muted">{w.masked}</p> : null}
    </section>
  );
}
