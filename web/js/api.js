// Small helpers shared by the dashboard pages: API calls with the bearer
// token, the sign-in form, and formatting.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/* ---- the token --------------------------------------------------------- */

// The daemon answers every /v1/ route and /metrics only to a bearer token.
// The dashboard keeps the one it is given in this origin's localStorage, so
// every tab shares it: signing in or out in one holds for all. Where the
// browser allows no storage, it lives in the page until it is closed.
const TOKEN_KEY = 'loralpha.token';
let noStorage = false, memToken = null;  // memToken counts only without storage

function currentToken() {
  if (!noStorage) {
    try { return localStorage.getItem(TOKEN_KEY) || null; } catch { noStorage = true; }
  }
  return memToken;
}
function setToken(t) {
  memToken = t;
  try { localStorage.setItem(TOKEN_KEY, t); } catch { noStorage = true; }
}
function forgetToken() {
  memToken = null;
  try { localStorage.removeItem(TOKEN_KEY); } catch { noStorage = true; }
}
// Signed out in another tab: this one shows the form too, and nothing it had loaded.
window.addEventListener('storage', (e) => {
  if ((e.key === TOKEN_KEY || e.key === null) && !currentToken() && !signIn) location.reload();
});

/* A link `...#token=HEX` signs in once: the token is kept and taken out of
 * the address bar (and so out of the history) before any API call. */
(function tokenFromFragment() {
  if (!location.hash.startsWith('#')) return;
  const params = new URLSearchParams(location.hash.slice(1));
  const t = params.get('token');
  if (t == null) return;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  if (tokenLike(t.trim())) setToken(t.trim());
})();

/* Could t go in an Authorization header? (visible ASCII, no spaces) */
function tokenLike(t) {
  return /^[\x21-\x7e]{1,512}$/.test(t);
}

/* ---- requests ---------------------------------------------------------- */

function send(method, path, token, body, accept) {
  const headers = { Accept: accept };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(path, {
    method, headers, cache: 'no-store', credentials: 'omit',
    body: body !== undefined ? JSON.stringify(body) : undefined,
  }).catch((e) => { throw new ApiError(0, 'network', `cannot reach the daemon (${e.message})`); });
}

async function errorOf(res) {
  const text = await res.text().catch(() => '');
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  const err = body && body.error ? body.error : { code: 'http', message: `${res.status} ${res.statusText}` };
  return new ApiError(res.status, err.code, err.message);
}

/* A response from the API with the token. Without a token, or when the
 * daemon answers 401, the sign-in form takes over the page and the request
 * is sent again once a token is accepted, so callers never see a 401. */
async function authFetch(method, path, body, accept = 'application/json') {
  for (;;) {
    const token = currentToken();
    if (!token) { await needSignIn(''); continue; }
    const res = await send(method, path, token, body, accept);
    if (res.status !== 401) return res;
    if (currentToken() === token) {
      forgetToken();
      await needSignIn('The daemon no longer accepts the saved token. Paste a current one.');
    }
  }
}

async function request(method, path, body) {
  const res = await authFetch(method, path, body);
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

export const getJSON = (path) => request('GET', path);
export const postJSON = (path, body) => request('POST', path, body);
export const deleteJSON = (path) => request('DELETE', path);

/* Fetches path with the token and saves it as a file named filename. */
export async function download(path, filename) {
  const res = await authFetch('GET', path, undefined, '*/*');
  if (!res.ok) throw await errorOf(res);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return blob.size;
}

/* ---- who is signed in, and the sign-in form ------------------------------ */

let me;  // undefined: not asked yet; null: a daemon without /v1/whoami
let signIn = null;  // { promise, resolve, error } while the form is up

/* GET /v1/whoami once (showing the sign-in form first if needed), then
 * `user · sign out` in the page's header. */
export async function whoami() {
  if (me === undefined) {
    try { me = await getJSON('/v1/whoami'); } catch (e) {
      if (e.status !== 404) throw e;
      me = null;
    }
    renderWho();
  }
  return me;
}

/* Who the daemon took the token for, once known (after a sign-in too). */
export const signedInAs = () => me || null;

function renderWho() {
  let box = document.getElementById('who');
  if (!box) {
    const top = document.querySelector('header.top');
    if (!top) return;
    box = el('span', { id: 'who', class: 'who' });
    top.append(box);
  }
  if (!currentToken()) { box.replaceChildren(); return; }
  const name = me ? el('span', { id: 'who-user', title: `signed in as ${me.user}${me.admin ? ' (admin)' : ''} with a ${me.via || 'token'}`, text: me.user + (me.admin ? ' (admin)' : '') }) : null;
  box.replaceChildren(...(name ? [name] : []), el('button', {
    type: 'button', id: 'signout', class: 'link',
    title: 'Forget the token in this browser',
    onclick: () => { forgetToken(); location.reload(); },
  }, 'sign out'));
}

/* Shows the sign-in form with message (if any); resolves once a token the
 * daemon accepts has been pasted. */
function needSignIn(message) {
  if (signIn) { if (message) signIn.error(message); return signIn.promise; }
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  const input = el('input', {
    id: 'signin-token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    placeholder: '64 hex characters', 'aria-describedby': 'signin-help',
  });
  const err = el('p', { id: 'signin-error', class: 'status error', role: 'alert' });
  const button = el('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = el('form', { id: 'signin', class: 'card signin' },
    el('h1', { text: 'Sign in to the daemon' }),
    el('p', { id: 'signin-help' },
      'The daemon\'s API needs a token. If the daemon runs as you, yours is in ',
      el('code', { text: '~/.local/state/loralpha/token' }),
      ' (or the token file in the daemon\'s ', el('code', { text: '--state-dir' }),
      '); other users get theirs from the daemon\'s admin, who keeps them in the tokens file. '
      + 'This browser keeps it until you sign out.'),
    el('label', { for: 'signin-token', text: 'Token' }), input, button, err);
  const showError = (text) => { err.textContent = text; };
  showError(message || '');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    // The token alone, or a whole "USER TOKEN" line of the tokens file.
    const t = input.value.trim().split(/\s+/).pop();
    if (!t) { showError('Paste the token first.'); return; }
    if (!tokenLike(t)) { showError('That is not a token: it is one word of letters and digits (64 hex characters for the daemon\'s own).'); return; }
    button.disabled = true;
    showError('');
    let res;
    try {
      res = await send('GET', '/v1/whoami', t, undefined, 'application/json');
    } catch (e) {
      showError(e.message);
      button.disabled = false;
      return;
    }
    button.disabled = false;
    if (res.status === 401) {
      showError('The daemon does not accept this token. Check that it is the whole line of the token file.');
      input.select();
      return;
    }
    if (!res.ok && res.status !== 404) { showError((await errorOf(res)).message); return; }
    me = res.ok ? await res.json().catch(() => null) : null;
    setToken(t);
    input.value = '';
    form.remove();
    document.body.classList.remove('signed-out');
    signIn = null;
    renderWho();
    resolve();
  });
  document.body.classList.add('signed-out');
  const header = document.querySelector('header.top');
  if (header) header.after(form); else document.body.prepend(form);
  renderWho();
  input.focus();
  signIn = { promise, resolve, error: showError };
  return promise;
}

/* ---- runs -------------------------------------------------------------- */

/* All runs of a sweep, following `next` (1000 per page). */
export async function allRuns(sweepId) {
  const runs = [];
  let after = null;
  for (;;) {
    const page = await getJSON(`/v1/sweeps/${sweepId}/runs?limit=1000` + (after != null ? `&after=${after}` : ''));
    runs.push(...page.runs);
    if (page.next == null || page.runs.length === 0) break;
    after = page.next;
  }
  return runs;
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

export function fmt(x, digits = 4) {
  if (x == null || Number.isNaN(x)) return '–';
  if (typeof x !== 'number') return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (Number.isInteger(x) && a < 1e6) return String(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(digits - 2);
  return String(Number(x.toPrecision(digits)));
}

export function age(seconds) {
  if (seconds == null) return '–';
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/* Run states in the order bars and lists show them; "stopped" (a normal
 * end: a halving search stopped its cell at a rung) and "waiting" (at a
 * rung, its cell not decided yet) occur in halving sweeps only. */
export const STATES = ['done', 'stopped', 'failed', 'diverged', 'cancelled', 'running', 'waiting', 'queued'];

/* A stacked progress bar of a sweep's run counts. */
export function progressBar(counts, total) {
  const bar = el('div', { class: 'progress', role: 'img' });
  const parts = [];
  for (const s of STATES) {
    const n = counts[s] || 0;
    if (!n) continue;
    parts.push(`${n} ${s}`);
    bar.append(el('span', { class: `seg st-${s}`, style: `width:${(100 * n) / Math.max(1, total)}%` }));
  }
  const label = parts.join(', ') || 'no runs';
  bar.setAttribute('title', label);
  bar.setAttribute('aria-label', label);
  return bar;
}

/* What a sweep's state and progress say. state: the daemon's, except that a
 * finished sweep none of whose runs ended done or diverged is 'failed' (as
 * the daemon calls it; an older daemon said 'done'). progress: the share of
 * runs that finished by themselves (done, diverged, failed, stopped), the API's
 * "progress", counted here from "counts" so that a cancelled sweep never
 * reads 100 % whichever daemon answers. */
export function sweepStatus(s) {
  const c = s.counts || {};
  const own = (c.done || 0) + (c.diverged || 0) + (c.failed || 0) + (c.stopped || 0);
  const n = s.n_runs || 0;
  let state = s.state;
  if (state === 'done' && !(c.done || c.diverged) && n > 0) state = 'failed';
  const progress = n ? own / n : 0;
  // floor, so 99.5 % is not shown as 100 %
  return { state, progress, pct: `${Math.floor(100 * progress)}%` };
}

/* A sweep's state in words, for the badge's tooltip. */
export function stateTitle(state, s) {
  const why = s && s.error ? `: ${s.error}` : '';
  switch (state) {
    case 'active': return 'Runs are queued or running';
    case 'done': return 'Finished: at least one run ended done or diverged';
    case 'failed': return `Failed: no run ended done or diverged (every run failed or was cancelled, or the daemon stopped the sweep because its runs kept failing)${why}`;
    case 'cancelled': return 'Cancelled: its queued and running runs were stopped';
    default: return state;
  }
}

export function countsText(counts) {
  return STATES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(' · ') || 'no runs';
}

/* Viridis-like colour for t in [0, 1]. */
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
export function viridis(t) {
  if (!Number.isFinite(t)) t = 0;
  t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
  const c = VIRIDIS[i].map((v, k) => Math.round(v + f * (VIRIDIS[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/* A categorical palette for a handful of groups. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b',
  '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

/* A sweep's run window in words: {"start":"22:00","end":"07:00","outside":"finish"}. */
export function windowText(w) {
  if (!w) return '';
  const outside = w.outside === 'requeue' ? 'running runs are stopped and queued again'
    : w.outside === 'finish' ? 'running runs finish' : `running runs: ${w.outside}`;
  return `Runs start only between ${w.start} and ${w.end} (the daemon's local time); outside it, ${outside}.`;
}
