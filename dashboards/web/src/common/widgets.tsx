import { useState } from 'preact/hooks';
import { login, type Session } from './api.ts';
import { type LANGS, setLang, t, useLang } from './i18n.ts';
import { primeAudio } from './sound.ts';

export function LangSwitch() {
  const lang = useLang();
  return (
    <select
      class="lang"
      aria-label="Language / 语言"
      value={lang}
      onChange={(e) => setLang((e.currentTarget as HTMLSelectElement).value as (typeof LANGS)[number])}
    >
      <option value="zh-CN">中文</option>
      <option value="en">English</option>
    </select>
  );
}

export function LoginForm(props: { title: string; onLogin: (s: Session) => void }) {
  useLang();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    primeAudio();
    setBusy(true);
    setError('');
    try {
      props.onLogin(await login(username, password));
    } catch (err) {
      setError(`${t('loginFailed')}: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} class="card">
        <header>
          <h1>{props.title}</h1>
          <LangSwitch />
        </header>
        <label>
          {t('username')}
          <input
            name="username"
            autocomplete="username"
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
            required
          />
        </label>
        <label>
          {t('password')}
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            required
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {t('login')}
        </button>
      </form>
    </main>
  );
}

export function LightDot(props: { light: string | undefined; title?: string }) {
  return <span class={`dot light-${props.light ?? 'none'}`} title={props.title ?? props.light} />;
}

export function SeverityBadge(props: { severity: string }) {
  return <span class={`badge sev-${props.severity}`}>{t(`severity.${props.severity}`)}</span>;
}

export function StatusBadge(props: { status: string }) {
  return <span class={`badge status status-${props.status}`}>{t(`status.${props.status}`)}</span>;
}

/** 1–5 stars for the resident's rating. */
export function Stars(props: { score: number; onChange: (n: number) => void }) {
  return (
    <fieldset class="stars">
      <legend>{t('rating')}</legend>
      {[1, 2, 3, 4, 5].map((n) => (
        <button
          type="button"
          key={n}
          aria-pressed={n === props.score}
          aria-label={String(n)}
          data-score={n}
          class={n <= props.score ? 'on' : ''}
          onClick={() => props.onChange(n)}
        >
          ★
        </button>
      ))}
    </fieldset>
  );
}
