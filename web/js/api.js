// Small helpers shared by the dashboard pages: API calls and formatting.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path) {
  let res;
  try {
    res = await fetch(path, { method, headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach the daemon (${e.message})`);
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    const err = body && body.error ? body.error : { code: 'http', message: `${res.status} ${res.statusText}` };
    throw new ApiError(res.status, err.code, err.message);
  }
  return body;
}

export const getJSON = (path) => request('GET', path);
export const postJSON = (path) => request('POST', path);

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

export const STATES = ['done', 'failed', 'diverged', 'cancelled', 'running', 'queued'];

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
