// The sweep page: header, the answer, the joint (α, lr) optimum, the law across lr and budget, the paper's claims, pause / resume / cancel / delete, report, final loss against α per rank, loss curves, heatmap, α*(r), drift, run detail, runs table.
import { getJSON, postJSON, deleteJSON, download, whoami, signedInAs, allRuns, el, fmt, age, progressBar, countsText, windowText, viridis, PALETTE, sweepStatus, stateTitle } from './api.js';
import { makePlot, dropPlot, getPlot, allPlots, logAxis } from './plot.js';

const POLL_MS = 2000;
const MAX_SERIES = 300;      // most loss curves drawn at once
const MAX_TABLE_ROWS = 500;  // most table rows rendered at once
const BIG_SWEEP = 1000;      // above this many runs, curves are fetched per filter

const $ = (id) => document.getElementById(id);
const sweepId = Number(new URLSearchParams(location.search).get('id'));

const S = {
  id: sweepId, sweep: null, runs: [], byId: new Map(),
  curves: null, curvesKey: null, kind: 'eval',
  filters: { rank: '', alpha: '', lr: '', seed: '' },
  highlight: null, analysis: null, analysisError: null,
  sort: { key: 'id', dir: 1 }, drawn: { loss: 0 }, version: 0,
  alphaRange: [1, 1],
  avLr: null, alphaView: null,
};
window.__la = { state: S, plots: allPlots, getPlot };

function message(text, isError = false) {
  const m = $('message');
  m.textContent = text;
  m.classList.toggle('error', isError);
}

/* ---- header and polling ------------------------------------------------ */

function renderHeader(s) {
  document.title = `loralpha · ${s.name}`;
  $('title').textContent = `#${s.id} ${s.name}`;
  const status = sweepStatus(s);
  const st = $('state');
  st.textContent = status.state;
  st.className = `badge st-${status.state}`;
  st.title = stateTitle(status.state, s);
  $('progress').replaceChildren(progressBar(s.counts, s.n_runs));
  $('counts').textContent = `${countsText(s.counts)} · ${s.n_runs} runs · ${status.pct} finished by themselves (done, diverged or failed) · created ${age(s.created_at)} ago`
    + (s.finished_at ? ` · finished ${age(s.finished_at)} ago` : '');
  const err = $('sweep-error');
  // Why it failed: the daemon's word, else (an older daemon) the first failed run's error.
  const why = s.error || (S.runs.find((r) => r.state === 'failed' && r.error) || {}).error;
  err.hidden = !(status.state === 'failed' && why);
  err.textContent = err.hidden ? '' : `Why it failed: ${why}`;
  if (s.spec && s.spec.description) $('desc').textContent = s.spec.description;
  const active = s.state === 'active';
  $('paused').hidden = !(active && s.paused);
  $('owner').textContent = s.owner != null ? `by ${s.owner}` + (signedInAs()?.user === s.owner ? ' (you)' : '') : '';
  const w = $('window');
  w.hidden = !s.window;
  w.textContent = s.window ? windowText(s.window) : '';
  // Pause while it runs, Resume while paused, Cancel while active; the daemon
  // decides who may (403 otherwise). Without `paused` (an older daemon) neither shows.
  const canPause = active && s.paused === false, canResume = active && s.paused === true;
  if (!busy) {
    $('pause').hidden = !canPause;
    $('pause-mode-label').hidden = !canPause;
    $('resume').hidden = !canResume;
    $('cancel').disabled = !active;
    $('delete').hidden = active;
  }
  const me = signedInAs();
  const notYours = me && s.owner != null && me.user !== s.owner && !me.admin;
  for (const b of ['pause', 'resume', 'cancel', 'delete']) $(b).title = notYours ? `Only ${s.owner} (the owner) or an admin may change this sweep` : '';
  $('report').title = `The morning report as one HTML file: the law, α*(r), the heuristics' regret, drift, failed runs (Markdown: /v1/sweeps/${s.id}/report?format=md, or loralpha report ${s.id})`;
}

/* An action's error in words; a 403 says whose sweep it is. */
function actionError(verb, s, e) {
  if (e.status === 403) {
    const why = s.owner != null ? `it belongs to ${s.owner}, and only its owner or an admin may ${verb} it.` : e.message;
    const me = signedInAs();
    return `You${me ? ` (${me.user})` : ''} cannot ${verb} sweep #${s.id}: ${why}`;
  }
  return `Cannot ${verb} sweep #${s.id}: ${e.message}`;
}

let pollCount = 0;
let deleted = false;  // the sweep is gone: stop polling
async function poll() {
  if (deleted) return;
  try {
    const s = await getJSON(`/v1/sweeps/${sweepId}`);
    const prev = S.sweep;
    S.sweep = s;
    renderHeader(s);
    pollCount++;
    const finishedNow = prev && prev.state === 'active' && s.state !== 'active';
    const every = s.n_runs > BIG_SWEEP ? 15 : 5;
    if (finishedNow || (s.state === 'active' && pollCount % every === 0)) {
      await loadData(true);
      if (finishedNow || pollCount % (every * 3) === 0) loadAnalysis();
    }
    if (finishedNow || (s.state === 'active' && pollCount % every === 0)) loadSearch();
  } catch (e) {
    message(`Cannot read sweep ${sweepId}: ${e.message}`, true);
  }
  setTimeout(poll, POLL_MS);
}

/* Runs one of the header's actions: buttons off meanwhile, then the sweep re-read. */
let busy = false;
async function act(verb, path, body, said) {
  const s = S.sweep;
  if (!s || busy) return;
  busy = true;
  for (const b of ['pause', 'resume', 'cancel', 'delete']) $(b).disabled = true;
  try {
    const r = await postJSON(path, body);
    message(said(r || {}));
  } catch (e) {
    message(actionError(verb, s, e), true);
  }
  busy = false;
  for (const b of ['pause', 'resume', 'delete']) $(b).disabled = false;
  try { S.sweep = await getJSON(`/v1/sweeps/${sweepId}`); } catch { /* next poll */ }
  renderHeader(S.sweep);
  loadData(true);
}

$('cancel').addEventListener('click', () => {
  const s = S.sweep;
  if (!s) return;
  if (!confirm(`Cancel sweep #${s.id} "${s.name}"? Queued runs are dropped and running workers stopped.`)) return;
  act('cancel', `/v1/sweeps/${s.id}/cancel`, undefined, (r) => `Sweep #${r.id ?? s.id} is now ${r.state ?? 'cancelled'}.`);
});
$('delete').addEventListener('click', async () => {
  const s = S.sweep;
  if (!s || busy || s.state === 'active') return;
  if (!confirm(`Delete sweep #${s.id} "${s.name}" and everything it measured (runs, curves, spectra, analysis)? This cannot be undone.`)) return;
  busy = true;
  for (const b of ['pause', 'resume', 'cancel', 'delete']) $(b).disabled = true;
  try {
    const r = await deleteJSON(`/v1/sweeps/${s.id}`);
    deleted = true;
    const n = r && r.deleted ? r.deleted.runs : undefined;
    for (const c of document.querySelectorAll('main > section.card:not(#head), main > div')) c.hidden = true;
    for (const b of ['pause', 'resume', 'cancel', 'delete', 'report', 'pause-mode-label']) $(b).hidden = true;
    message(`Sweep #${s.id} "${s.name}" is deleted${n !== undefined ? ` with its ${n} run${n === 1 ? '' : 's'}` : ''}.`);
    $('message').append(' ', el('a', { href: './', text: 'Back to the sweeps' }));
  } catch (e) {
    message(actionError('delete', s, e), true);
    $('delete').disabled = false;
  }
  busy = false;
});
$('pause').addEventListener('click', () => {
  const s = S.sweep;
  if (!s) return;
  const running = $('pause-mode').value;
  act('pause', `/v1/sweeps/${s.id}/pause`, { running }, () => `Sweep #${s.id} is paused: no new run starts`
    + (running === 'requeue' ? '; its running runs were stopped and queued again.' : '; its running runs finish.'));
});
$('resume').addEventListener('click', () => {
  const s = S.sweep;
  if (!s) return;
  act('resume', `/v1/sweeps/${s.id}/resume`, undefined, () => `Sweep #${s.id} is resumed: its queued runs start again.`);
});
$('report').addEventListener('click', async () => {
  const s = S.sweep;
  if (!s) return;
  const b = $('report');
  b.disabled = true;
  try {
    const n = await download(`/v1/sweeps/${s.id}/report`, `sweep-${s.id}-report.html`);
    message(`Report of sweep #${s.id} saved (${fmt(n / 1024, 3)} KiB).`);
  } catch (e) {
    message(`Cannot download the report of sweep #${s.id}: ${e.message}`, true);
  }
  b.disabled = false;
});

/* ---- data -------------------------------------------------------------- */

let loading = null;
async function loadData(force = false) {
  if (loading) return loading;
  loading = (async () => {
    try {
      const runs = await allRuns(sweepId);
      S.runs = runs;
      S.byId = new Map(runs.map((r) => [r.id, r]));
      if (S.sweep) renderHeader(S.sweep);  // a failed sweep's first error comes from its runs
      const alphas = runs.map((r) => r.alpha).filter((a) => a > 0);
      if (alphas.length) S.alphaRange = [Math.min(...alphas), Math.max(...alphas)];
      buildFilters();
      if (S.highlight == null) {
        let best = null;
        for (const r of runs) if (r.final_eval_loss != null && (best == null || r.final_eval_loss < best.final_eval_loss)) best = r;
        if (best) S.highlight = best.id;
      }
      renderHeatmap();
      renderAlphaView();
      renderTable();
      await loadCurves(force);
      if (S.highlight != null && (force || !S.runDetail)) loadRun(S.highlight);
    } catch (e) {
      message(`Cannot load runs: ${e.message}`, true);
    } finally {
      loading = null;
    }
  })();
  return loading;
}

function uniqSorted(xs) { return [...new Set(xs)].sort((a, b) => a - b); }

function fillSelect(sel, values, label, current) {
  const opts = [el('option', { value: '', text: `all ${label}` })];
  for (const v of values) opts.push(el('option', { value: String(v), text: fmt(v) }));
  sel.replaceChildren(...opts);
  sel.value = values.map(String).includes(current) ? current : '';
}

function buildFilters() {
  const f = S.filters;
  fillSelect($('f-rank'), uniqSorted(S.runs.map((r) => r.rank)), 'ranks', f.rank);
  fillSelect($('f-alpha'), uniqSorted(S.runs.map((r) => r.alpha)), 'α', f.alpha);
  fillSelect($('f-lr'), uniqSorted(S.runs.map((r) => r.lr)), 'lr', f.lr);
  fillSelect($('f-seed'), uniqSorted(S.runs.map((r) => r.seed_index)), 'seeds', f.seed);
  for (const k of ['rank', 'alpha', 'lr', 'seed']) f[k] = $(`f-${k}`).value;
}

function matches(r) {
  const f = S.filters;
  return (f.rank === '' || String(r.rank) === f.rank)
    && (f.alpha === '' || String(r.alpha) === f.alpha)
    && (f.lr === '' || String(r.lr) === f.lr)
    && (f.seed === '' || String(r.seed_index) === f.seed);
}

for (const k of ['rank', 'alpha', 'lr', 'seed']) {
  $(`f-${k}`).addEventListener('change', (e) => { S.filters[k] = e.target.value; onFilters(); });
}
$('f-kind').addEventListener('change', (e) => { S.kind = e.target.value; loadCurves(false); });

function onFilters() {
  loadCurves(false);
  renderTable();
}

export function setFilters(f) {
  Object.assign(S.filters, f);
  for (const k of ['rank', 'alpha', 'lr', 'seed']) $(`f-${k}`).value = S.filters[k];
  onFilters();
}

/* ---- loss curves ------------------------------------------------------- */

async function loadCurves(force) {
  const n = S.sweep ? S.sweep.n_runs : S.runs.length;
  const big = n > BIG_SWEEP;
  const q = new URLSearchParams({ kind: S.kind });
  if (big) {
    // Let the daemon filter, and ask for fewer points per curve.
    for (const k of ['rank', 'alpha', 'lr']) if (S.filters[k] !== '') q.set(k, S.filters[k]);
    const m = S.runs.filter(matches).length || n;
    q.set('points', String(Math.max(20, Math.min(200, Math.floor(400000 / m)))));
  } else {
    q.set('points', '200');
  }
  const key = q.toString();
  if (!force && key === S.curvesKey && S.curves) { drawLoss(); return; }
  try {
    const c = await getJSON(`/v1/sweeps/${sweepId}/curves?${key}`);
    S.curves = c;
    S.curvesKey = key;
    $('loss-note').classList.remove('error');
    drawLoss();
  } catch (e) {
    $('loss-note').textContent = `Cannot load curves: ${e.message}`;
    $('loss-note').classList.add('error');
  }
}

function alphaColor(a, opacity = 1) {
  const [lo, hi] = S.alphaRange;
  const t = hi > lo ? Math.log(a / lo) / Math.log(hi / lo) : 0.5;
  const c = viridis(t * 0.9);
  return opacity < 1 ? c.replace('rgb(', 'rgba(').replace(')', `,${opacity})`) : c;
}

function runLabel(r) {
  return `#${r.id} r=${r.rank} α=${fmt(r.alpha)} lr=${fmt(r.lr)} seed ${r.seed_index}`;
}

function drawLoss() {
  const box = $('loss-plot');
  const all = (S.curves ? S.curves.runs : []).filter(matches);
  let runs = all;
  let note = '';
  if (runs.length > MAX_SERIES) {
    runs = runs.slice(0, MAX_SERIES);
    const h = all.find((r) => r.id === S.highlight);
    if (h && !runs.includes(h)) runs[runs.length - 1] = h;
    note = `${all.length} runs match: drawing the first ${MAX_SERIES}. Narrow the filters to see the others. `;
  }
  // Highlighted run last, so it is drawn on top.
  const hi = runs.findIndex((r) => r.id === S.highlight);
  if (hi >= 0) runs = [...runs.slice(0, hi), ...runs.slice(hi + 1), runs[hi]];

  const xs = new Set();
  for (const r of runs) for (const s of r.step) xs.add(s);
  const x = Float64Array.from(xs).sort();
  const xi = new Map();
  x.forEach((v, i) => xi.set(v, i));
  const data = [x];
  for (const r of runs) {
    const y = new Array(x.length).fill(null);
    for (let k = 0; k < r.step.length; k++) {
      const l = r.loss[k];
      y[xi.get(r.step[k])] = l > 0 && Number.isFinite(l) ? l : null;
    }
    data.push(y);
  }
  const hasHi = hi >= 0;
  const series = [{ label: 'step' }, ...runs.map((r) => ({
    label: runLabel(r),
    stroke: r.id === S.highlight ? '#d62728' : alphaColor(r.alpha, hasHi ? 0.35 : 0.9),
    width: r.id === S.highlight ? 2.5 : 1,
    spanGaps: true,
    points: { show: false },
  }))];
  S.drawn.loss = runs.length;
  S.version++;
  $('loss-note').textContent = note + `${runs.length} curve${runs.length === 1 ? '' : 's'} (${S.kind} loss, log scale), coloured by α as the colour bar shows (dark purple: small α, yellow: large α).`;
  if (!runs.length) {
    dropPlot('loss', box, 'No run matches these filters (or none has started).');
  } else {
    makePlot('loss', box, {
      height: 340,
      legend: { show: false },
      cursor: { points: { show: false } },
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: 'step' }, logAxis(`${S.kind} loss`, 70)],
      series,
    }, data);
  }
  renderLegend(runs);
  renderColorbar();
}

/* The colour bar over the curves: what a line's colour says (its α, on a
 * log scale from the sweep's smallest to its largest α). */
function renderColorbar() {
  const box = $('loss-colorbar');
  const [lo, hi] = S.alphaRange;
  const stops = [];
  for (let i = 0; i <= 10; i++) stops.push(`${viridis(0.9 * i / 10)} ${i * 10}%`);
  const alphas = uniqSorted(S.runs.map((r) => r.alpha)).filter((a) => a > 0);
  const every = Math.max(1, Math.ceil(alphas.length / 9));
  const ticks = alphas.filter((a, i) => i % every === 0 || i === alphas.length - 1).map((a) => {
    const t = hi > lo ? Math.log(a / lo) / Math.log(hi / lo) : 0.5;
    return el('span', { class: 'cb-tick', style: `left:${(100 * t).toFixed(2)}%`, text: fmt(a, 3) });
  });
  box.setAttribute('aria-label', `line colour: α from ${fmt(lo)} (dark purple) to ${fmt(hi)} (yellow), log scale`);
  box.replaceChildren(
    el('span', { class: 'cb-label', text: 'line colour: α' }),
    el('div', { class: 'cb-scale' }, el('div', { class: 'cb-bar', style: `background:linear-gradient(to right, ${stops.join(', ')})` }),
      el('div', { class: 'cb-ticks' }, ...ticks)),
    el('span', { class: 'cb-label', text: S.highlight != null ? 'red: the highlighted run' : 'log scale' }));
}

function renderLegend(runs) {
  const box = $('loss-legend');
  const frag = document.createDocumentFragment();
  for (const r of runs) {
    const item = el('button', {
      type: 'button', class: 'leg' + (r.id === S.highlight ? ' on' : ''), 'data-run': r.id,
      title: `${runLabel(r)} · ${r.state}`,
    }, el('span', { class: 'chip', style: `background:${alphaColor(r.alpha)}` }), `#${r.id} r${r.rank} α${fmt(r.alpha, 3)} lr${fmt(r.lr, 2)} s${r.seed_index}`);
    frag.append(item);
  }
  box.replaceChildren(frag);
}
$('loss-legend').addEventListener('click', (e) => {
  const b = e.target.closest('[data-run]');
  if (b) highlight(Number(b.dataset.run));
});

function highlight(id) {
  S.highlight = S.highlight === id ? null : id;
  drawLoss();
  renderTable();
  if (S.highlight != null) loadRun(S.highlight);
}

/* ---- grid points: the final eval loss over seeds ----------------------- */

/* Every (rank, lr, alpha) grid point of the runs: n done runs with a finite
 * final eval loss > 0, their mean, min and max; bad: diverged or failed runs;
 * first: its first run's id. best: per rank, the lowest mean over all lrs. */
function gridCells() {
  const cells = new Map();
  for (const r of S.runs) {
    const k = `${r.rank}|${r.lr}|${r.alpha}`;
    let c = cells.get(k);
    if (!c) cells.set(k, c = { rank: r.rank, lr: r.lr, alpha: r.alpha, sum: 0, n: 0, min: Infinity, max: -Infinity, bad: 0, total: 0, first: r.id });
    c.total++;
    const l = r.final_eval_loss;
    if (r.state === 'done' && l != null && Number.isFinite(l) && l > 0) {
      c.sum += l; c.n++; c.min = Math.min(c.min, l); c.max = Math.max(c.max, l);
    }
    if (r.state === 'diverged' || r.state === 'failed') c.bad++;
  }
  const best = new Map(), worst = new Map();
  for (const c of cells.values()) {
    if (!c.n) continue;
    c.mean = c.sum / c.n;
    if (!(best.get(c.rank) <= c.mean)) best.set(c.rank, c.mean);
    if (!(worst.get(c.rank) >= c.mean)) worst.set(c.rank, c.mean);
  }
  return { cells, best, worst };
}

/* ---- the answer: the analysis' headline and its answer per rank -------- */

const SOURCES = { measured: 'measured α*', law_sqrt: '√r law', law_free: 'free law c·r^p' };

/* The analysis' "headline" at the top of the page and its "answers" in a
 * small table; the block stays hidden when the analysis has neither (an
 * older daemon). A headline whose answer is ill-determined or at the grid's
 * edge is shown small and marked uncertain, never in large type. */
function renderAnswers() {
  const a = S.analysis;
  const answers = a && Array.isArray(a.answers) ? a.answers.filter((x) => x && typeof x === 'object') : [];
  const headline = a && typeof a.headline === 'string' && a.headline ? a.headline : null;
  const box = $('answer');
  box.hidden = !headline && !answers.length;
  if (box.hidden) return;
  const top = answers.reduce((m, x) => (!m || x.rank > m.rank ? x : m), null);
  const shaky = !!(top && (top.ill_determined || top.at_edge));
  const weak = shaky || !!(top && top.alpha == null);
  const h = $('headline');
  h.hidden = !headline;
  h.textContent = headline ? (shaky ? `Uncertain: ${headline}` : headline) : '';
  h.classList.toggle('weak', weak);
  h.title = top && top.why ? `Why ${SOURCES[top.source] || top.source}: ${top.why}` : '';
  const names = [...new Set(answers.flatMap((x) => (Array.isArray(x.rules) ? x.rules.map((r) => r.name) : [])))];
  const head = el('tr', {}, ...['rank', 'α', 'interval', 'lr', 'loss', 'source'].map((t) => el('th', { text: t })),
    ...names.map((n) => el('th', { title: `the α this rule gives, and the loss it would add against the answer's`, text: `${ruleStyle(n, 0).label} would lose` })));
  $('answers').tHead.replaceChildren(head);
  const rows = answers.map((x) => {
    const flags = [x.at_edge ? 'at the grid\'s edge' : '', x.ill_determined ? 'ill-determined' : ''].filter(Boolean);
    const alphaCell = el('td', { class: 'num' }, fmt(x.alpha, 3), ...flags.map((f) => el('span', { class: 'flag', text: f })));
    const rules = new Map((Array.isArray(x.rules) ? x.rules : []).map((r) => [r.name, r]));
    return el('tr', { 'data-rank': x.rank, class: flags.length ? 'uncertain' : null },
      el('td', { class: 'num', text: fmt(x.rank) }), alphaCell,
      el('td', { class: 'num', text: x.alpha_lo != null || x.alpha_hi != null ? `[${fmt(x.alpha_lo, 3)}, ${fmt(x.alpha_hi, 3)}]` : '–' }),
      el('td', { class: 'num', text: fmt(x.lr) }),
      el('td', { class: 'num', text: fmt(x.loss) }),
      el('td', { title: x.why || null, text: SOURCES[x.source] || fmt(x.source) }),
      ...names.map((n) => {
        const r = rules.get(n);
        if (!r) return el('td', { text: '–' });
        return el('td', { class: 'num', text: `α ${fmt(r.alpha, 3)}: ${r.loss_pct == null ? 'unknown' : `~${fmt(r.loss_pct, 2)}%`}` });
      }));
  });
  $('answers').tBodies[0].replaceChildren(...rows);
  $('answer-note').textContent = answers.length
    ? 'One answer per tested rank: the α and lr with the lowest final loss. Source: measured α* (the grid\'s best, refined), or the law the sweep supports (hover for why). '
      + 'Interval: the bootstrap interval over seeds (about 90 %). Each rule\'s column: the α it gives at that rank and the loss it would add in percent of the answer\'s ("unknown" when it cannot be estimated: its α outside the grid, or beside a diverged point).'
    : '';
}

/* ---- the joint (alpha, lr) optimum and the alpha-lr trade-off ---------- */

/* The full budget's "joint" (docs/analysis.md, "The joint optimum"): the
 * pooled trade-off in words and a row per rank (its best lr, alpha* there,
 * the slope of log alpha* against log lr); hidden when the analysis has
 * none (an older daemon, no checkpoint). */
function renderJoint() {
  const cp = lastCheckpoint();
  const jt = cp && cp.joint && typeof cp.joint === 'object' ? cp.joint : null;
  const ranks = jt && Array.isArray(jt.ranks) ? jt.ranks.filter((x) => x && typeof x === 'object') : [];
  const box = $('joint');
  box.hidden = !ranks.length;
  if (box.hidden) return;
  const pooled = jt.tradeoff && typeof jt.tradeoff.text === 'string' ? jt.tradeoff.text : '';
  $('joint-tradeoff').textContent = pooled ? `α–lr trade-off, all ranks: ${pooled}` : '';
  const ival = (lo, hi, d) => (lo != null || hi != null ? `[${fmt(lo, d)}, ${fmt(hi, d)}]` : '–');
  $('joint-table').tHead.replaceChildren(el('tr', {}, ...['rank', 'best lr', 'α*', 'interval', 'loss', 'slope', 'trade-off']
    .map((t) => el('th', { text: t }))));
  $('joint-table').tBodies[0].replaceChildren(...ranks.map((x) => {
    const t = x.tradeoff && typeof x.tradeoff === 'object' ? x.tradeoff : {};
    const lrFlags = x.lr_at_edge ? ['at the lr grid\'s edge'] : [];
    const aFlags = [x.alpha_at_edge ? 'at the α grid\'s edge' : '', x.ill_determined ? 'ill-determined' : ''].filter(Boolean);
    return el('tr', { 'data-rank': x.rank },
      el('td', { class: 'num', text: fmt(x.rank) }),
      el('td', { class: 'num' }, fmt(x.lr), ...lrFlags.map((f) => el('span', { class: 'flag', text: f }))),
      el('td', { class: 'num' }, fmt(x.alpha, 3), ...aFlags.map((f) => el('span', { class: 'flag', text: f }))),
      el('td', { class: 'num', text: ival(x.alpha_lo, x.alpha_hi, 3) }),
      el('td', { class: 'num', text: fmt(x.loss) }),
      el('td', { class: 'num', text: t.slope == null ? '–' : `${fmt(t.slope, 2)} ${ival(t.slope_lo, t.slope_hi, 2)}` }),
      el('td', { text: typeof t.text === 'string' ? t.text : '–' }));
  }));
  $('joint-note').textContent = 'Joint optimum: per rank, the (α, lr) of the lowest final loss (the answer\'s lr). '
    + 'Slope: of log α* against log lr across the lrs, with its bootstrap interval; −1 means only α·lr matters, 0 that α* does not depend on lr. '
    + 'At the lr grid\'s edge: the best lr is the smallest or largest tested, so the best may lie beyond the grid.';
}

/* ---- the search along alpha (GET /v1/sweeps/{id}/search) --------------- */

/* Reads and shows the sweep's search when its spec has one (else the card
 * stays hidden). */
async function loadSearch() {
  const se = S.sweep && S.sweep.spec && S.sweep.spec.search;
  if (!se || se.strategy === 'grid') { $('search-card').hidden = true; return; }
  try {
    S.search = await getJSON(`/v1/sweeps/${sweepId}/search`);
  } catch (e) {
    $('search-card').hidden = false;
    $('search-note').textContent = `Cannot read the search: ${e.message}`;
    return;
  }
  renderSearch();
}

function renderSearch() {
  const o = S.search && typeof S.search === 'object' ? S.search : {};
  const arr = (a) => (Array.isArray(a) ? a.filter((x) => x && typeof x === 'object') : []);
  const cells = arr(o.cells), decs = arr(o.decisions);
  const se = o.search && typeof o.search === 'object' ? o.search : {};
  const sp = o.spent && typeof o.spent === 'object' ? o.spent : {};
  $('search-card').hidden = false;
  const halving = se.strategy === 'halving';
  $('search-bracket').hidden = halving;
  $('search-halving').hidden = !halving;
  if (halving) { renderHalving(o, se, sp); return; }
  $('search-note').textContent = `Strategy ${se.strategy || '?'} (tolerance ${fmt(se.tolerance)} octaves, at most ${fmt(se.max_points)} α per cell, α in [${fmt(se.alpha_min)}, ${fmt(se.alpha_max)}]): `
    + `${fmt(sp.runs)} runs, ${fmt(sp.run_steps)} run-steps, ${fmt(sp.cpu_s, 3)} CPU-seconds so far; `
    + `${cells.filter((c) => c.done).length} of ${cells.length} cells done.`;
  $('search-table').tHead.replaceChildren(el('tr', {}, ...['rank', 'lr', 'state', 'last step', 'best α', 'bracket', 'α tried', 'run-steps']
    .map((t) => el('th', { text: t }))));
  $('search-table').tBodies[0].replaceChildren(...cells.map((c) => el('tr', { 'data-rank': c.rank },
    el('td', { class: 'num', text: fmt(c.rank) }),
    el('td', { class: 'num', text: fmt(c.lr) }),
    el('td', { text: c.done ? 'done' : 'searching' }),
    el('td', { text: typeof c.last_kind === 'string' ? c.last_kind : '–' }),
    el('td', { class: 'num', text: fmt(c.best_alpha, 4) }),
    el('td', { class: 'num', text: `[${fmt(c.lo, 4)}, ${fmt(c.hi, 4)}]` }),
    el('td', { class: 'num', text: fmt(c.alphas) }),
    el('td', { class: 'num', text: fmt(c.run_steps) }))));
  renderSearchLaw(o);
  // the alphas each cell added, in its order of decisions (x: its nth decision)
  const keys = cells.map((c) => `${c.rank} ${c.lr}`);
  const per = new Map(keys.map((k) => [k, []]));
  for (const d of decs) if (d.action === 'add' && Number.isFinite(d.alpha) && per.has(`${d.rank} ${d.lr}`)) per.get(`${d.rank} ${d.lr}`).push(d.alpha);
  const n = Math.max(0, ...[...per.values()].map((a) => a.length));
  if (!n) { dropPlot('search', $('search-plot'), 'No α added yet: the grid\'s start values are running.'); return; }
  const x = Array.from({ length: n }, (_, i) => i + 1);
  const data = [x, ...keys.map((k) => x.map((i) => per.get(k)[i - 1] ?? null))];
  makePlot('search', $('search-plot'), {
    height: 260, scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: 'the cell\'s nth added α' }, logAxis('α added', 60)],
    series: [{ label: 'step' }, ...cells.map((c, i) => ({ label: `r=${c.rank} lr=${fmt(c.lr)}`, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, points: { show: true, size: 6 } }))],
  }, data);
}

/* Vertical bars with end ticks on plot u (a draw hook): one per {x, lo,
 * hi} with both ends positive, in color, width and tick half-width in CSS
 * pixels. */
function drawBars(u, bars, color, width, tick) {
  const ctx = u.ctx, w = tick * devicePixelRatio;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = width * devicePixelRatio;
  ctx.setLineDash([]); // not the last series' dash
  for (const b of bars) {
    if (!(b.lo > 0 && b.hi > 0)) continue;
    const cx = u.valToPos(b.x, 'x', true);
    const y1 = u.valToPos(b.lo, 'y', true), y2 = u.valToPos(b.hi, 'y', true);
    ctx.beginPath();
    ctx.moveTo(cx, y1); ctx.lineTo(cx, y2);
    ctx.moveTo(cx - w, y1); ctx.lineTo(cx + w, y1);
    ctx.moveTo(cx - w, y2); ctx.lineTo(cx + w, y2);
    ctx.stroke();
  }
  ctx.restore();
}

/* A law search's prediction against what was found (GET /search's "law",
 * docs/analysis.md): per lr its words, a row per rank the law started, and
 * a plot of the first lr with predictions: the law ranks' alpha* and the
 * law's line, each larger rank's predicted interval as a bar beside the
 * alpha* it found. Hidden for other strategies. */
function renderSearchLaw(o) {
  const box = $('search-law');
  const entries = Array.isArray(o.law) ? o.law.filter((e) => e && typeof e === 'object') : [];
  box.hidden = !entries.length;
  if (!entries.length) { dropPlot('searchlaw', $('search-law-plot')); return; }
  const rowsOf = (e) => (Array.isArray(e.predictions) ? e.predictions.filter((x) => x && typeof x === 'object') : []);
  $('search-law-note').textContent = entries.map((e) => (typeof e.text === 'string' ? e.text : '')).join(' ');
  $('search-law-table').tHead.replaceChildren(el('tr', {}, ...['rank', 'lr', 'predicted α', 'interval', 'α* found', 'inside', 'missed by (octaves)']
    .map((t) => el('th', { text: t }))));
  $('search-law-table').tBodies[0].replaceChildren(...entries.flatMap((e) => rowsOf(e).map((x) => el('tr', { 'data-rank': x.rank, class: x.inside === false ? 'miss' : null },
    el('td', { class: 'num', text: fmt(x.rank) }),
    el('td', { class: 'num', text: fmt(e.lr) }),
    el('td', { class: 'num', text: fmt(x.predicted, 4) }),
    el('td', { class: 'num', text: x.predicted == null ? '–' : `[${fmt(x.lo, 4)}, ${fmt(x.hi, 4)}]` }),
    el('td', { class: 'num', text: x.done ? fmt(x.found, 4) : 'searching' }),
    el('td', { text: x.inside === true ? 'yes' : x.inside === false ? 'no' : '–' }),
    el('td', { class: 'num', text: fmt(x.miss_octaves, 2) })))));
  const e = entries.find((y) => rowsOf(y).length > 0);
  if (!e) { dropPlot('searchlaw', $('search-law-plot'), 'No rank was started from the law yet: the law ranks are still searching.'); return; }
  const small = (Array.isArray(e.law_ranks) ? e.law_ranks : []).filter((x) => x && Number.isFinite(x.rank));
  const big = rowsOf(e).filter((x) => Number.isFinite(x.rank));
  const x = [...new Set([...small, ...big].map((y) => y.rank))].sort((p, q) => p - q);
  const at = (list, key) => x.map((r) => { const y = list.find((z) => z.rank === r); return y && Number.isFinite(y[key]) && y[key] > 0 ? y[key] : null; });
  const fitted = Number.isFinite(e.c) && Number.isFinite(e.p) && e.c > 0;
  const pts = (fill, stroke) => ({ show: true, size: 9, fill, stroke });
  const series = [{ label: 'rank' },
    { label: 'law ranks\' α*', stroke: '#222', paths: () => null, points: pts('#222', '#222') },
    { label: fitted ? `law: ${fmt(e.c, 3)}·r^${fmt(e.p, 3)}` : 'no law', stroke: '#1f77b4', width: 1.5, dash: [6, 4], points: { show: false } },
    { label: 'predicted α', stroke: '#1f77b4', paths: () => null, points: pts('#fff', '#1f77b4') },
    { label: 'α* found', stroke: '#d62728', paths: () => null, points: pts('#d62728', '#d62728') }];
  const data = [x, at(small, 'alpha_star'), x.map((r) => (fitted ? e.c * Math.pow(r, e.p) : null)), at(big, 'predicted'), at(big, 'found')];
  // the predicted interval of each larger rank
  const bars = (u) => drawBars(u, big.map((b) => ({ x: b.rank, lo: b.lo, hi: b.hi })), '#1f77b4', 2, 5);
  const ys = [...data.slice(1).flat(), ...big.flatMap((b) => [b.lo, b.hi])].filter((v) => Number.isFinite(v) && v > 0);
  makePlot('searchlaw', $('search-law-plot'), {
    height: 300,
    scales: { x: { time: false, distr: 3 }, y: { distr: 3, range: () => [Math.min(...ys) / 1.5, Math.max(...ys) * 1.5] } },
    axes: [logAxis(`rank r (lr ${fmt(e.lr)})`, 40), logAxis('α', 60)],
    series, hooks: { draw: [bars] },
  }, data);
}

/* ---- a halving search (GET /search's "halving", docs/sweeps.md) --------- */

const isPos = (v) => Number.isFinite(v) && v > 0;

/* A halving search: the note (settings, what was spent, the plan per
 * rank), the table of what was found per (rank, lr) and the plot of the
 * decisions. o is GET /search's answer, se its search, sp its spent. */
function renderHalving(o, se, sp) {
  const h = o.halving && typeof o.halving === 'object' ? o.halving : {};
  const arr = (a) => (Array.isArray(a) ? a.filter((x) => x && typeof x === 'object') : []);
  const plan = arr(h.plan), cells = arr(h.cells), decs = arr(h.decisions), found = arr(h.found);
  $('search-note').textContent = halvingNote(se, sp, plan, cells);
  $('search-found-table').tHead.replaceChildren(el('tr', {}, ...['rank', 'lr', 'α*', 'its loss', 'at step', 'at the end']
    .map((t) => el('th', { text: t }))));
  $('search-found-table').tBodies[0].replaceChildren(...found.map((f) => el('tr', { 'data-rank': f.rank },
    el('td', { class: 'num', text: fmt(f.rank) }),
    el('td', { class: 'num', text: fmt(f.lr) }),
    el('td', { class: 'num', text: fmt(f.alpha_star, 4) }),
    el('td', { class: 'num', text: fmt(f.loss, 4) }),
    el('td', { class: 'num', text: fmt(f.step) }),
    el('td', { text: f.at_end === true ? `yes (${fmt(f.cells_at_end)} cell${f.cells_at_end === 1 ? '' : 's'} reached it)` : 'no' }))));
  renderHalvingPlot(plan, cells, decs);
}

/* The halving note in words: settings, spent (against the full grid's
 * run-steps), cells at the end, and each rank's plan. */
function halvingNote(se, sp, plan, cells) {
  const steps = new Map(plan.map((p) => [p.rank, p.steps]));
  const grid = cells.reduce((a, c) => a + (Number(c.seeds) || 0) * (Number(steps.get(c.rank)) || 0), 0);
  const rungs = Array.isArray(se.rungs) ? se.rungs.map((x) => fmt(x, 3)).join(', ') : '–';
  const atEnd = cells.filter((c) => c.state === 'done').length;
  const pct = grid > 0 && Number.isFinite(sp.run_steps) ? ` (${fmt(100 * sp.run_steps / grid, 3)}% of the ${fmt(grid)} the full grid trains)` : '';
  const ranks = plan.map((p) => `rank ${fmt(p.rank)}: ${fmt(p.cells)} cells`
    + (Array.isArray(p.rungs) ? p.rungs : []).map((g) => `, step ${fmt(g.step)} (${fmt(g.reach)} → ${fmt(g.promote)})`).join('')
    + `, the end at ${fmt(p.steps)}`);
  return `Strategy halving (eta ${fmt(se.eta, 3)}, rungs at ${rungs} of the steps): `
    + `${fmt(sp.runs)} runs, ${fmt(sp.run_steps)} run-steps${pct}, ${fmt(sp.cpu_s, 3)} CPU-seconds so far; `
    + `${atEnd} of ${cells.length} cells reached the end. Rungs: step (cells that may reach it → promoted): ${ranks.join('; ') || '–'}.`;
}

/* Per rank, each cell's points in step order: its loss at each rung it
 * was decided at (how: 'promote' or 'stop') and, once done, its mean final
 * eval loss at its last step (how: 'end'); only positive finite losses.
 * [{rank, cells: [{key, pts: [{step, loss, how}]}]}] by rank. */
function halvingTracks(cells, decs) {
  const ranks = uniqSorted(cells.map((c) => c.rank).filter(Number.isFinite));
  const byKey = new Map(cells.map((c) => [`${c.rank} ${c.lr} ${c.alpha}`, { key: `${c.lr} ${c.alpha}`, lr: c.lr, alpha: c.alpha, pts: [] }]));
  for (const d of decs) {
    const c = byKey.get(`${d.rank} ${d.lr} ${d.alpha}`);
    if (c && isPos(d.loss) && Number.isFinite(d.step)) c.pts.push({ step: d.step, loss: d.loss, how: d.action === 'stop' ? 'stop' : 'promote' });
  }
  for (const c of cells) {
    if (c.state === 'done' && isPos(c.eval_loss) && Number.isFinite(c.steps_done)) byKey.get(`${c.rank} ${c.lr} ${c.alpha}`).pts.push({ step: c.steps_done, loss: c.eval_loss, how: 'end' });
  }
  for (const c of byKey.values()) c.pts.sort((a, b) => a.step - b.step);
  return ranks.map((r) => ({ rank: r, cells: cells.filter((c) => c.rank === r).map((c) => byKey.get(`${c.rank} ${c.lr} ${c.alpha}`)) }));
}

/* Where a cell sits beside its step: the sweep's (lr, alpha) pairs in
 * order spread over half the narrowest gap between the steps shown.
 * Returns key -> offset in steps. */
function halvingDodge(tracks, steps) {
  const pairs = new Map();
  for (const t of tracks) for (const c of t.cells) pairs.set(c.key, c);
  const order = [...pairs.values()].sort((a, b) => a.lr - b.lr || a.alpha - b.alpha).map((c) => c.key);
  let gap = steps.length > 1 ? Infinity : Math.max(1, steps[0] || 1) * 0.4;
  for (let i = 1; i < steps.length; i++) gap = Math.min(gap, steps[i] - steps[i - 1]);
  const w = 0.5 * gap, n = order.length;
  return new Map(order.map((k, i) => [k, n > 1 ? (i / (n - 1) - 0.5) * w : 0]));
}

/* The plot of the decisions: x the step (the rungs and the end), y the
 * eval loss (log), a series per rank whose points are its cells' (beside
 * their step, see halvingDodge); uPlot draws the axes and the legend, the
 * draw hook each cell's line and its marks (promoted filled, stopped
 * open, the end a square). */
function renderHalvingPlot(plan, cells, decs) {
  const tracks = halvingTracks(cells, decs);
  const rungs = new Map();  // step -> its rung's number
  for (const p of plan) for (const g of (Array.isArray(p.rungs) ? p.rungs : [])) if (Number.isFinite(g.step) && !rungs.has(g.step)) rungs.set(g.step, g.rung);
  const rungSteps = uniqSorted([...rungs.keys()]);
  const ends = uniqSorted(plan.map((p) => p.steps).filter(Number.isFinite));
  const all = tracks.flatMap((t) => t.cells.flatMap((c) => c.pts));
  $('search-halving-key').replaceChildren(...halvingKey());
  if (!all.length) { dropPlot('halving', $('search-halving-plot'), 'No cell has reached its first rung yet.'); return; }
  const steps = uniqSorted([...rungSteps, ...ends, ...all.map((p) => p.step)]);
  const dodge = halvingDodge(tracks, steps);
  const xOf = (c, p) => p.step + dodge.get(c.key);
  const x = uniqSorted(tracks.flatMap((t) => t.cells.flatMap((c) => c.pts.map((p) => xOf(c, p)))));
  const at = new Map(x.map((v, i) => [v, i]));
  const data = [x, ...tracks.map((t) => {
    const ys = x.map(() => null);
    for (const c of t.cells) for (const p of c.pts) ys[at.get(xOf(c, p))] = p.loss;
    return ys;
  })];
  const color = (i) => PALETTE[i % PALETTE.length];
  const draw = (u) => drawHalving(u, tracks, xOf, color, rungSteps.map((st) => [st, `rung ${rungs.get(st)}`]), ends);
  const span = Math.max(...steps), pad = 0.04 * span, losses = all.map((p) => p.loss);
  makePlot('halving', $('search-halving-plot'), {
    height: 320,
    scales: { x: { time: false, range: () => [Math.max(0, Math.min(...x) - pad), Math.max(...x) + pad] }, y: { distr: 3, range: () => halvingRange(losses) } },
    axes: [{ label: 'step (the rungs and the end)' }, logAxis('eval loss, mean over seeds', 60)],
    series: [{ label: 'step' }, ...tracks.map((t, i) => ({ label: `r=${t.rank}`, stroke: color(i), fill: color(i), width: 1.5, paths: () => null, points: { show: false } }))],
    hooks: { draw: [draw] },
  }, data);
}

/* The y range of the plot of the decisions (log): the losses with a
 * margin, and a tenth of the height more above them for the rungs'
 * labels. */
function halvingRange(losses) {
  const min = Math.min(...losses), max = Math.max(...losses), pad = Math.max(1.5, Math.pow(max / min, 0.04));
  const lo = min / pad, hi = max * pad;
  return [lo, hi * Math.pow(hi / lo, 1 / 9)];
}

/* The marks the plot of the decisions uses, as a key above it. */
function halvingKey() {
  const mark = (cls, text) => el('span', { class: 'mk' }, el('span', { class: `hv-mark ${cls}` }), text);
  return [mark('hv-promote', 'promoted at that rung'), mark('hv-stop', 'stopped there'), mark('hv-end', 'its loss at the end'),
    el('span', { class: 'mk' }, el('span', { class: 'mk-line dashed', style: 'border-color:#98a2b3' }), 'a rung, and the end')];
}

/* Draws on the plot of the decisions: a dashed line at each rung ([step,
 * label]) and at the end's steps, then each shown rank's cells (a thin line through its points),
 * then their marks on top. */
function drawHalving(u, tracks, xOf, color, rungLines, ends) {
  const ctx = u.ctx, dpr = devicePixelRatio, { left, top, width, height } = u.bbox;
  const px = (v) => u.valToPos(v, 'x', true), py = (v) => u.valToPos(v, 'y', true);
  ctx.save();
  ctx.beginPath(); ctx.rect(left, top, width, height); ctx.clip();
  ctx.setLineDash([4 * dpr, 4 * dpr]); ctx.strokeStyle = '#98a2b3'; ctx.lineWidth = dpr;
  ctx.fillStyle = '#667085'; ctx.font = `${11 * dpr}px system-ui, sans-serif`; ctx.textAlign = 'center';
  const marks = [...rungLines, ...ends.map((st) => [st, 'the end'])];
  for (const [s, label] of marks) {
    ctx.beginPath(); ctx.moveTo(px(s), top); ctx.lineTo(px(s), top + height); ctx.stroke();
  }
  ctx.setLineDash([]);
  const shown = tracks.map((t, i) => ({ t, i })).filter(({ i }) => u.series[i + 1].show);
  ctx.globalAlpha = 0.45; ctx.lineWidth = dpr;
  for (const { t, i } of shown) {
    ctx.strokeStyle = color(i);
    for (const c of t.cells) {
      if (c.pts.length < 2) continue;
      ctx.beginPath();
      c.pts.forEach((p, k) => (k ? ctx.lineTo(px(xOf(c, p)), py(p.loss)) : ctx.moveTo(px(xOf(c, p)), py(p.loss))));
      ctx.stroke();
    }
  }
  ctx.globalAlpha = 1; ctx.lineWidth = 1.5 * dpr;
  for (const { t, i } of shown) for (const c of t.cells) for (const p of c.pts) halvingMark(ctx, px(xOf(c, p)), py(p.loss), p.how, color(i), dpr);
  // the rungs' labels, in the headroom the y range leaves above the marks
  ctx.fillStyle = '#667085';
  for (const [s, label] of marks) ctx.fillText(label, px(s), top + 12 * dpr);
  ctx.restore();
}

/* One mark at (cx, cy) in canvas pixels: promote a filled circle, stop an
 * open one, end a filled square with a dark edge. */
function halvingMark(ctx, cx, cy, how, color, dpr) {
  const r = (how === 'end' ? 4.5 : 3.5) * dpr;
  ctx.beginPath();
  if (how === 'end') ctx.rect(cx - r, cy - r, 2 * r, 2 * r);
  else ctx.arc(cx, cy, r, 0, 2 * Math.PI);
  ctx.fillStyle = how === 'stop' ? '#fff' : color;
  ctx.strokeStyle = how === 'end' ? '#1d2330' : color;
  ctx.fill(); ctx.stroke();
}

/* ---- the law across lr and budget --------------------------------------- */

/* One cell of the surface's table: p with its interval and a mark for the
 * sqrt(r) law (check: its interval holds 0.5; cross: it does not). */
function surfaceCell(c) {
  if (!c) return el('td', { class: 'num', text: '–' });
  const td = el('td', { class: 'num', 'data-step': c.step });
  if (c.p == null) { td.textContent = `too few ranks (${fmt(c.n_used)})`; return td; }
  const ival = c.p_lo != null ? ` [${fmt(c.p_lo, 2)}, ${fmt(c.p_hi, 2)}]` : '';
  const mark = c.sqrt_compatible === true ? ' ✓' : c.sqrt_compatible === false ? ' ✗' : '';
  td.textContent = `${fmt(c.p, 2)}${ival}${mark}`;
  td.title = `lr·steps ${fmt(c.lr_steps)}; √r coefficient ${fmt(c.c_sqrt, 3)}`
    + (c.c_sqrt_lo != null ? ` [${fmt(c.c_sqrt_lo, 3)}, ${fmt(c.c_sqrt_hi, 3)}]` : '') + `; ${fmt(c.n_used)} ranks used`;
  return td;
}

/* The analysis' "law_surface" (docs/analysis.md, "The law across lr and
 * budget"): the verdict, p per lr (rows) and budget (columns), the trends
 * of c_sqrt and p in words; hidden when the analysis has none. */
function renderSurface() {
  const ls = S.analysis && S.analysis.law_surface && typeof S.analysis.law_surface === 'object' ? S.analysis.law_surface : null;
  const cells = ls && Array.isArray(ls.cells) ? ls.cells.filter((c) => c && typeof c === 'object') : [];
  const box = $('surface');
  box.hidden = !cells.length;
  if (box.hidden) return;
  const steps = uniqSorted(cells.map((c) => c.step));
  const lrs = uniqSorted(cells.map((c) => c.lr));
  $('surface-verdict').textContent = `The √r law across lr and budget: ${typeof ls.verdict === 'string' ? ls.verdict : '–'}`;
  $('surface-table').tHead.replaceChildren(el('tr', {}, el('th', { text: 'lr ↓ steps →' }),
    ...steps.map((s) => el('th', { text: fmt(s) }))));
  $('surface-table').tBodies[0].replaceChildren(...lrs.map((lr) => el('tr', { 'data-lr': lr },
    el('td', { class: 'num', text: fmt(lr) }),
    ...steps.map((s) => surfaceCell(cells.find((c) => c.lr === lr && c.step === s))))));
  const trend = (t) => (t && typeof t.text === 'string' ? t.text : '–');
  $('surface-note').textContent = `p of α* = c·r^p per lr and budget with its bootstrap interval; ✓: it holds 0.5 (the √r law fits), ✗: it does not. `
    + `√r coefficient: ${trend(ls.c_sqrt_trend)}. p: ${trend(ls.p_trend)}.`;
}

/* ---- the paper's claims ------------------------------------------------ */

/* The analysis' "claims" (docs/analysis.md, "The three claims"): each
 * claim's verdict in words, and a row per rank with LoRA / full sharpness
 * at alpha* and the alpha path's drift and mechanism ratios over the lr
 * path's at the same loss change, with their intervals; hidden when the
 * analysis has none (an older daemon). */
function renderClaims() {
  const cl = S.analysis && S.analysis.claims && typeof S.analysis.claims === 'object' ? S.analysis.claims : null;
  const box = $('claims');
  box.hidden = !cl;
  if (box.hidden) return;
  const obj = (o) => (o && typeof o === 'object' ? o : {});
  const sh = obj(cl.sharpness), dr = obj(cl.drift);
  const line = (n, c) => `Claim ${n} (${typeof c.verdict === 'string' ? c.verdict : 'missing'}): ${typeof c.text === 'string' ? c.text : '–'}`;
  $('claims-1').textContent = line(1, sh);
  $('claims-2').textContent = line(2, dr);
  $('claims-3').textContent = `${line(3, obj(cl.law))} (the table: “The law across lr and budget”, above)`;
  const ratio = (o) => {
    const x = obj(o);
    if (x.ratio == null) return typeof x.missing === 'string' ? `– (${x.missing})` : '–';
    return x.ratio_lo != null ? `${fmt(x.ratio, 3)}× [${fmt(x.ratio_lo, 3)}, ${fmt(x.ratio_hi, 3)}]` : `${fmt(x.ratio, 3)}×`;
  };
  const byRank = new Map();
  const row = (rank) => {
    if (!byRank.has(rank)) byRank.set(rank, { rank });
    return byRank.get(rank);
  };
  for (const x of Array.isArray(sh.ranks) ? sh.ranks : []) if (x && typeof x === 'object') row(x.rank).sharp = x;
  for (const x of Array.isArray(dr.ranks) ? dr.ranks : []) if (x && typeof x === 'object') row(x.rank).drift = x;
  const rows = [...byRank.values()].sort((a, b) => a.rank - b.rank);
  $('claims-table').tHead.replaceChildren(el('tr', {}, ...['rank', 'LoRA / full sharpness at α*', 'drift ratio: α path / lr path', 'mechanism ratio: α path / lr path']
    .map((t) => el('th', { text: t }))));
  $('claims-table').tBodies[0].replaceChildren(...rows.map((x) => el('tr', { 'data-rank': x.rank },
    el('td', { class: 'num', text: fmt(x.rank) }),
    el('td', { class: 'num', text: x.sharp ? ratio(x.sharp) : '–' }),
    el('td', { class: 'num', text: x.drift ? ratio(x.drift.drift_ratio) : '–' }),
    el('td', { class: 'num', text: x.drift ? ratio(x.drift.mech_ratio) : '–' }))));
  claimPlots(sh, dr);
  $('claims-note').textContent = 'Claim 1: LoRA\'s sharpness over the full weights\' at each rank\'s α* (its best lr), converged estimates only; below 1: LoRA\'s landscape is flatter. '
    + 'Claim 2: from the smallest lr and α, raising α and raising lr compared at the same loss change; below 1: raising α brought less drift. '
    + 'Intervals: bootstrap over seeds.';
}

/* The claims' two small plots: LoRA / full sharpness against alpha at each
 * rank's best lr (a line per rank), and the drift ratio (the mechanism
 * ratio without a target) against the loss change on the two paths of the
 * largest rank that has them. */
function claimPlots(sh, dr) {
  const arr = (v) => (Array.isArray(v) ? v.filter((x) => x && typeof x === 'object') : []);
  const pos = (v) => (v > 0 && Number.isFinite(v) ? v : null);
  const r1 = arr(sh.ranks).filter((r) => arr(r.along_alpha).some((p) => pos(p.ratio)));
  const b1 = $('claims-plot-1'), b2 = $('claims-plot-2');
  if (!r1.length) dropPlot('claims1', b1, 'Claim 1: no sharpness ratio to plot.');
  else {
    const x = uniqSorted(r1.flatMap((r) => arr(r.along_alpha).map((p) => p.alpha)));
    const data = [x, ...r1.map((r) => x.map((a) => {
      const p = arr(r.along_alpha).find((q) => q.alpha === a);
      return p ? pos(p.ratio) : null;
    }))];
    makePlot('claims1', b1, {
      height: 240, scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
      axes: [logAxis('α', 40), logAxis('LoRA / full sharpness', 60)],
      series: [{ label: 'α' }, ...r1.map((r, i) => ({ label: `r=${r.rank}`, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, points: { show: true, size: 4 } }))],
    }, data);
  }
  const key = dr.drift_ratio && dr.drift_ratio.ratio != null ? 'drift_ratio' : 'mech_ratio';
  const r2 = arr(dr.ranks).filter((r) => r[key] && r[key].ratio != null).pop();
  if (!r2) {
    dropPlot('claims2', b2, 'Claim 2: no comparison to plot.');
    return;
  }
  const paths = [arr(r2.along_alpha), arr(r2.along_lr)].map((ps) => ps.filter((p) => p.down && Number.isFinite(p.loss_change)));
  const x = uniqSorted(paths.flatMap((ps) => ps.map((p) => p.loss_change)));
  const data = [x, ...paths.map((ps) => x.map((v) => {
    const p = ps.find((q) => q.loss_change === v);
    return p ? pos(p[key]) : null;
  }))];
  makePlot('claims2', b2, {
    height: 240, scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: `loss change from the base (rank ${r2.rank})` }, logAxis(key === 'drift_ratio' ? 'drift ratio' : 'mechanism ratio', 60)],
    series: [{ label: 'loss change' },
      { label: 'raising α', stroke: PALETTE[0], width: 1.5, spanGaps: true, points: { show: true, size: 4 } },
      { label: 'raising lr', stroke: PALETTE[1], width: 1.5, spanGaps: true, dash: [6, 4], points: { show: true, size: 4 } }],
  }, data);
}

/* ---- final eval loss against alpha, one panel per rank ------------------ */

// The rank-tied rules of the analysis' regret table, in words and colours.
const RULES = {
  'alpha=r': { label: 'α = r', color: '#7f7f7f' },
  'alpha=2r': { label: 'α = 2r', color: '#2ca02c' },
  rslora16: { label: 'rsLoRA α = 16', color: '#9467bd' },
};
const STAR_COLOR = '#111111';
const BAND_FILL = 'rgba(31,119,180,0.2)';

function ruleStyle(name, i) {
  return RULES[name] || { label: name.replace(/^alpha/, 'α'), color: PALETTE[(i + 3) % PALETTE.length] };
}

/* The rules the analysis' regret table lists, in its order (their colours follow it). */
function ruleNames() {
  const cp = lastCheckpoint();
  return [...new Set((cp && cp.regret ? cp.regret : []).map((x) => x.rule))];
}

/* The analysis' last checkpoint (the full budget: the runs' final eval loss). */
function lastCheckpoint() {
  const a = S.analysis;
  return a && a.checkpoints && a.checkpoints.length ? a.checkpoints[a.checkpoints.length - 1] : null;
}

/* The lr shown first: the one of the answer for the largest rank (the
 * headline's), else the lr of the largest rank's best grid point. */
function defaultLr(cells) {
  const ans = S.analysis && Array.isArray(S.analysis.answers) ? S.analysis.answers.filter((x) => x && x.lr != null) : [];
  if (ans.length) return ans[ans.length - 1].lr;
  let best = null;
  for (const c of cells.values()) {
    if (c.n && (!best || c.rank > best.rank || (c.rank === best.rank && c.mean < best.mean))) best = c;
  }
  return best ? best.lr : null;
}

/* The markers of one rank's panel at lr: alpha* with its interval, then each rule's alpha. */
function alphaMarkers(rank, lr) {
  const cp = lastCheckpoint();
  if (!cp) return [];
  const out = [];
  const star = (cp.alpha_star || []).find((x) => x.rank === rank && x.lr === lr);
  if (star && star.alpha > 0) {
    out.push({ kind: 'star', name: 'alpha*', label: 'α*', alpha: star.alpha, lo: star.ci_lo, hi: star.ci_hi,
      color: STAR_COLOR, at_edge: star.at_edge, ill_determined: star.ill_determined });
  }
  const names = ruleNames();
  (cp.regret || []).filter((x) => x.rank === rank && x.lr === lr).forEach((x) => {
    if (!(x.alpha > 0)) return;
    const st = ruleStyle(x.rule, names.indexOf(x.rule));
    out.push({ kind: 'rule', name: x.rule, label: st.label, alpha: x.alpha, regret: x.regret, color: st.color });
  });
  return out;
}

/* Draws the markers over a panel: the alpha* interval shaded, dashed rule
 * lines, alpha* solid on top, a red x at the bottom for diverged or failed seeds. */
function drawMarkers(markers, badAlphas) {
  return (u) => {
    const ctx = u.ctx, dpr = devicePixelRatio;
    const { top, height, left, width } = u.bbox;
    const X = (a) => u.valToPos(a, 'x', true);
    const inside = (x) => x >= left - 1 && x <= left + width + 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    const star = markers.find((m) => m.kind === 'star');
    if (star && star.lo > 0 && star.hi > 0) {
      const x1 = X(star.lo), x2 = X(star.hi);
      ctx.fillStyle = 'rgba(0,0,0,0.07)';
      ctx.fillRect(Math.min(x1, x2), top, Math.abs(x2 - x1), height);
    }
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'alphabetic';
    const ordered = [...markers.filter((m) => m.kind !== 'star'), ...(star ? [star] : [])];
    ordered.forEach((m, i) => {
      const x = X(m.alpha);
      if (!inside(x)) return;
      ctx.strokeStyle = m.color;
      ctx.lineWidth = (m.kind === 'star' ? 2 : 1.5) * dpr;
      ctx.setLineDash(m.kind === 'star' ? [] : [5 * dpr, 4 * dpr]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillStyle = m.color;
      const w = ctx.measureText(m.label).width;
      const tx = x + 3 * dpr + w > left + width ? x - 3 * dpr - w : x + 3 * dpr;
      ctx.fillText(m.label, tx, top + (12 + 12 * i) * dpr);
    });
    ctx.setLineDash([]);
    ctx.fillStyle = '#d64545';
    ctx.textAlign = 'center';
    for (const a of badAlphas) {
      const x = X(a);
      if (inside(x)) ctx.fillText('✕', x, top + height - 4 * dpr);
    }
    ctx.restore();
  };
}

/* The words under a panel: alpha* and each rule's loss against it. */
function markerNote(markers) {
  const parts = [];
  for (const m of markers) {
    if (m.kind === 'star') {
      const flags = [m.at_edge ? 'at the grid\'s edge' : '', m.ill_determined ? 'ill-determined' : ''].filter(Boolean).join(', ');
      parts.push(el('span', { class: 'mk', 'data-marker': m.name, title: 'α*: the grid α with the lowest mean loss, refined by a parabola; shaded: its bootstrap interval over seeds' },
        el('span', { class: 'mk-line', style: `border-color:${m.color}` }),
        `α* ${fmt(m.alpha, 3)}` + (m.lo > 0 && m.hi > 0 ? ` [${fmt(m.lo, 3)}, ${fmt(m.hi, 3)}]` : '') + (flags ? ` (${flags})` : '')));
    } else {
      const loss = m.regret == null ? 'loss not known (outside the grid, or beside a diverged point)' : `+${fmt(100 * m.regret, 3)}% loss`;
      parts.push(el('span', { class: 'mk', 'data-marker': m.name, title: `${m.label} at this rank: its loss read off the curve against α*'s` },
        el('span', { class: 'mk-line dashed', style: `border-color:${m.color}` }), `${m.label} = ${fmt(m.alpha, 3)}: ${loss}`));
    }
  }
  return parts;
}

/* The figures of the grid point under the cursor, in the line under a panel. */
function readout(line, rank, lr, cells) {
  return (u) => {
    const i = u.cursor.idx;
    const v = i == null ? null : u.data[1][i];
    if (v == null) { line.textContent = ''; return; }
    const c = cells.get(`${rank}|${lr}|${u.data[0][i]}`);
    line.textContent = `α ${fmt(u.data[0][i], 3)}: ×${fmt(v, 4)} the rank's best (loss ${fmt(c.mean, 3)}, mean of ${c.n})`
      + (c.n > 1 ? `, seeds ×${fmt(u.data[2][i], 4)} to ×${fmt(u.data[3][i], 4)}` : '') + (c.bad ? `, ${c.bad} diverged or failed` : '');
  };
}

/* One panel (title, plot, readout, note) per rank, made again only when the ranks change. */
function buildAlphaPanels(ranks) {
  const box = $('alpha-panels');
  const key = ranks.join(',');
  if (box.dataset.ranks === key) return;
  for (const k of [...allPlots().keys()]) if (k.startsWith('alpha-r')) dropPlot(k, document.createElement('div'));
  box.dataset.ranks = key;
  box.replaceChildren(...ranks.map((r) => el('div', { class: 'panel', 'data-rank': r },
    el('h3', { class: 'panel-title' }), el('div', { class: 'plot' }), el('p', { class: 'panel-read' }), el('p', { class: 'panel-note' }))));
}

/* Ticks of a loss ratio axis: a few round ratios inside [min, max], so a
 * panel whose losses differ by 2 % gets ticks as well as one spanning 100×. */
const RATIOS = [1, 1.001, 1.002, 1.005, 1.01, 1.02, 1.05, 1.1, 1.2, 1.5];
for (let d = 1; d <= 1e12; d *= 10) RATIOS.push(2 * d, 3 * d, 5 * d, 7 * d, 10 * d, 15 * d);
function ratioSplits(u, ai, min, max) {
  const gap = Math.log(max / min) / 6;  // at most about 6 ticks, evenly apart in log
  const t = [];
  for (const v of RATIOS) if (v >= min && v <= max && (!t.length || Math.log(v / t[t.length - 1]) >= gap)) t.push(v);
  return t;
}

function renderAlphaView() {
  const { cells, best } = gridCells();
  const ranks = uniqSorted(S.runs.map((r) => r.rank));
  const lrs = uniqSorted(S.runs.map((r) => r.lr));
  const alphas = uniqSorted(S.runs.map((r) => r.alpha)).filter((a) => a > 0);
  const sel = $('av-lr');
  const want = S.avLr != null && lrs.includes(S.avLr) ? S.avLr : defaultLr(cells);
  sel.replaceChildren(...lrs.map((lr) => el('option', { value: String(lr), text: fmt(lr) })));
  sel.disabled = lrs.length < 2;
  if (want != null) sel.value = String(want);
  const lr = Number(sel.value);
  S.alphaView = { lr, ranks: {} };
  if (!best.size) {
    $('alpha-note').textContent = 'No finished run yet.';
    buildAlphaPanels([]);
    return;
  }
  buildAlphaPanels(ranks);
  for (const rank of ranks) renderAlphaPanel(rank, lr, alphas, cells, best.get(rank));
  const nSeeds = Math.max(0, ...[...cells.values()].map((c) => c.n));
  $('alpha-note').textContent = `At lr ${fmt(lr)}, one panel per rank: each grid point's final eval loss divided by that rank's best mean loss over every α and lr (so 1 is the rank's best, 1.1 is 10% worse), log scales.`
    + (nSeeds > 1 ? ' Band: the spread over seeds (lowest to highest).' : ' One seed per grid point: no spread to show.')
    + (S.analysis ? ' Markers from the analysis at the full budget.' : ` No markers: ${S.analysisError || 'no analysis yet'}.`);
  $('alpha-key').replaceChildren(
    el('span', { class: 'mk' }, el('span', { class: 'mk-line', style: 'border-color:#1f77b4' }), 'mean over seeds'),
    el('span', { class: 'mk' }, el('span', { class: 'mk-band' }), 'min–max over seeds'),
    el('span', { class: 'mk' }, el('span', { class: 'mk-line', style: `border-color:${STAR_COLOR}` }), 'α* (shaded: its interval)'),
    ...ruleNames().map((n, i) => ruleStyle(n, i)).map((r) => el('span', { class: 'mk' }, el('span', { class: 'mk-line dashed', style: `border-color:${r.color}` }), r.label)),
    el('span', { class: 'mk' }, el('span', { class: 'mk-x', text: '✕' }), 'a diverged or failed seed'));
}
$('av-lr').addEventListener('change', (e) => { S.avLr = Number(e.target.value); renderAlphaView(); });

function renderAlphaPanel(rank, lr, alphas, cells, rankBest) {
  const panel = $('alpha-panels').querySelector(`.panel[data-rank="${rank}"]`);
  const box = panel.querySelector('.plot');
  const mean = [], lo = [], hi = [], bad = [];
  let here = null, nBad = 0, nRuns = 0;
  for (const a of alphas) {
    const c = cells.get(`${rank}|${lr}|${a}`);
    nBad += c ? c.bad : 0;
    nRuns += c ? c.total : 0;
    const ok = c && c.n && rankBest > 0;
    mean.push(ok ? c.mean / rankBest : null);
    lo.push(ok ? c.min / rankBest : null);
    hi.push(ok ? c.max / rankBest : null);
    if (c && c.bad) bad.push(a);
    if (ok && (!here || c.mean < here.mean)) here = c;
  }
  const markers = alphaMarkers(rank, lr);
  S.alphaView.ranks[rank] = { markers: markers.map(({ kind, name, alpha, color }) => ({ kind, name, alpha, color })), y: mean, bad };
  const title = panel.querySelector('.panel-title');
  const note = panel.querySelector('.panel-note');
  if (!here) {
    title.textContent = `rank ${rank}`;
    const rest = nBad < nRuns ? ', the others have no loss yet' : '';
    note.replaceChildren(nBad ? `No loss to show at lr ${fmt(lr)}: ${nBad} of its ${nRuns} runs diverged or failed${rest}.` : `No finished run at lr ${fmt(lr)} yet.`);
    dropPlot(`alpha-r${rank}`, box);
    return;
  }
  const off = here.mean / rankBest;
  title.textContent = `rank ${rank} · best ${fmt(here.mean, 3)} at α ${fmt(here.alpha, 3)}` + (off > 1.0005 ? ` (×${fmt(off, 3)} the rank's best, which is at another lr)` : '');
  note.replaceChildren(...markerNote(markers));
  const xs = [...alphas, ...markers.flatMap((m) => [m.alpha, m.lo, m.hi])].filter((v) => v > 0 && Number.isFinite(v));
  const xmin = Math.min(...xs) / 1.3, xmax = Math.max(...xs) * 1.3;
  makePlot(`alpha-r${rank}`, box, {
    height: 220,
    legend: { show: false },
    cursor: { points: { show: false } },
    scales: {
      x: { time: false, distr: 3, range: () => [xmin, xmax] },
      y: { distr: 3, range: (u, a, b) => [(a ?? 1) / 1.03, Math.max(b ?? 1, (a ?? 1) * 1.05) * 1.1] },
    },
    axes: [logAxis('α', 36), { ...logAxis('loss ÷ rank\'s best', 60), splits: ratioSplits, filter: (u, splits) => splits }],
    series: [{ label: 'α' },
      { label: 'mean ÷ best', stroke: '#1f77b4', width: 2, spanGaps: true, points: { show: true, size: 5, fill: '#1f77b4' } },
      { label: 'min ÷ best', stroke: 'rgba(31,119,180,0)', width: 0, spanGaps: true, points: { show: false } },
      { label: 'max ÷ best', stroke: 'rgba(31,119,180,0)', width: 0, spanGaps: true, points: { show: false } }],
    bands: [{ series: [3, 2], fill: BAND_FILL }],
    hooks: { draw: [drawMarkers(markers, bad)], setCursor: [readout(panel.querySelector('.panel-read'), rank, lr, cells)] },
  }, [alphas, mean, lo, hi]);
}

/* ---- heatmap of final eval loss over (alpha, lr), per rank --------------- */

function renderHeatmap() {
  const box = $('heatmap');
  const { cells, best: bestOf, worst: worstOf } = gridCells();
  const ranks = uniqSorted(S.runs.map((r) => r.rank));
  const alphas = uniqSorted(S.runs.map((r) => r.alpha));
  const lrs = uniqSorted(S.runs.map((r) => r.lr));
  if (!bestOf.size) { box.replaceChildren(el('p', { class: 'empty', text: 'No finished run yet.' })); return; }
  // Each rank its own scale: t = 1 (yellow) at the rank's best mean, 0 (dark) at its worst, log in between.
  const tOf = (c) => {
    const lo = Math.log(bestOf.get(c.rank)), hi = Math.log(worstOf.get(c.rank));
    return hi > lo ? 1 - (Math.log(c.mean) - lo) / (hi - lo) : 1;
  };

  const width = Math.max(300, box.clientWidth || 480);
  const left = 64, top = 18, right = 10;
  const cw = Math.max(6, Math.min(44, Math.floor((width - left - right) / alphas.length)));
  const ch = Math.max(8, Math.min(28, Math.floor(160 / lrs.length)));
  const gridH = top + lrs.length * ch + 34;
  const legendH = 58;
  const H = ranks.length * gridH + legendH;
  const W = Math.max(400, left + alphas.length * cw + right);
  const p = [];
  p.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" class="heat-svg">`);
  ranks.forEach((rank, ri) => {
    const y0 = ri * gridH;
    const rb = bestOf.get(rank), rw = worstOf.get(rank);
    p.push(`<text x="0" y="${y0 + 12}" class="hm-title">rank ${rank}</text>`);
    if (rb != null) {
      p.push(`<text x="${Math.max(left, 8 * `rank ${rank}`.length + 8)}" y="${y0 + 12}" class="hm-lab hm-range" data-rank="${rank}">yellow ${fmt(rb, 3)} (this rank's best) · dark ${fmt(rw, 3)} (×${fmt(rw / rb, 3)})</text>`);
    }
    lrs.forEach((lr, li) => {
      const y = y0 + top + (lrs.length - 1 - li) * ch;
      p.push(`<text x="${left - 4}" y="${y + ch / 2 + 4}" text-anchor="end" class="hm-lab">${fmt(lr, 2)}</text>`);
      // best alpha of this (rank, lr)
      let best = null;
      for (const a of alphas) { const c = cells.get(`${rank}|${lr}|${a}`); if (c && c.n && (!best || c.mean < best.mean)) best = c; }
      alphas.forEach((a, ai) => {
        const c = cells.get(`${rank}|${lr}|${a}`);
        const x = left + ai * cw;
        if (!c) return;
        const fill = c.n ? viridis(tOf(c)) : '#e4e4e4';
        const tip = `rank ${rank}, α ${fmt(a)}, lr ${fmt(lr)}: ` + (c.n ? `final eval loss ${fmt(c.mean)} (mean of ${c.n}), ×${fmt(c.mean / rb, 3)} the rank's best` : 'no finished run')
          + (c.bad ? `, ${c.bad} diverged/failed` : '') + ` · ${c.total} runs`;
        p.push(`<rect class="cell" x="${x}" y="${y}" width="${cw - 1}" height="${ch - 1}" fill="${fill}" data-rank="${rank}" data-alpha="${a}" data-lr="${lr}" data-run="${c.first}"${c.n ? ` data-rel="${c.mean / rb}"` : ''}${c === best ? ' stroke="#d62728" stroke-width="2"' : ''}><title>${tip}</title></rect>`);
        if (c.bad) p.push(`<text x="${x + cw / 2}" y="${y + ch / 2 + 4}" text-anchor="middle" class="hm-x"${c.n ? '' : ' style="fill:#a52828"'}>✕</text>`);
      });
    });
    const yb = y0 + top + lrs.length * ch;
    const step = Math.max(1, Math.ceil(alphas.length / Math.max(1, Math.floor((alphas.length * cw) / 34))));
    alphas.forEach((a, ai) => {
      if (ai % step) return;
      p.push(`<text x="${left + ai * cw + cw / 2}" y="${yb + 12}" text-anchor="middle" class="hm-lab">${fmt(a, 3)}</text>`);
    });
    p.push(`<text x="${left + (alphas.length * cw) / 2}" y="${yb + 26}" text-anchor="middle" class="hm-axis">α</text>`);
    p.push(`<text x="4" y="${y0 + top + (lrs.length * ch) / 2 + 4}" class="hm-axis">lr</text>`);
  });
  // colour legend
  const ly = H - legendH + 10, lw = Math.min(240, alphas.length * cw);
  p.push('<defs><linearGradient id="hm-grad" x1="0" x2="1" y1="0" y2="0">');
  for (let i = 0; i <= 10; i++) p.push(`<stop offset="${i / 10}" stop-color="${viridis(1 - i / 10)}"/>`);
  p.push('</linearGradient></defs>');
  p.push(`<rect x="${left}" y="${ly}" width="${lw}" height="10" fill="url(#hm-grad)" class="hm-colorbar"/>`);
  p.push(`<text x="${left}" y="${ly + 24}" class="hm-lab">×1: the rank's best</text>`);
  p.push(`<text x="${left + lw}" y="${ly + 24}" text-anchor="end" class="hm-lab">the rank's worst</text>`);
  p.push(`<text x="${left}" y="${ly + 38}" class="hm-lab">colour: the cell's loss ÷ its rank's best (log scale, one scale per rank)</text>`);
  p.push('</svg>');
  box.innerHTML = p.join('');
}
$('heatmap').addEventListener('click', (e) => {
  const c = e.target.closest('rect.cell');
  if (!c) return;
  setFilters({ rank: c.dataset.rank, alpha: c.dataset.alpha, lr: c.dataset.lr, seed: '' });
  S.highlight = null;
  highlight(Number(c.dataset.run));
});

/* ---- analysis: alpha*(r) and the law ----------------------------------- */

async function loadAnalysis() {
  const c = S.sweep ? S.sweep.counts : null;
  if (c && !c.done && !c.diverged) {
    // Nothing has finished: there is nothing to analyse yet (the daemon would answer 404).
    S.analysis = null;
    S.analysisError = 'No analysis yet: no run has finished.';
    buildLawControls(); drawLaw(); drawDrift(); renderAnswers(); renderJoint(); renderSurface(); renderClaims(); renderAlphaView();
    return;
  }
  try {
    S.analysis = await getJSON(`/v1/sweeps/${sweepId}/analysis`);
    S.analysisError = null;
  } catch (e) {
    S.analysis = null;
    S.analysisError = e.status === 404 ? e.message : `cannot load the analysis: ${e.message}`;
  }
  buildLawControls();
  drawLaw();
  drawDrift();
  renderAnswers();
  renderJoint();
  renderSurface();
  renderClaims();
  renderAlphaView();
}

function buildLawControls() {
  const a = S.analysis;
  const cpSel = $('law-cp'), lrSel = $('law-lr');
  if (!a) { cpSel.replaceChildren(); lrSel.replaceChildren(); return; }
  const cpOld = cpSel.value, lrOld = lrSel.value;
  cpSel.replaceChildren(...a.checkpoints.map((c, i) => el('option', { value: String(i), text: `${Math.round(100 * c.fraction)}% (step ${c.step})` })));
  cpSel.value = cpOld && a.checkpoints[Number(cpOld)] ? cpOld : String(a.checkpoints.length - 1);
  const lrs = uniqSorted(a.checkpoints.flatMap((c) => c.alpha_star.map((s) => s.lr)));
  lrSel.replaceChildren(...lrs.map((lr) => el('option', { value: String(lr), text: fmt(lr) })));
  if (lrs.map(String).includes(lrOld)) lrSel.value = lrOld;
  else {
    // default: the lr of the best loss (the answer's), not of the best-looking fit
    const bestLr = defaultLr(gridCells().cells);
    lrSel.value = String(bestLr != null && lrs.includes(bestLr) ? bestLr : lrs[0]);
  }
}
$('law-cp').addEventListener('change', drawLaw);
$('law-lr').addEventListener('change', drawLaw);

function drawLaw() {
  const box = $('law-plot'), note = $('law-note');
  const a = S.analysis;
  $('law-help').hidden = !a;
  if (!a) { note.textContent = S.analysisError || 'No analysis yet.'; dropPlot('law', box); return; }
  const cp = a.checkpoints[Number($('law-cp').value)];
  const lr = Number($('law-lr').value);
  if (!cp) { note.textContent = 'The analysis has no checkpoint.'; dropPlot('law', box); return; }
  const stars = cp.alpha_star.filter((s) => s.lr === lr).sort((p, q) => p.rank - q.rank);
  if (!stars.length) { note.textContent = `No α* at lr ${fmt(lr)}.`; dropPlot('law', box); return; }
  const free = cp.fits.find((f) => f.lr === lr && f.method === 'free');
  const sqrt = cp.fits.find((f) => f.lr === lr && f.method === 'sqrt');
  const scalePow = a.scaling === 'rslora' ? 0.5 : 1;
  const rmin = stars[0].rank, rmax = stars[stars.length - 1].rank;
  const lo = Math.log(rmin / 1.5), hi = Math.log(rmax * 1.5);
  const xsSet = new Set(stars.map((s) => s.rank));
  for (let i = 0; i <= 40; i++) xsSet.add(Math.exp(lo + ((hi - lo) * i) / 40));
  const x = [...xsSet].sort((p, q) => p - q);
  const starAt = new Map(stars.map((s) => [s.rank, s]));
  const used = (s) => !s.at_edge && !s.ill_determined;
  const law = (c, p) => x.map((r) => (c > 0 ? c * Math.pow(r, p) : null));
  const series = [{ label: 'rank' }];
  const data = [x];
  const add = (opts, ys) => { series.push(opts); data.push(ys); return series.length - 1; };
  const pts = (fill) => ({ show: true, size: 9, fill, stroke: '#222' });
  add({ label: 'α* (used in fit)', stroke: '#222', paths: () => null, points: pts('#222') }, x.map((r) => (starAt.has(r) && used(starAt.get(r)) ? starAt.get(r).alpha : null)));
  add({ label: 'α* (excluded: edge / ill-determined)', stroke: '#999', paths: () => null, points: pts('#fff') }, x.map((r) => (starAt.has(r) && !used(starAt.get(r)) ? starAt.get(r).alpha : null)));
  let bandHi = -1, bandLo = -1;
  if (sqrt) {
    add({ label: `√r law: ${fmt(sqrt.c, 3)}·√r${sqrt.poor ? ' (poor)' : ''}`, stroke: sqrt.poor ? 'rgba(31,119,180,0.5)' : '#1f77b4', width: sqrt.poor ? 1 : 2 }, law(sqrt.c, 0.5));
    bandHi = add({ label: `√r band hi (c ${fmt(sqrt.c_hi, 3)})`, stroke: 'rgba(31,119,180,0.3)', width: 1 }, law(sqrt.c_hi, 0.5));
    bandLo = add({ label: `√r band lo (c ${fmt(sqrt.c_lo, 3)})`, stroke: 'rgba(31,119,180,0.3)', width: 1 }, law(sqrt.c_lo, 0.5));
  }
  if (free) add({ label: `free law: ${fmt(free.c, 3)}·r^${fmt(free.p, 3)}${free.poor ? ' (poor)' : ''}`, stroke: free.poor ? 'rgba(214,39,40,0.5)' : '#d62728', width: free.poor ? 1 : 2 }, law(free.c, free.p));
  // heuristics: alpha = coef * r^(power + scale power), the s = coef * r^power rules
  add({ label: 'α = r', stroke: '#7f7f7f', width: 1.5, dash: [6, 4] }, law(1, 0 + scalePow));
  add({ label: 'α = 2r', stroke: '#2ca02c', width: 1.5, dash: [6, 4] }, law(2, 0 + scalePow));
  add({ label: 'rsLoRA α = 16 (s = α/√r)', stroke: '#9467bd', width: 1.5, dash: [2, 3] }, law(16, -0.5 + scalePow));
  const bands = bandHi > 0 ? [{ series: [bandHi, bandLo], fill: 'rgba(31,119,180,0.12)' }] : [];
  const errorBars = (u) => drawBars(u, stars.map((s) => ({ x: s.rank, lo: s.ci_lo, hi: s.ci_hi })), '#444', 1.5, 4);
  makePlot('law', box, {
    height: 340,
    scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
    axes: [logAxis('rank r', 40), logAxis(`α* (${a.scaling} α)`, 60)],
    series, bands,
    hooks: { draw: [errorBars] },
  }, data);
  const parts = [el('span', {}, `${Math.round(cp.fraction * 100)}% budget (step ${cp.step}), lr ${fmt(lr)}. Bars: bootstrap interval of α* (about 90 %). `)];
  if (free) {
    parts.push(fitLine(free, `Free fit: c = ${fmt(free.c, 3)} [${fmt(free.c_lo, 3)}, ${fmt(free.c_hi, 3)}], p = ${fmt(free.p, 3)} [${fmt(free.p_lo, 3)}, ${fmt(free.p_hi, 3)}]`, R2_FREE));
  }
  if (sqrt) parts.push(fitLine(sqrt, `√r fit: c = ${fmt(sqrt.c, 3)} [${fmt(sqrt.c_lo, 3)}, ${fmt(sqrt.c_hi, 3)}]`, R2_SQRT));
  if (!free && !sqrt) parts.push(el('span', {}, 'No law fitted at this lr.'));
  note.replaceChildren(...parts);
}

const R2_FREE = 'Scatter: the RMS distance of the used α* from the line c·r^p, in octaves (0.5: a factor √2 off, typically); R² in brackets is the share of the spread of log α* across ranks that the line explains. Read them with the p interval; see the note under the plot.';
const R2_SQRT = 'Scatter: the RMS distance of the used α* from the √r line, in octaves (0.5: a factor √2 off, typically). Its R² (about the mean, negative when a flat line fits better) is in the analysis\' JSON only.';

/* One fit in the law's note: its figures, its scatter (and the free fit's
 * R²) with what they mean as a tooltip, a poor fit shown dimmed with "poor
 * fit" (never bold), and a fit with too few ranks as not fitted, with why. */
function fitLine(f, text, r2Help) {
  if (f.insufficient) {
    return el('span', { class: 'fit poor', 'data-method': f.method },
      `${f.method === 'free' ? 'Free' : '√r'} fit: not fitted: `,
      el('abbr', { class: 'r2', title: 'A law needs one rank more than its parameters (the free fit 3, the √r fit 2): through fewer, a line fits them exactly whatever the law.', text: f.reason || 'too few ranks' }),
      f.poor ? el('span', { class: 'flag', title: 'too few ranks used: no law at this lr', text: 'poor fit' }) : null, '. ');
  }
  const figs = `scatter ${fmt(f.scatter_log2, 2)} octaves${f.method === 'free' ? ` (R² ${fmt(f.r2, 3)})` : ''}`;
  const r2 = el('abbr', { class: 'r2', title: r2Help, text: figs });
  return el('span', { class: 'fit' + (f.poor ? ' poor' : ''), 'data-method': f.method },
    `${text}, `, r2, `, ${f.n_used} rank${f.n_used === 1 ? '' : 's'} used, ${f.n_excluded} excluded`,
    f.poor ? el('span', { class: 'flag', title: 'too few ranks used, R² below 0.9 or too wide a p interval: do not trust this law', text: 'poor fit' }) : null, '. ');
}

/* ---- signal and drift -------------------------------------------------- */

$('drift-x').addEventListener('change', drawDrift);

function drawDrift() {
  const a = S.analysis;
  const bd = $('drift-plot'), bs = $('signal-plot');
  if (!a || !a.drift || !a.drift.length) {
    $('drift-note').textContent = a ? 'The analysis has no drift figures (no spectra logged?).' : (S.analysisError || 'No analysis yet.');
    dropPlot('drift', bd); dropPlot('signal', bs);
    return;
  }
  const byAlpha = $('drift-x').value === 'alpha';
  const xk = byAlpha ? 'alpha' : 'lr', gk = byAlpha ? 'lr' : 'alpha';
  const rows = a.drift;
  const x = uniqSorted(rows.map((d) => d[xk]));
  const xi = new Map(x.map((v, i) => [v, i]));
  const ranks = uniqSorted(rows.map((d) => d.rank));
  const gs = uniqSorted(rows.map((d) => d[gk]));
  const groups = new Map();
  for (const d of rows) {
    const k = `${d.rank}|${d[gk]}`;
    if (!groups.has(k)) groups.set(k, { rank: d.rank, g: d[gk], rows: [] });
    groups.get(k).rows.push(d);
  }
  const keys = [...groups.keys()].sort((p, q) => {
    const A = groups.get(p), B = groups.get(q);
    return A.rank - B.rank || A.g - B.g;
  });
  const dashes = [undefined, [6, 4], [2, 3], [8, 3, 2, 3], [1, 2]];
  const mk = (field) => {
    const data = [x];
    const series = [{ label: xk }];
    for (const k of keys) {
      const g = groups.get(k);
      const y = new Array(x.length).fill(null);
      for (const d of g.rows) { const v = d[field]; y[xi.get(d[xk])] = v > 0 && Number.isFinite(v) ? v : null; }
      const ri = ranks.indexOf(g.rank), gi = gs.indexOf(g.g);
      series.push({
        label: `r=${g.rank}, ${gk === 'lr' ? 'lr' : 'α'}=${fmt(g.g, 3)}`,
        stroke: byAlpha ? PALETTE[ri % PALETTE.length] : alphaColor(g.g),
        dash: byAlpha ? dashes[gi % dashes.length] : dashes[ri % dashes.length],
        width: 1.5, spanGaps: true, points: { show: true, size: 4 },
      });
      data.push(y);
    }
    return { data, series };
  };
  const opts = (label, s) => ({
    height: 300,
    legend: { show: s.series.length <= 31 },
    scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
    axes: [logAxis(byAlpha ? 'α' : 'lr', 40), logAxis(label, 60)],
    series: s.series,
  });
  const d = mk('drift_ratio'), s = mk('signal');
  makePlot('drift', bd, opts('drift ratio', d), d.data);
  makePlot('signal', bs, opts('signal ‖P ΔW P‖', s), s.data);
  $('drift-note').textContent = `Drift ratio (drift / signal, left) and signal norm of ΔW (right) at the last logged step, mean over seeds and layers; ${keys.length} lines`
    + (byAlpha ? ' (colour: rank, dash: lr).' : ' (colour: α, dash: rank).');
}

/* ---- the highlighted run: sigma_max(dW) and sharpness ------------------- */

let runReq = 0;
async function loadRun(id) {
  const my = ++runReq;
  let run;
  try {
    run = await getJSON(`/v1/runs/${id}?points=500`);
  } catch (e) {
    if (my === runReq) $('run-note').textContent = `Cannot load run #${id}: ${e.message}`;
    return;
  }
  if (my !== runReq) return;
  S.runDetail = run;
  $('run-title').textContent = `Run #${run.id}: rank ${run.rank}, α ${fmt(run.alpha)}, lr ${fmt(run.lr)}, seed ${run.seed_index} (${run.state})`;
  const parts = [`final eval loss ${fmt(run.final_eval_loss)}, best ${fmt(run.best_eval_loss)} at step ${fmt(run.best_step)}, ${fmt(run.steps_done)} steps, ${fmt(run.wall_s, 3)} s.`];
  if (run.error) parts.push(`Error: ${run.error}`);

  const spectra = run.spectra || [];
  const layers = uniqSorted(spectra.map((s) => s.layer));
  const moduleOf = new Map((run.layers || []).filter((l) => l.module).map((l) => [l.layer, l.module]));
  const steps = uniqSorted(spectra.map((s) => s.step));
  if (steps.length) {
    const si = new Map(steps.map((v, i) => [v, i]));
    const data = [steps];
    const series = [{ label: 'step' }];
    layers.forEach((l, k) => {
      const y = new Array(steps.length).fill(null);
      for (const s of spectra) if (s.layer === l) y[si.get(s.step)] = s.sigma_max;
      data.push(y);
      series.push({ label: `σ_max(ΔW) ${moduleOf.has(l) ? moduleOf.get(l) : `layer ${l}`}`, stroke: PALETTE[k % PALETTE.length], width: 2, spanGaps: true, points: { show: true, size: 5 } });
    });
    makePlot('sigma', $('sigma-plot'), {
      height: 260, scales: { x: { time: false } },
      axes: [{ label: 'step' }, { label: 'σ_max(ΔW)', size: 60 }], series,
    }, data);
  } else {
    dropPlot('sigma', $('sigma-plot'), 'No spectra logged for this run.');
  }
  const sh = (run.sharpness || []).slice().sort((p, q) => p.step - q.step);
  if (sh.length) {
    makePlot('sharp', $('sharp-plot'), {
      height: 260, scales: { x: { time: false } },
      axes: [{ label: 'step' }, { label: 'sharpness λ_max', size: 60 }],
      series: [{ label: 'step' },
        { label: 'LoRA (A, B)', stroke: '#d62728', width: 2, points: { show: true, size: 6 } },
        { label: 'full W', stroke: '#1f77b4', width: 2, points: { show: true, size: 6 } }],
    }, [sh.map((s) => s.step), sh.map((s) => s.lora), sh.map((s) => s.full)]);
    const last = sh[sh.length - 1];
    if (last.ratio != null) parts.push(`Sharpness ratio LoRA / full at step ${last.step}: ${fmt(last.ratio, 3)}.`);
  } else {
    dropPlot('sharp', $('sharp-plot'), 'No sharpness measured for this run.');
  }
  $('run-note').textContent = parts.join(' ');
}

/* ---- runs table -------------------------------------------------------- */

const COLS = [
  ['id', 'id'], ['rank', 'rank'], ['alpha', 'α'], ['lr', 'lr'], ['seed_index', 'seed'], ['state', 'state'],
  ['attempts', 'tries'], ['steps_done', 'steps'], ['final_train_loss', 'final train'], ['final_eval_loss', 'final eval'],
  ['best_eval_loss', 'best eval'], ['best_step', 'best step'], ['wall_s', 'wall s'], ['error', 'error'],
];

function renderTableHead() {
  const tr = el('tr');
  for (const [k, label] of COLS) {
    const on = S.sort.key === k;
    tr.append(el('th', { 'data-key': k, class: on ? 'sorted' : null, title: 'sort', 'aria-sort': on ? (S.sort.dir > 0 ? 'ascending' : 'descending') : null },
      label + (on ? (S.sort.dir > 0 ? ' ▲' : ' ▼') : '')));
  }
  $('runs').tHead.replaceChildren(tr);
}
$('runs').tHead.addEventListener('click', (e) => {
  const th = e.target.closest('th');
  if (!th) return;
  const k = th.dataset.key;
  S.sort = S.sort.key === k ? { key: k, dir: -S.sort.dir } : { key: k, dir: 1 };
  renderTable();
});
$('t-filtered').addEventListener('change', renderTable);
$('t-failed').addEventListener('change', renderTable);

function renderTable() {
  renderTableHead();
  let rows = S.runs;
  if ($('t-filtered').checked) rows = rows.filter(matches);
  if ($('t-failed').checked) rows = rows.filter((r) => r.state === 'failed' || r.state === 'diverged' || r.error);
  const { key, dir } = S.sort;
  rows = rows.slice().sort((p, q) => {
    const a = p[key], b = q[key];
    if (a == null && b == null) return p.id - q.id;
    if (a == null) return 1;
    if (b == null) return -1;
    const c = typeof a === 'number' ? a - b : String(a).localeCompare(String(b));
    return dir * c || p.id - q.id;
  });
  const nFailed = S.runs.filter((r) => r.state === 'failed').length;
  $('table-note').textContent = `${rows.length} of ${S.runs.length} runs` + (rows.length > MAX_TABLE_ROWS ? `, showing the first ${MAX_TABLE_ROWS} in this order` : '')
    + (nFailed ? ` · ${nFailed} failed (their errors are in the last column)` : '') + '. Click a header to sort, a row to highlight its run.';
  const frag = document.createDocumentFragment();
  for (const r of rows.slice(0, MAX_TABLE_ROWS)) {
    const tr = el('tr', { 'data-run': r.id, class: r.id === S.highlight ? 'hl' : null });
    for (const [k] of COLS) {
      const v = r[k];
      if (k === 'state') tr.append(el('td', {}, el('span', { class: `badge st-${v}`, text: v })));
      else if (k === 'error') tr.append(el('td', { class: 'err' }, v ? el('pre', { text: v }) : ''));
      else tr.append(el('td', { class: 'num', text: fmt(v) }));
    }
    frag.append(tr);
  }
  $('runs').tBodies[0].replaceChildren(frag);
}
$('runs').tBodies[0].addEventListener('click', (e) => {
  const tr = e.target.closest('tr[data-run]');
  if (tr) highlight(Number(tr.dataset.run));
});

/* ---- start ------------------------------------------------------------- */

async function start() {
  if (!Number.isInteger(sweepId) || sweepId <= 0) {
    message('No sweep id: open this page as sweep.html?id=N.', true);
    return;
  }
  try {
    await whoami();
    S.sweep = await getJSON(`/v1/sweeps/${sweepId}`);
    renderHeader(S.sweep);
  } catch (e) {
    message(`Cannot read sweep ${sweepId}: ${e.message}`, true);
    return;
  }
  await loadData(false);
  await loadAnalysis();
  await loadSearch();
  window.__la.ready = true;
  setTimeout(poll, POLL_MS);
}
start();
