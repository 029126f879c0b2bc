// The sweep page: header, pause / resume / cancel, report, loss curves, heatmap, α*(r), drift, run detail, runs table.
import { getJSON, postJSON, download, whoami, signedInAs, allRuns, el, fmt, age, progressBar, countsText, windowText, viridis, PALETTE } from './api.js';
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
  const st = $('state');
  st.textContent = s.state;
  st.className = `badge st-${s.state}`;
  $('progress').replaceChildren(progressBar(s.counts, s.n_runs));
  $('counts').textContent = `${countsText(s.counts)} · ${s.n_runs} runs · ${Math.floor(100 * s.progress)}% finished · created ${age(s.created_at)} ago`
    + (s.finished_at ? ` · finished ${age(s.finished_at)} ago` : '');
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
  }
  const me = signedInAs();
  const notYours = me && s.owner != null && me.user !== s.owner && !me.admin;
  for (const b of ['pause', 'resume', 'cancel']) $(b).title = notYours ? `Only ${s.owner} (the owner) or an admin may change this sweep` : '';
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
async function poll() {
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
  for (const b of ['pause', 'resume', 'cancel']) $(b).disabled = true;
  try {
    const r = await postJSON(path, body);
    message(said(r || {}));
  } catch (e) {
    message(actionError(verb, s, e), true);
  }
  busy = false;
  for (const b of ['pause', 'resume']) $(b).disabled = false;
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
      const alphas = runs.map((r) => r.alpha).filter((a) => a > 0);
      if (alphas.length) S.alphaRange = [Math.min(...alphas), Math.max(...alphas)];
      buildFilters();
      if (S.highlight == null) {
        let best = null;
        for (const r of runs) if (r.final_eval_loss != null && (best == null || r.final_eval_loss < best.final_eval_loss)) best = r;
        if (best) S.highlight = best.id;
      }
      renderHeatmap();
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
  $('loss-note').textContent = note + `${runs.length} curve${runs.length === 1 ? '' : 's'} (${S.kind} loss, log scale), coloured by α (dark: small α, yellow: large α).`;
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

/* ---- heatmap of final eval loss over (alpha, lr), per rank --------------- */

function renderHeatmap() {
  const box = $('heatmap');
  const cells = new Map();
  for (const r of S.runs) {
    const k = `${r.rank}|${r.lr}|${r.alpha}`;
    let c = cells.get(k);
    if (!c) cells.set(k, c = { rank: r.rank, lr: r.lr, alpha: r.alpha, sum: 0, n: 0, bad: 0, total: 0, first: r.id });
    c.total++;
    if (r.state === 'done' && r.final_eval_loss != null && Number.isFinite(r.final_eval_loss)) { c.sum += r.final_eval_loss; c.n++; }
    if (r.state === 'diverged' || r.state === 'failed') c.bad++;
  }
  const ranks = uniqSorted(S.runs.map((r) => r.rank));
  const alphas = uniqSorted(S.runs.map((r) => r.alpha));
  const lrs = uniqSorted(S.runs.map((r) => r.lr));
  const vals = [];
  for (const c of cells.values()) if (c.n) { c.mean = c.sum / c.n; if (c.mean > 0) vals.push(Math.log(c.mean)); }
  if (!vals.length) { box.replaceChildren(el('p', { class: 'empty', text: 'No finished run yet.' })); return; }
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const col = (m) => viridis(hi > lo ? 1 - (Math.log(m) - lo) / (hi - lo) : 0.5); // yellow = lowest loss

  const width = Math.max(300, box.clientWidth || 480);
  const left = 64, top = 18, right = 10;
  const cw = Math.max(6, Math.min(44, Math.floor((width - left - right) / alphas.length)));
  const ch = Math.max(8, Math.min(28, Math.floor(160 / lrs.length)));
  const gridH = top + lrs.length * ch + 34;
  const legendH = 46;
  const H = ranks.length * gridH + legendH;
  const W = left + alphas.length * cw + right;
  const p = [];
  p.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" class="heat-svg">`);
  ranks.forEach((rank, ri) => {
    const y0 = ri * gridH;
    p.push(`<text x="0" y="${y0 + 12}" class="hm-title">rank ${rank}</text>`);
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
        const fill = c.n ? col(c.mean) : '#e4e4e4';
        const tip = `rank ${rank}, α ${fmt(a)}, lr ${fmt(lr)}: ` + (c.n ? `final eval loss ${fmt(c.mean)} (mean of ${c.n})` : 'no finished run')
          + (c.bad ? `, ${c.bad} diverged/failed` : '') + ` · ${c.total} runs`;
        p.push(`<rect class="cell" x="${x}" y="${y}" width="${cw - 1}" height="${ch - 1}" fill="${fill}" data-rank="${rank}" data-alpha="${a}" data-lr="${lr}" data-run="${c.first}"${c === best ? ' stroke="#d62728" stroke-width="2"' : ''}><title>${tip}</title></rect>`);
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
  const ly = H - legendH + 10, lw = Math.min(240, W - left - right);
  p.push('<defs><linearGradient id="hm-grad" x1="0" x2="1" y1="0" y2="0">');
  for (let i = 0; i <= 10; i++) p.push(`<stop offset="${i / 10}" stop-color="${viridis(1 - i / 10)}"/>`);
  p.push('</linearGradient></defs>');
  p.push(`<rect x="${left}" y="${ly}" width="${lw}" height="10" fill="url(#hm-grad)"/>`);
  p.push(`<text x="${left}" y="${ly + 24}" class="hm-lab">${fmt(Math.exp(lo))} (best)</text>`);
  p.push(`<text x="${left + lw}" y="${ly + 24}" text-anchor="end" class="hm-lab">${fmt(Math.exp(hi))}</text>`);
  p.push(`<text x="${left + lw / 2}" y="${ly + 24}" text-anchor="middle" class="hm-lab">final eval loss (log)</text>`);
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
    buildLawControls(); drawLaw(); drawDrift();
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
    // default: the lr whose free fit has the best R² at the last checkpoint
    const cp = a.checkpoints[a.checkpoints.length - 1];
    const fits = (cp ? cp.fits : []).filter((f) => f.method === 'sqrt' && !f.poor);
    const bestLr = fits.length ? fits.reduce((b, f) => (f.r2 > b.r2 ? f : b)).lr : lrs[0];
    if (bestLr != null) lrSel.value = String(bestLr);
  }
}
$('law-cp').addEventListener('change', drawLaw);
$('law-lr').addEventListener('change', drawLaw);

function drawLaw() {
  const box = $('law-plot'), note = $('law-note');
  const a = S.analysis;
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
    add({ label: `√r law: ${fmt(sqrt.c, 3)}·√r${sqrt.poor ? ' (poor)' : ''}`, stroke: '#1f77b4', width: 2 }, law(sqrt.c, 0.5));
    bandHi = add({ label: `√r band hi (c ${fmt(sqrt.c_hi, 3)})`, stroke: 'rgba(31,119,180,0.3)', width: 1 }, law(sqrt.c_hi, 0.5));
    bandLo = add({ label: `√r band lo (c ${fmt(sqrt.c_lo, 3)})`, stroke: 'rgba(31,119,180,0.3)', width: 1 }, law(sqrt.c_lo, 0.5));
  }
  if (free) add({ label: `free law: ${fmt(free.c, 3)}·r^${fmt(free.p, 3)}${free.poor ? ' (poor)' : ''}`, stroke: '#d62728', width: 2 }, law(free.c, free.p));
  // heuristics: alpha = coef * r^(power + scale power), the s = coef * r^power rules
  add({ label: 'α = r', stroke: '#7f7f7f', width: 1.5, dash: [6, 4] }, law(1, 0 + scalePow));
  add({ label: 'α = 2r', stroke: '#2ca02c', width: 1.5, dash: [6, 4] }, law(2, 0 + scalePow));
  add({ label: 'rsLoRA α = 16 (s = α/√r)', stroke: '#9467bd', width: 1.5, dash: [2, 3] }, law(16, -0.5 + scalePow));
  const bands = bandHi > 0 ? [{ series: [bandHi, bandLo], fill: 'rgba(31,119,180,0.12)' }] : [];
  const errorBars = (u) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = '#444';
    ctx.lineWidth = 1.5 * devicePixelRatio;
    for (const s of stars) {
      if (!(s.ci_lo > 0 && s.ci_hi > 0)) continue;
      const cx = u.valToPos(s.rank, 'x', true);
      const y1 = u.valToPos(s.ci_lo, 'y', true), y2 = u.valToPos(s.ci_hi, 'y', true);
      const w = 4 * devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(cx, y1); ctx.lineTo(cx, y2);
      ctx.moveTo(cx - w, y1); ctx.lineTo(cx + w, y1);
      ctx.moveTo(cx - w, y2); ctx.lineTo(cx + w, y2);
      ctx.stroke();
    }
    ctx.restore();
  };
  makePlot('law', box, {
    height: 340,
    scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
    axes: [logAxis('rank r', 40), logAxis(`α* (${a.scaling} α)`, 60)],
    series, bands,
    hooks: { draw: [errorBars] },
  }, data);
  const parts = [`${Math.round(cp.fraction * 100)}% budget (step ${cp.step}), lr ${fmt(lr)}. Bars: bootstrap interval of α*.`];
  if (free) parts.push(`Free fit: c = ${fmt(free.c, 3)} [${fmt(free.c_lo, 3)}, ${fmt(free.c_hi, 3)}], p = ${fmt(free.p, 3)} [${fmt(free.p_lo, 3)}, ${fmt(free.p_hi, 3)}], R² = ${fmt(free.r2, 3)}, ${free.n_used} ranks used, ${free.n_excluded} excluded${free.poor ? ' — poor fit' : ''}.`);
  if (sqrt) parts.push(`√r fit: c = ${fmt(sqrt.c, 3)} [${fmt(sqrt.c_lo, 3)}, ${fmt(sqrt.c_hi, 3)}], R² = ${fmt(sqrt.r2, 3)}.`);
  if (!free && !sqrt) parts.push('No law fitted at this lr.');
  note.textContent = parts.join(' ');
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
  const steps = uniqSorted(spectra.map((s) => s.step));
  if (steps.length) {
    const si = new Map(steps.map((v, i) => [v, i]));
    const data = [steps];
    const series = [{ label: 'step' }];
    layers.forEach((l, k) => {
      const y = new Array(steps.length).fill(null);
      for (const s of spectra) if (s.layer === l) y[si.get(s.step)] = s.sigma_max;
      data.push(y);
      series.push({ label: `σ_max(ΔW) layer ${l}`, stroke: PALETTE[k % PALETTE.length], width: 2, spanGaps: true, points: { show: true, size: 5 } });
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
  window.__la.ready = true;
  setTimeout(poll, POLL_MS);
}
start();
