import { useEffect, useState } from 'preact/hooks';
import { type Api, query } from '../common/api.ts';
import { fmtTime, placeLabel } from '../common/format.ts';
import { t, useLang } from '../common/i18n.ts';
import type { Device } from '../common/types.ts';
import { presenceLabel } from './presence.ts';

/** The devices at or under the selected place, offline first: the way into each device's page. */
export function DeviceList(props: { api: Api; place: string | null; onOpen: (id: string) => void }) {
  useLang();
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    setDevices(null);
    props.api
      .get<{ items: Device[] }>(`/api/devices${query({ place: props.place, limit: 1000 })}`)
      .then((res) => live && setDevices(res.items))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [props.api, props.place]);
  if (error) return <p class="error">{error}</p>;
  if (!devices) return <p class="empty">…</p>;
  const sorted = [...devices].sort((a, b) => Number(a.online) - Number(b.online) || a.id.localeCompare(b.id));
  return (
    <ul class="alerts devices" aria-label={t('devices')}>
      {sorted.map((d) => (
        <li key={d.id}>
          <button
            type="button"
            class="alert-row device-row"
            data-device-id={d.id}
            onClick={() => props.onOpen(d.id)}
          >
            <span class={`dot ${d.online ? 'light-green' : 'light-none'}`} />
            <span class="badge" data-presence={d.online ? 'online' : d.lastSeen ? 'offline' : 'never'}>
              {presenceLabel(d)}
            </span>
            <span class="alert-title">{d.label ?? d.id}</span>
            <span class="alert-place">{placeLabel(d.placeNames, d.floor)}</span>
            <span class="muted">{d.type}</span>
            <time class="alert-time">{d.lastSeen ? fmtTime(Date.parse(d.lastSeen)) : '—'}</time>
          </button>
        </li>
      ))}
    </ul>
  );
}
