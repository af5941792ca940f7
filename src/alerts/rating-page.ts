/**
 * The resident's rating page, served by the hub at `/r/{token}`: the link of the SMS sent after resolve. A phone
 * page without the dashboards' build: plain HTML, one stylesheet and one script from the same origin (no inline
 * code, so a strict Content-Security-Policy holds). Chinese first; English with `?lang=en` or an English phone.
 * It reads the link's state from `GET /api/public/rate/{token}` and posts 1–5 stars and a comment once.
 */
import type { FastifyPluginAsync } from 'fastify';

const HTML = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>服务评价</title>
<link rel="stylesheet" href="/r/assets/rating.css">
<script src="/r/assets/rating.js" defer></script>
</head>
<body>
<main id="app" aria-live="polite"><p class="muted">正在加载…</p></main>
</body>
</html>
`;

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:18px/1.5 system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#f4f6f8;color:#1f2933}
main{max-width:480px;margin:0 auto;padding:24px 20px 40px}
h1{font-size:24px;margin:8px 0 4px}
.muted{color:#52606d}
.about{background:#fff;border-radius:12px;padding:14px 16px;margin:16px 0}
.stars{display:flex;justify-content:space-between;margin:20px 0 6px}
.stars button{font-size:40px;line-height:1;width:56px;height:56px;border:0;background:none;color:#cbd2d9;padding:0}
.stars button[aria-pressed=true]{color:#f0b429}
.score-word{text-align:center;min-height:1.5em;color:#52606d}
textarea{width:100%;min-height:96px;font:inherit;padding:10px;border:1px solid #cbd2d9;border-radius:10px;margin:12px 0}
button.submit{width:100%;font:inherit;font-size:20px;padding:14px;border:0;border-radius:12px;background:#d64545;color:#fff}
button.submit:disabled{background:#e0a5a5}
.done{font-size:22px;text-align:center;margin-top:40px}
.error{color:#a61b1b}
.lang{float:right;font-size:15px;color:#52606d}
`;

const JS = `
(function () {
  var WORDS = {
    'zh-CN': {
      title: '请为本次服务评分', loading: '正在加载…', about: '您在{place}的{event}已处理完毕。',
      scores: ['', '很不满意', '不满意', '一般', '满意', '非常满意'], comment: '还有什么想说的（选填）',
      submit: '提交评价', thanks: '感谢您的评价！', used: '这个评价链接已经使用过了，感谢您的参与。',
      expired: '这个评价链接已过期。', unknown: '这个评价链接无效。', failed: '提交失败，请稍后再试。',
      star: '星', other: 'English'
    },
    en: {
      title: 'Please rate our service', loading: 'Loading…', about: 'Your {event} at {place} has been handled.',
      scores: ['', 'Very poor', 'Poor', 'OK', 'Good', 'Excellent'], comment: 'Anything else to tell us (optional)',
      submit: 'Send rating', thanks: 'Thank you for your rating!', used: 'This rating link has already been used. Thank you.',
      expired: 'This rating link has expired.', unknown: 'This rating link is not valid.', failed: 'Could not send; please try again later.',
      star: 'stars', other: '中文'
    }
  };
  var params = new URLSearchParams(location.search);
  var lang = params.get('lang') === 'en' || (!params.get('lang') && /^en/i.test(navigator.language)) ? 'en' : 'zh-CN';
  var w = WORDS[lang];
  document.documentElement.lang = lang;
  document.title = w.title;
  var token = decodeURIComponent(location.pathname.split('/').pop() || '');
  var app = document.getElementById('app');
  var api = '/api/public/rate/' + encodeURIComponent(token);

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function langLink() {
    var a = el('a', { class: 'lang', href: '?lang=' + (lang === 'en' ? 'zh-CN' : 'en') }, w.other);
    return a;
  }
  function message(text, kind) {
    app.replaceChildren(langLink(), el('p', { class: 'done ' + (kind || ''), 'data-state': kind || 'done' }, text));
  }
  function form(info) {
    var score = 0;
    var head = el('h1', {}, w.title);
    var about = el('p', { class: 'about' }, info.about ? w.about.replace('{place}', info.about.place[lang]).replace('{event}', info.about.event[lang]) : '');
    var stars = el('div', { class: 'stars', role: 'group', 'aria-label': w.title });
    var word = el('p', { class: 'score-word' }, '');
    var comment = el('textarea', { name: 'comment', maxlength: '500', placeholder: w.comment });
    var submit = el('button', { type: 'submit', class: 'submit', disabled: '' }, w.submit);
    var error = el('p', { class: 'error', role: 'alert' }, '');
    for (var i = 1; i <= 5; i++) {
      (function (n) {
        var b = el('button', { type: 'button', 'data-score': String(n), 'aria-pressed': 'false', 'aria-label': n + ' ' + w.star }, '★');
        b.addEventListener('click', function () {
          score = n;
          stars.querySelectorAll('button').forEach(function (s) {
            s.setAttribute('aria-pressed', Number(s.getAttribute('data-score')) <= n ? 'true' : 'false');
          });
          word.textContent = w.scores[n];
          submit.removeAttribute('disabled');
        });
        stars.appendChild(b);
      })(i);
    }
    var f = el('form', {});
    f.append(stars, word, comment, submit, error);
    f.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (!score) return;
      submit.setAttribute('disabled', '');
      var body = { score: score };
      if (comment.value.trim()) body.comment = comment.value.trim();
      fetch(api, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        .then(function (res) {
          if (res.ok) return message(w.thanks, 'thanks');
          return load();
        })
        .catch(function () {
          error.textContent = w.failed;
          submit.removeAttribute('disabled');
        });
    });
    app.replaceChildren(langLink(), head, about, f);
  }
  function load() {
    return fetch(api)
      .then(function (res) {
        if (res.status === 404) return message(w.unknown, 'unknown');
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json().then(function (info) {
          if (info.state === 'used') return message(w.used, 'used');
          if (info.state === 'expired') return message(w.expired, 'expired');
          form(info);
        });
      })
      .catch(function () { message(w.failed, 'error'); });
  }
  app.replaceChildren(el('p', { class: 'muted' }, w.loading));
  load();
})();
`;

/** `/r/{token}` and its two assets. The page holds nothing secret: the token in the path is the credential. */
export function ratingPagePlugin(): FastifyPluginAsync {
  return async (app) => {
    const send =
      (type: string, body: string) => async (_req: unknown, reply: import('fastify').FastifyReply) =>
        reply
          .type(type)
          .header('cache-control', type.startsWith('text/html') ? 'no-store' : 'public, max-age=3600')
          // The token must not leak to other sites through the Referer header.
          .header('referrer-policy', 'no-referrer')
          .send(body);
    app.get('/r/assets/rating.css', send('text/css; charset=utf-8', CSS));
    app.get('/r/assets/rating.js', send('text/javascript; charset=utf-8', JS));
    app.get('/r/:token', send('text/html; charset=utf-8', HTML));
  };
}
