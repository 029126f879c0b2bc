// The sweeps page: every sweep, refreshed every 2 s without reloading.
import { getJSON, whoami, signedInAs, el, age, progressBar, countsText, windowText, sweepStatus, stateTitle } from './api.js';

const POLL_MS = 2000;
const tbody = document.querySelector('#sweeps tbody');
const status = document.getElementById('status');
const health = document.getElementById('health');

function stateCell(s, st) {
  const td = el('td', { class: 'state' }, el('span', { class: `badge st-${st.state}`, title: stateTitle(st.state, s), text: st.state }));
  if (s.paused) td.append(' ', el('span', { class: 'badge st-paused', title: 'No new run starts until the sweep is resumed', text: 'paused' }));
  if (s.window) td.append(' ', el('span', { class: 'window', title: windowText(s.window), text: `⏲ ${s.window.start}–${s.window.end}` }));
  return td;
}

function row(s) {
  const link = el('a', { href: `/sweep.html?id=${s.id}`, text: s.name });
  const me = signedInAs();
  const mine = me && s.owner === me.user;
  const st = sweepStatus(s);
  const tr = el('tr', { 'data-id': s.id, class: s.paused ? 'paused' : null },
    el('td', { class: 'num', text: String(s.id) }),
    el('td', {}, link),
    el('td', { class: 'owner' + (mine ? ' mine' : ''), title: mine ? 'yours' : null, text: s.owner == null ? '–' : s.owner }),
    stateCell(s, st),
    el('td', { class: 'wide' }, progressBar(s.counts, s.n_runs),
      el('span', { class: 'pct', title: 'runs that finished by themselves (done, diverged or failed) of all runs', text: st.pct })),
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
    const paused = sweeps.filter((s) => s.state === 'active' && s.paused).length;
    status.textContent = sweeps.length
      ? `${sweeps.length} sweep${sweeps.length === 1 ? '' : 's'}, ${active} active${paused ? ` (${paused} paused)` : ''} · updated ${new Date().toLocaleTimeString()}`
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

async function start() {
  for (;;) {
    try { await whoami(); break; } catch (e) {
      status.textContent = `Cannot reach the daemon: ${e.message} (retrying)`;
      status.classList.add('error');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
  refresh();
}
start();
