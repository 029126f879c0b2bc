// The sweeps page: every sweep, refreshed every 2 s without reloading.
import { getJSON, el, age, progressBar, countsText } from './api.js';

const POLL_MS = 2000;
const tbody = document.querySelector('#sweeps tbody');
const status = document.getElementById('status');
const health = document.getElementById('health');

function row(s) {
  const link = el('a', { href: `/sweep.html?id=${s.id}`, text: s.name });
  const tr = el('tr', { 'data-id': s.id },
    el('td', { class: 'num', text: String(s.id) }),
    el('td', {}, link),
    el('td', {}, el('span', { class: `badge st-${s.state}`, text: s.state })),
    el('td', { class: 'wide' }, progressBar(s.counts, s.n_runs),
      el('span', { class: 'pct', text: `${Math.floor(100 * s.progress)}%` })),
    el('td', { class: 'num', text: String(s.n_runs) }),
    el('td', { class: 'counts', text: countsText(s.counts) }),
    el('td', { class: 'num', title: new Date(s.created_at * 1000).toLocaleString(), text: age(s.created_at) }));
  tr.addEventListener('click', (e) => { if (e.target.tagName !== 'A') location.href = link.href; });
  return tr;
}

async function refresh() {
  try {
    const { sweeps } = await getJSON('/v1/sweeps');
    const frag = document.createDocumentFragment();
    for (const s of sweeps) frag.append(row(s));
    tbody.replaceChildren(frag);
    const active = sweeps.filter((s) => s.state === 'active').length;
    status.textContent = sweeps.length
      ? `${sweeps.length} sweep${sweeps.length === 1 ? '' : 's'}, ${active} active · updated ${new Date().toLocaleTimeString()}`
      : 'No sweeps yet.';
    status.classList.remove('error');
  } catch (e) {
    status.textContent = `Cannot list sweeps: ${e.message} (retrying)`;
    status.classList.add('error');
  }
  try {
    const h = await getJSON('/v1/health');
    health.textContent = `${h.status} · v${h.version} · workers ${h.workers_busy}/${h.max_workers}`;
  } catch { health.textContent = 'daemon unreachable'; }
  setTimeout(refresh, POLL_MS);
}

refresh();
