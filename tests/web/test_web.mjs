#!/usr/bin/env node
// Browser test of the web dashboard against a real `loralpha serve`:
//   node tests/web/test_web.mjs --loralpha PATH --worker PATH [--artifacts DIR]
// Starts the daemon on 127.0.0.1 (port 0) in a temp dir with its own state
// directory (and so its own token), runs a small real sweep, then drives
// Debian's chromium through playwright-core (web/node_modules): signing in
// (no token, a wrong one, the right one, a #token= link, signing out), both
// pages and their plots (loss against α per rank with its markers, the
// per-rank heatmap, the colour bar, R² explained, the answer), the report
// download, pause / resume / cancel, a failed and a cancelled sweep shown as
// what they are, and a second user's 403.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const webDir = path.join(root, 'web');

function parseArgs(argv) {
  const a = { loralpha: null, worker: null, artifacts: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in a) || i + 1 >= argv.length) { console.error(`usage: test_web.mjs --loralpha PATH --worker PATH [--artifacts DIR] (bad: ${argv[i]})`); process.exit(2); }
    a[k] = argv[++i];
  }
  if (!a.loralpha || !a.worker) { console.error('test_web.mjs: --loralpha and --worker are required'); process.exit(2); }
  a.artifacts = path.resolve(a.artifacts || path.join(os.tmpdir(), 'loralpha-web-artifacts'));
  a.loralpha = path.resolve(a.loralpha);
  a.worker = path.resolve(a.worker);
  return a;
}
const args = parseArgs(process.argv.slice(2));
fs.mkdirSync(args.artifacts, { recursive: true });

let passed = 0, failed = 0;
function check(name, ok, expected, actual) {
  if (ok) { passed++; console.log(`ok   ${name}`); }
  else { failed++; console.log(`FAIL ${name}\n     expected: ${expected}\n     actual:   ${actual}`); }
  return ok;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// LA_TEST_TIME_SCALE (1..100, as tests/lib/harness.py) stretches the waits added for slow builds.
const TIME_SCALE = Math.min(100, Math.max(1, Number(process.env.LA_TEST_TIME_SCALE) || 1));
const scaled = (ms) => ms * TIME_SCALE;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'loralpha-web-'));
const dbPath = path.join(tmp, 'web.db');
const stateDir = path.join(tmp, 'state');
const tokensFile = path.join(tmp, 'tokens');
const BOB = { user: 'webtest-bob', token: 'b0b'.repeat(21) + 'b' };  // a second user, from the tokens file
const WRONG = '0123456789abcdef'.repeat(4);
const children = [];

function startProc(cmd, argv, logName) {
  const log = fs.openSync(path.join(tmp, logName), 'w');
  const p = spawn(cmd, argv, { cwd: tmp, stdio: ['ignore', log, log] });
  p.on('error', (e) => { p.spawnError = e; });
  children.push(p);
  return p;
}

async function waitFile(f, proc, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (fs.existsSync(f)) { const s = fs.readFileSync(f, 'utf8').trim(); if (/^\d+$/.test(s)) return Number(s); }
    if (proc.spawnError) throw new Error(`cannot start ${proc.spawnfile}: ${proc.spawnError.message}`);
    if (proc.exitCode != null) throw new Error(`${proc.spawnfile} exited with ${proc.exitCode}`);
    await sleep(50);
  }
  throw new Error(`no port in ${f} after ${ms} ms`);
}

async function stopAll() {
  for (const p of children.reverse()) {
    if (p.exitCode != null || p.signalCode != null) continue;
    try { process.kill(p.pid, 'SIGTERM'); } catch { continue; }
    const t0 = Date.now();
    while (p.exitCode == null && p.signalCode == null && Date.now() - t0 < 10000) await sleep(50);
    if (p.exitCode == null && p.signalCode == null) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  }
}

let TOKEN = null;  // the daemon user's, read from <state dir>/token
async function api(base, method, p, body, token = TOKEN) {
  const headers = body ? { 'Content-Type': 'application/json' } : {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(base + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not json */ }
  return { status: res.status, json, text, type: res.headers.get('content-type') || '', auth: res.headers.get('www-authenticate') || '' };
}

const sql = (q) => {
  try { return execFileSync('sqlite3', [dbPath, q], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim(); } catch (e) { return `sqlite3: ${String(e.stderr || e.message).trim()}`; }
};
async function waitSql(q, want, ms = 10000) {
  let got = '';
  const t0 = Date.now();
  while (Date.now() - t0 < ms) { got = sql(q); if (got === want) break; await sleep(250); }
  return got;
}

const smallSpec = {
  name: 'web-test-small',
  description: 'Browser test sweep: 3 ranks x 9 alphas x 2 lrs x 2 seeds.',
  task: { task: 'teacher', d_in: 16, d_out: 16 },
  grid: { rank: [1, 2, 4], alpha: { log2: [0, 8], num: 9 }, lr: [0.003, 0.01] },
  seeds: 2, steps: 60,
  metrics: { eval_every: 10, spectra_every: 20, sharpness: true },
};
// A run window open from 3 h ago to 3 h from now (local time, as the daemon's): shown, but no hindrance.
const hhmm = (d) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
const WINDOW = { start: hhmm(new Date(Date.now() - 3 * 3600e3)), end: hhmm(new Date(Date.now() + 3 * 3600e3)), outside: 'finish' };
const longSpec = {
  name: 'web-test-long',
  description: 'A sweep long enough to be paused, resumed and cancelled from its page.',
  task: { task: 'teacher', d_in: 128, d_out: 128 },
  grid: { rank: [4, 8], alpha: [8, 16, 32], lr: [0.001] },
  seeds: 2, steps: 10000000,
  metrics: { log_every: 1000, eval_every: 1000, spectra_every: 10000, sharpness: false },
  window: WINDOW,
};

/* A little-endian float32 .npy file (format 1.0, header padded to 64 bytes). */
function writeNpy(file, shape, fill) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  const header = dict + ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const n = shape.reduce((a, b) => a * b, 1);
  const buf = Buffer.alloc(10 + header.length + 4 * n);
  buf.write('\x93NUMPY', 0, 'latin1');
  buf[6] = 1; buf[7] = 0;
  buf.writeUInt16LE(header.length, 8);
  buf.write(header, 10, 'latin1');
  for (let i = 0; i < n; i++) buf.writeFloatLE(fill(i), 10 + header.length + 4 * i);
  fs.writeFileSync(file, buf);
}

/* The sweep once it has ended (its state no longer active), polled every
 * 250 ms for at most ms; the last answer read if it has not. */
async function sweepEnd(a, id, ms) {
  let sw = null;
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    sw = (await api(a, 'GET', `/v1/sweeps/${id}`)).json;
    if (sw && sw.state !== 'active') break;
    await sleep(250);
  }
  return sw;
}

/* A sweep whose every run fails, through the real daemon: an npy sweep
 * submitted with its data in place but a run window closed now (so nothing
 * starts), its data files then deleted, and the window removed. Each run's
 * worker then cannot read its data and the run fails. Returns the sweep. */
async function failingSweep(api0) {
  const dir = path.join(tmp, 'npy');
  fs.mkdirSync(dir, { recursive: true });
  const files = { x: path.join(dir, 'x.npy'), y: path.join(dir, 'y.npy'), w0: path.join(dir, 'w0.npy') };
  const noise = (i) => Math.sin(12.9898 * (i + 1)) * 0.5;
  writeNpy(files.x, [256, 8], noise);
  writeNpy(files.y, [256, 8], (i) => noise(i + 7));
  writeNpy(files.w0, [8, 8], (i) => noise(i + 99) / 3);
  const closed = { start: hhmm(new Date(Date.now() + 3 * 3600e3)), end: hhmm(new Date(Date.now() + 4 * 3600e3)), outside: 'finish' };
  const spec = {
    name: 'web-test-failing', description: 'Every run fails: its data files are gone when the runs start.',
    task: { task: 'npy', npy: { x: files.x, y: files.y, w0: [files.w0] } },
    grid: { rank: [1, 2], alpha: [1, 4], lr: [0.01] }, seeds: 1, steps: 20, batch: 32, max_attempts: 1,
    metrics: { sharpness: false }, window: closed,
  };
  const sub = await api(api0, 'POST', '/v1/sweeps', spec);
  check('submit the sweep that will fail', sub.status === 201, 201, `${sub.status} ${sub.text}`);
  const id = sub.json && sub.json.id;
  const before = (await api(api0, 'GET', `/v1/sweeps/${id}`)).json;
  check('window closed: no run of it started', before && before.counts.queued === 4, '4 queued', JSON.stringify(before && before.counts));
  for (const f of Object.values(files)) fs.rmSync(f);
  const open = await api(api0, 'PATCH', `/v1/sweeps/${id}`, { window: null });
  check('its window removed', open.status === 200, 200, `${open.status} ${open.text.slice(0, 200)}`);
  const s = await sweepEnd(api0, id, scaled(60000));
  check('every run of it failed', s && s.state !== 'active' && !s.counts.done && !s.counts.diverged && s.counts.failed > 0,
    'finished, no run done or diverged, some failed', JSON.stringify(s && { state: s.state, counts: s.counts }));
  return s;
}

/* A badge as shown: its text, classes and background colour (red, grey or green). */
async function badgeLook(page, badgeSel) {
  return page.$eval(badgeSel, (b) => ({ text: b.textContent, cls: b.className, bg: getComputedStyle(b).backgroundColor }));
}

/* The analysis' last checkpoint (the full budget). */
const lastCp = (a) => a.checkpoints[a.checkpoints.length - 1];

/* The loss-against-alpha view of the small sweep: a panel per rank with its
 * data, its markers as the analysis lists them (alpha* drawn in its colour
 * at its alpha), each rank normalised to its best, and the lr select. */
async function checkAlphaView(ps, analysis, spec) {
  const read = () => ps.evaluate(() => {
    const v = window.__la.state.alphaView;
    const out = { lr: v && v.lr, ranks: {} };
    for (const [rank, p] of Object.entries(v ? v.ranks : {})) {
      const u = window.__la.getPlot(`alpha-r${rank}`);
      const star = p.markers.find((m) => m.kind === 'star');
      let starInk = 0, values = 0;
      if (u) {
        for (const y of u.data[1]) if (y != null && Number.isFinite(y)) values++;
        if (star) {
          const cx = Math.round(u.valToPos(star.alpha, 'x', true));
          const top = Math.round(u.bbox.top), h = Math.round(u.bbox.height);
          const img = u.ctx.getImageData(cx - 1, top, 3, h).data;
          for (let i = 0; i < img.length; i += 4) if (img[i] < 60 && img[i + 1] < 60 && img[i + 2] < 60 && img[i + 3] > 200) starInk++;
          starInk /= h;
        }
      }
      out.ranks[rank] = { plot: !!u, values, markers: p.markers.map((m) => `${m.name}@${m.alpha}`), y: p.y, starInk };
    }
    out.note = [...document.querySelectorAll('#alpha-panels .panel-note')].map((n) => n.textContent);
    out.options = [...document.querySelectorAll('#av-lr option')].map((o) => Number(o.value));
    return out;
  });
  const want = (lr) => {
    const cp = lastCp(analysis);
    const w = {};
    for (const rank of spec.grid.rank) {
      const st = cp.alpha_star.find((x) => x.rank === rank && x.lr === lr);
      w[rank] = [...(st ? [`alpha*@${st.alpha}`] : []), ...cp.regret.filter((x) => x.rank === rank && x.lr === lr && x.alpha > 0).map((x) => `${x.rule}@${x.alpha}`)];
    }
    return w;
  };
  const v0 = await read();
  check('loss vs α: an lr select with every lr', JSON.stringify(v0.options) === JSON.stringify(spec.grid.lr), JSON.stringify(spec.grid.lr), JSON.stringify(v0.options));
  const mins = {};
  const perLr = {};
  // the default lr first, then the others
  for (const lr of [v0.lr, ...spec.grid.lr.filter((x) => x !== v0.lr)]) {
    if (lr !== v0.lr) {
      await ps.selectOption('#av-lr', String(lr));
      await ps.waitForFunction((x) => window.__la.state.alphaView && window.__la.state.alphaView.lr === x, lr, { timeout: 10000 }).catch(() => {});
    }
    const v = await read();
    perLr[lr] = v;
    const w = want(lr);
    check(`loss vs α at lr ${lr}: the select switched the view`, v.lr === lr, lr, v.lr);
    for (const rank of spec.grid.rank) {
      const p = v.ranks[rank] || {};
      check(`loss vs α, lr ${lr}, rank ${rank}: a plot with its 9 grid points`, p.plot && p.values === 9, 'a plot, 9 values', JSON.stringify({ plot: p.plot, values: p.values }));
      check(`loss vs α, lr ${lr}, rank ${rank}: α* and every rule's α marked, as the analysis lists them`,
        JSON.stringify(p.markers) === JSON.stringify(w[rank]) && w[rank].length >= 2, JSON.stringify(w[rank]), JSON.stringify(p.markers));
      check(`loss vs α, lr ${lr}, rank ${rank}: α* drawn at its α`, p.starInk > 0.5, 'dark pixels over > 50% of the plot height at α*', p.starInk);
      const ys = (p.y || []).filter((y) => y != null);
      mins[rank] = Math.min(mins[rank] ?? Infinity, ...ys);
    }
  }
  for (const rank of spec.grid.rank) {
    check(`loss vs α, rank ${rank}: normalised to the rank's best (its lowest ratio over the lrs is 1)`, Math.abs(mins[rank] - 1) < 1e-12, 1, mins[rank]);
  }
  const [l0, l1] = spec.grid.lr;
  const same = JSON.stringify(perLr[l0].ranks[1].y) === JSON.stringify(perLr[l1].ranks[1].y);
  check('loss vs α: switching lr changes the curves', !same, 'different ratios at the two lrs', JSON.stringify([perLr[l0].ranks[1].y, perLr[l1].ranks[1].y]));
  await ps.locator('#alpha-card').screenshot({ path: path.join(args.artifacts, 'loss-vs-alpha.png') });
}

/* The heatmap: every lr of every rank, each rank on its own colour scale
 * (its cells reach both ends: yellow at its best, dark purple at its worst). */
async function checkHeatmap(ps, spec) {
  const rows = await ps.$$eval('#heatmap rect.cell[data-rel]', (rs) => rs.map((r) => ({ rank: r.dataset.rank, lr: r.dataset.lr, fill: r.getAttribute('fill') })));
  for (const rank of spec.grid.rank) {
    const mine = rows.filter((r) => r.rank === String(rank));
    const fills = new Set(mine.map((r) => r.fill));
    const lrs = new Set(mine.map((r) => r.lr));
    check(`heatmap, rank ${rank}: every lr shown`, lrs.size === spec.grid.lr.length, spec.grid.lr.length, lrs.size);
    check(`heatmap, rank ${rank}: its own colour scale, from its best (yellow) to its worst (dark purple)`,
      fills.has('rgb(253,231,37)') && fills.has('rgb(68,1,84)'), 'rgb(253,231,37) and rgb(68,1,84) among its cells', JSON.stringify([...fills]));
  }
  const legend = await ps.textContent('#heatmap svg').catch(() => '');
  check('heatmap: a legend says what the colour means', /rank's best/.test(legend) && /one scale per rank/.test(legend), '"rank\'s best", "one scale per rank"', legend.slice(-200));
  await ps.locator('#heat-card').screenshot({ path: path.join(args.artifacts, 'heatmap.png') });
}

/* The curves' colour bar, and the law's R² explained where it is shown. */
async function checkColorbarAndFits(ps, analysis) {
  const cb = await ps.evaluate(() => {
    const bar = document.querySelector('#loss-colorbar .cb-bar');
    return { bg: bar ? getComputedStyle(bar).backgroundImage : '', ticks: [...document.querySelectorAll('#loss-colorbar .cb-tick')].map((t) => t.textContent),
      visible: !!bar && bar.getBoundingClientRect().width > 100 };
  });
  check('curves: a colour bar of α, from the smallest to the largest', cb.visible && /linear-gradient/.test(cb.bg) && cb.ticks[0] === '1' && cb.ticks[cb.ticks.length - 1] === '256',
    'a visible gradient with ticks 1 … 256', JSON.stringify(cb));
  const fits = await ps.evaluate(() => ({
    lr: Number(document.getElementById('law-lr').value),
    spans: [...document.querySelectorAll('#law-note .fit')].map((f) => ({ method: f.dataset.method, poor: f.classList.contains('poor'), weight: getComputedStyle(f).fontWeight,
      r2title: (f.querySelector('abbr.r2') || {}).title || '' })),
    help: document.getElementById('law-help').textContent,
  }));
  const cp = lastCp(analysis);
  const wantFits = cp.fits.filter((f) => f.lr === fits.lr).map((f) => `${f.method}:${f.poor}`).sort();
  const gotFits = fits.spans.map((f) => `${f.method}:${f.poor}`).sort();
  check('law: each fit shown, a poor one marked poor', JSON.stringify(gotFits) === JSON.stringify(wantFits), JSON.stringify(wantFits), JSON.stringify(gotFits));
  check('law: every R² explained in its tooltip, no fit in bold', fits.spans.length > 0 && fits.spans.every((f) => f.r2title.length > 40 && Number(f.weight) < 600),
    'a title on each R², font weight < 600', JSON.stringify(fits.spans));
  check('law: a note says what R² and the intervals mean', /negative/.test(fits.help) && /2 ranks/.test(fits.help) && /bootstrap/.test(fits.help),
    'negative R², 2 ranks, bootstrap', fits.help.slice(0, 120));
}

/* The one-line answer at the top: the analysis' headline and answers when it
 * has them; no block at all when it has not (an older daemon). */
async function checkHeadline(ps, analysis) {
  const got = await ps.evaluate(() => ({
    shown: !document.getElementById('answer').hidden,
    headline: document.getElementById('headline').textContent,
    rows: document.querySelectorAll('#answers tbody tr').length,
  }));
  if (typeof analysis.headline === 'string' && analysis.headline) {
    const answers = Array.isArray(analysis.answers) ? analysis.answers : [];
    check('the analysis\' headline at the top of the sweep page', got.shown && got.headline.endsWith(analysis.headline), analysis.headline, got.headline);
    check('an answers table row per tested rank', got.rows === answers.length, answers.length, got.rows);
  } else {
    check('no headline in the analysis: the answer block hidden', !got.shown && got.rows === 0, 'hidden, no rows', JSON.stringify(got));
  }
}

/* The joint (α, lr) optimum under the answer: the pooled trade-off in words
 * and a row per rank with its best lr, as the full budget's "joint" says. */
async function checkJoint(ps, analysis) {
  const jt = lastCp(analysis).joint;
  const got = await ps.evaluate(() => ({
    shown: !document.getElementById('joint').hidden,
    tradeoff: document.getElementById('joint-tradeoff').textContent,
    rows: [...document.querySelectorAll('#joint-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
  }));
  const ranks = jt && Array.isArray(jt.ranks) ? jt.ranks : [];
  check('joint optimum: shown with a row per rank', got.shown && got.rows.length === ranks.length && ranks.length > 0,
    ranks.length, JSON.stringify(got.rows));
  check('joint optimum: the pooled trade-off in words', jt && got.tradeoff === `α–lr trade-off, all ranks: ${jt.tradeoff.text}`,
    jt && jt.tradeoff.text, got.tradeoff);
  ranks.forEach((r, i) => {
    const row = got.rows[i] || [];
    const want = [String(r.rank), String(r.lr)];
    check(`joint optimum rank ${r.rank}: its best lr (${r.lr_at_edge ? 'at the lr grid\'s edge' : 'inside'}) and its trade-off`,
      row[0] === want[0] && row[1].startsWith(want[1]) && row[1].includes('edge') === !!r.lr_at_edge && row[6] === r.tradeoff.text,
      JSON.stringify([...want, r.tradeoff.text]), JSON.stringify(row));
  });
}

/* A searching sweep's page: the search card with a row per cell (its best
 * alpha as GET /search says) and a plot of the alphas each cell added. */
async function checkSearchPage(base, ctx, newPage, id, search) {
  const page = await newPage(ctx);
  await page.goto(`${base}/sweep.html?id=${id}`);
  const shown = await page.waitForFunction(() => !document.getElementById('search-card').hidden
    && document.querySelectorAll('#search-table tbody tr').length > 0, null, { timeout: 20000 }).then(() => true, () => false);
  const got = await page.evaluate(() => ({
    note: document.getElementById('search-note').textContent,
    rows: [...document.querySelectorAll('#search-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
    plot: (() => { const u = window.__la.getPlot('search'); return u ? { series: u.series.length - 1, values: u.data.slice(1).flat().filter((v) => v != null).length } : null; })(),
  }));
  const cells = search ? search.cells : [];
  const added = search ? search.decisions.filter((d) => d.action === 'add').length : -1;
  check('search card: shown with a row per cell', shown && got.rows.length === cells.length, cells.length, JSON.stringify(got.rows));
  cells.forEach((c, i) => {
    const row = got.rows[i] || [];
    check(`search card rank ${c.rank}: done, its best alpha`, row[0] === String(c.rank) && row[2] === 'done' && Number(row[4]) > 0
      && Math.abs(Math.log2(Number(row[4]) / c.best_alpha)) < 0.01, `${c.rank} done ${c.best_alpha}`, JSON.stringify(row));
  });
  check('search card: the note says the strategy and what was spent', got.note.startsWith('Strategy bracket') && got.note.includes(`${search.spent.runs} runs`),
    `Strategy bracket ... ${search && search.spent.runs} runs`, got.note);
  check('search plot: a series per cell, a point per added alpha', got.plot && got.plot.series === cells.length && got.plot.values === added,
    `${cells.length} series, ${added} points`, JSON.stringify(got.plot));
  check('search page: no errors', page.errors.length === 0, 'none', JSON.stringify(page.errors));
  await page.close();
}

/* A law search's page: under the search card, the law's prediction against
 * what was found, as GET /search's law says (its words, a row per rank the
 * law started with its prediction, interval, alpha* found and inside), and
 * a plot with the law ranks' alpha*, the law, the predictions and what was
 * found; the bracket sweep's page has none of it. */
async function checkSearchLaw(base, ctx, newPage, id, search, bracketId) {
  const page = await newPage(ctx);
  await page.goto(`${base}/sweep.html?id=${id}`);
  const shown = await page.waitForFunction(() => !document.getElementById('search-law').hidden
    && document.querySelectorAll('#search-law-table tbody tr').length > 0, null, { timeout: 20000 }).then(() => true, () => false);
  const got = await page.evaluate(() => ({
    note: document.getElementById('search-law-note').textContent,
    rows: [...document.querySelectorAll('#search-law-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
    plot: (() => { const u = window.__la.getPlot('searchlaw'); return u ? { series: u.series.length - 1, data: u.data.slice(1) } : null; })(),
  }));
  const e = search && search.law && search.law[0];
  const preds = e ? e.predictions : [];
  check('law card: shown with a row per rank the law started', shown && got.rows.length === preds.length && preds.length > 0,
    preds.length, JSON.stringify(got.rows));
  check('law card: the law in words', e && got.note.includes(e.text), e && e.text, got.note);
  const near = (txt, v) => Number.isFinite(v) && Math.abs(Math.log2(Number(txt) / v)) < 0.01;
  preds.forEach((x, i) => {
    const row = got.rows[i] || [];
    check(`law card rank ${x.rank}: predicted, interval, found, inside`, row[0] === String(x.rank) && near(row[2], x.predicted)
      && row[3].startsWith('[') && near(row[4], x.found) && row[5] === (x.inside ? 'yes' : 'no'),
      JSON.stringify([x.rank, x.predicted, x.found, x.inside]), JSON.stringify(row));
  });
  const d = got.plot ? got.plot.data : [];
  const found = (d[3] || []).filter((v) => v != null), law = (d[0] || []).filter((v) => v != null);
  check('law plot: the law ranks\' alpha*, the law, a prediction and an alpha* found per started rank',
    got.plot && got.plot.series === 4 && law.length === e.law_ranks.length && found.length === preds.length
      && preds.every((x) => found.some((v) => Math.abs(v - x.found) < 1e-9 * x.found)),
    `4 series, ${e && e.law_ranks.length} law ranks, ${preds.length} found`, JSON.stringify(got.plot));
  check('law page: no errors', page.errors.length === 0, 'none', JSON.stringify(page.errors));
  if (shown) await page.locator('#search-law').screenshot({ path: path.join(args.artifacts, 'search-law.png') });
  await page.goto(`${base}/sweep.html?id=${bracketId}`);
  await page.waitForFunction(() => !document.getElementById('search-card').hidden, null, { timeout: 20000 }).catch(() => null);
  check('a bracket sweep\'s page: no law part', await page.evaluate(() => document.getElementById('search-law').hidden), true, 'shown');
  await page.close();
}

/* A halving search's page (docs/dashboard.md, "Search along α"): the card's
 * note says the strategy and what was spent; a row per (rank, lr) of what
 * was found equal to GET /search's halving.found; the plot of the decisions
 * with a series per rank, as many finite points as the decisions' and the
 * done cells' losses (each rank its own), and its marks drawn in each
 * rank's colour; the bracket's table and plot hidden; no page errors. Then
 * the bracket sweep's page shows no halving part. */
async function checkHalvingPage(base, ctx, newPage, id, search, bracketId) {
  const page = await newPage(ctx);
  await page.goto(`${base}/sweep.html?id=${id}`);
  const shown = await page.waitForFunction(() => !document.getElementById('search-halving').hidden
    && document.querySelectorAll('#search-found-table tbody tr').length > 0, null, { timeout: 20000 }).then(() => true, () => false);
  const got = await page.evaluate(() => ({
    note: document.getElementById('search-note').textContent,
    bracket: !document.getElementById('search-bracket').hidden,
    rows: [...document.querySelectorAll('#search-found-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
    plot: (() => {
      const u = window.__la.getPlot('halving');
      if (!u) return null;
      const img = u.ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data;
      const ink = u.series.slice(1).map((s) => {
        const [r, g, b] = [1, 3, 5].map((k) => parseInt(s._stroke.slice(k, k + 2), 16));
        let n = 0;
        for (let i = 0; i < img.length; i += 4) if (img[i] === r && img[i + 1] === g && img[i + 2] === b && img[i + 3] === 255) n++;
        return n;
      });
      return { series: u.series.length - 1, labels: u.series.slice(1).map((s) => s.label), values: u.data.slice(1).map((ys) => ys.filter((v) => v != null && Number.isFinite(v)).length), ink };
    })(),
  }));
  const h = (search && search.halving) || { found: [], cells: [], decisions: [] };
  const near = (txt, v) => Number.isFinite(v) && Math.abs(Number(txt) / v - 1) < 6e-3;  // fmt: 3 or 4 significant digits
  check('halving card: shown with a row per (rank, lr) found, the bracket\'s part hidden', shown && !got.bracket && got.rows.length === h.found.length && h.found.length === 4,
    `${h.found.length} rows (4), bracket hidden`, JSON.stringify({ bracket: got.bracket, rows: got.rows }));
  h.found.forEach((f, i) => {
    const row = got.rows[i] || [];
    const end = f.at_end ? `yes (${f.cells_at_end} cell${f.cells_at_end === 1 ? '' : 's'} reached it)` : 'no';
    check(`halving found rank ${f.rank} lr ${f.lr}: alpha*, its loss, its step, at the end`, row[0] === String(f.rank) && row[1] === String(f.lr)
      && near(row[2], f.alpha_star) && near(row[3], f.loss) && row[4] === String(f.step) && row[5] === end,
      JSON.stringify([f.rank, f.lr, f.alpha_star, f.loss, f.step, end]), JSON.stringify(row));
  });
  const atEnd = h.cells.filter((c) => c.state === 'done').length;
  check('halving card: the note says the strategy, what was spent and the cells at the end',
    got.note.startsWith('Strategy halving (eta 3,') && got.note.includes(`${search.spent.runs} runs`) && got.note.includes(`${atEnd} of ${h.cells.length} cells reached the end`)
      && got.note.includes('rank 1: 12 cells, step 10 (12 → 4), step 30 (4 → 1), the end at 90'),
    `Strategy halving (eta 3, ... ${search && search.spent.runs} runs ... ${atEnd} of ${h.cells.length} cells reached the end ... rank 1: 12 cells, step 10 (12 → 4), ...`, got.note);
  const ranks = [...new Set(h.cells.map((c) => c.rank))].sort((a, b) => a - b);
  const want = ranks.map((r) => h.decisions.filter((d) => d.rank === r && Number.isFinite(d.loss) && d.loss > 0).length
    + h.cells.filter((c) => c.rank === r && c.state === 'done' && Number.isFinite(c.eval_loss) && c.eval_loss > 0).length);
  check('halving plot: a series per rank, a point per decision\'s loss and per done cell\'s final loss',
    got.plot && JSON.stringify(got.plot.labels) === JSON.stringify(ranks.map((r) => `r=${r}`)) && JSON.stringify(got.plot.values) === JSON.stringify(want) && want.every((n) => n > 12),
    `labels ${JSON.stringify(ranks.map((r) => `r=${r}`))}, points ${JSON.stringify(want)}`, JSON.stringify(got.plot && { labels: got.plot.labels, values: got.plot.values }));
  check('halving plot: each rank\'s marks drawn in its colour', got.plot && got.plot.ink.length === ranks.length && got.plot.ink.every((n) => n >= 20),
    '>= 20 pixels of each rank\'s colour', JSON.stringify(got.plot && got.plot.ink));
  check('halving page: no errors', page.errors.length === 0, 'none', JSON.stringify(page.errors));
  if (shown) await page.locator('#search-card').screenshot({ path: path.join(args.artifacts, 'search-halving.png') });
  await page.goto(`${base}/sweep.html?id=${bracketId}`);
  await page.waitForFunction(() => !document.getElementById('search-card').hidden, null, { timeout: 20000 }).catch(() => null);
  const br = await page.evaluate(() => ({ halving: !document.getElementById('search-halving').hidden, bracket: !document.getElementById('search-bracket').hidden }));
  check('a bracket sweep\'s page: its table and plot, no halving part', br.bracket && !br.halving, '{"halving":false,"bracket":true}', JSON.stringify(br));
  await page.close();
}

/* The paper's claims under the joint optimum: each claim's verdict in words
 * and a row per rank, as the analysis' "claims" says. */
async function checkClaims(ps, analysis) {
  const cl = analysis.claims;
  const got = await ps.evaluate(() => ({
    shown: !document.getElementById('claims').hidden,
    c1: document.getElementById('claims-1').textContent,
    c2: document.getElementById('claims-2').textContent,
    c3: document.getElementById('claims-3').textContent,
    rows: [...document.querySelectorAll('#claims-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
    plot1: document.querySelectorAll('#claims-plot-1 canvas').length,
    plot1Series: document.querySelectorAll('#claims-plot-1 .u-legend .u-series').length,
    plot2: document.querySelectorAll('#claims-plot-2 canvas').length
      + document.querySelectorAll('#claims-plot-2 p.empty').length,
  }));
  check('claims: the panel is shown', cl && got.shown, 'shown', JSON.stringify(got));
  if (!cl) return;
  const w1 = `Claim 1 (${cl.sharpness.verdict}): ${cl.sharpness.text}`;
  const w2 = `Claim 2 (${cl.drift.verdict}): ${cl.drift.text}`;
  check('claims: claim 1\'s verdict in words', got.c1 === w1, w1, got.c1);
  check('claims: claim 2\'s verdict in words', got.c2 === w2, w2, got.c2);
  const law = cl.law || {};
  const want3 = `Claim 3 (${law.verdict}): ${law.text} (the table: “The law across lr and budget”, above)`;
  check('claims: claim 3 is the law surface\'s verdict', got.c3 === want3, want3, got.c3);
  const ranks = [...new Set([...cl.sharpness.ranks, ...cl.drift.ranks].map((r) => r.rank))].sort((a, b) => a - b);
  check('claims: a row per rank', got.rows.length === ranks.length && ranks.length > 0, ranks.length, JSON.stringify(got.rows));
  const plotted = cl.sharpness.ranks.filter((r) => r.along_alpha.some((p) => p.ratio > 0)).length;
  check('claims: claim 1\'s plot, a line per rank with a ratio', plotted ? got.plot1 === 1 && got.plot1Series === plotted + 1 : got.plot1 === 0,
    plotted, JSON.stringify([got.plot1, got.plot1Series]));
  check('claims: claim 2\'s plot or why there is none', got.plot2 === 1, 1, got.plot2);
  for (const r of cl.sharpness.ranks) {
    const row = got.rows.find((x) => x[0] === String(r.rank)) || [];
    const want = r.ratio == null ? '–' : `${fmt3(r.ratio)}×`;
    check(`claims rank ${r.rank}: LoRA / full sharpness at α*`, row[1] !== undefined && row[1].startsWith(want), want, JSON.stringify(row));
  }
}

/* x as the dashboard's fmt(x, 3) writes it (web/js/api.js). */
function fmt3(x) {
  const a = Math.abs(x);
  if (Number.isInteger(x) && a < 1e6) return String(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(1) : String(Number(x.toPrecision(3)));
}

/* The law across lr and budget under the joint optimum: the verdict, a row
 * per lr, a cell per budget with p and the √r mark, as "law_surface" says. */
async function checkSurface(ps, analysis) {
  const ls = analysis.law_surface;
  const got = await ps.evaluate(() => ({
    shown: !document.getElementById('surface').hidden,
    verdict: document.getElementById('surface-verdict').textContent,
    note: document.getElementById('surface-note').textContent,
    rows: [...document.querySelectorAll('#surface-table tbody tr')].map((tr) => ({
      lr: Number(tr.dataset.lr), cells: [...tr.cells].slice(1).map((c) => [Number(c.dataset.step), c.textContent]) })),
  }));
  const cells = ls && Array.isArray(ls.cells) ? ls.cells : [];
  const lrs = [...new Set(cells.map((c) => c.lr))];
  check('law surface: shown with a row per lr', got.shown && got.rows.length === lrs.length && lrs.length > 0,
    lrs.length, JSON.stringify(got.rows));
  check('law surface: the verdict', ls && got.verdict === `The √r law across lr and budget: ${ls.verdict}`,
    ls && ls.verdict, got.verdict);
  check('law surface: the trend of c_sqrt in words', ls && got.note.includes(`√r coefficient: ${ls.c_sqrt_trend.text}.`),
    ls && ls.c_sqrt_trend.text, got.note);
  cells.forEach((c) => {
    const row = got.rows.find((r) => r.lr === c.lr);
    const td = row && row.cells.find(([st]) => st === c.step);
    const text = td ? td[1] : '';
    const ok = c.p == null ? text.startsWith('too few ranks')
      : text.startsWith(String(Number(c.p.toPrecision(2)))) && text.endsWith(c.sqrt_compatible === true ? ' ✓'
        : c.sqrt_compatible === false ? ' ✗' : ']') === (c.sqrt_compatible != null || c.p_lo != null);
    check(`law surface cell (lr ${c.lr}, step ${c.step}): p and the √r mark`, ok,
      JSON.stringify([c.p, c.p_lo, c.p_hi, c.sqrt_compatible]), text);
  });
}

async function main() {
  // ---- daemon ----------------------------------------------------------
  const portFile = path.join(tmp, 'port');
  fs.mkdirSync(stateDir, { mode: 0o700 });
  fs.writeFileSync(tokensFile, `${BOB.user} ${BOB.token}\n`, { mode: 0o600 });
  const daemon = startProc(args.loralpha, ['serve', '--listen', '127.0.0.1:0', '--port-file', portFile, '--db', dbPath,
    '--state-dir', stateDir, '--tokens-file', tokensFile,
    '--worker', args.worker, '--max-workers', '2', '--web', webDir], 'daemon.log');
  const dport = await waitFile(portFile, daemon, 15000);
  const api0 = `http://127.0.0.1:${dport}`;
  const base = api0;
  console.log(`daemon pid ${daemon.pid} on ${api0}, db ${dbPath}`);
  const tokenPath = path.join(stateDir, 'token');
  TOKEN = fs.existsSync(tokenPath) ? fs.readFileSync(tokenPath, 'utf8').trim() : '';
  const tokenMode = fs.existsSync(tokenPath) ? (fs.statSync(tokenPath).mode & 0o777).toString(8) : 'missing';
  check('the daemon wrote its token (64 hex, mode 600)', /^[0-9a-f]{64}$/.test(TOKEN) && tokenMode === '600', '64 hex chars, 600', `${TOKEN.length} chars, mode ${tokenMode}`);
  const me = os.userInfo().username;

  // ---- the API wants the token; the dashboard's files do not -------------
  const noTok = await api(api0, 'GET', '/v1/sweeps', null, null);
  check('API without a token: 401 unauthorized, WWW-Authenticate: Bearer',
    noTok.status === 401 && noTok.json && noTok.json.error.code === 'unauthorized' && /^Bearer/.test(noTok.auth),
    '401 unauthorized, Bearer', `${noTok.status} ${noTok.text.slice(0, 100)} [${noTok.auth}]`);
  const badTok = await api(api0, 'GET', '/v1/health', null, WRONG);
  check('API with a wrong token: 401', badTok.status === 401, 401, `${badTok.status} ${badTok.text.slice(0, 100)}`);
  const who = await api(api0, 'GET', '/v1/whoami');
  check('whoami with the token: the daemon\'s user', who.status === 200 && who.json.user === me && who.json.via === 'token',
    `{"user":"${me}",...,"via":"token"}`, `${who.status} ${who.text}`);
  const whoBob = await api(api0, 'GET', '/v1/whoami', null, BOB.token);
  check('whoami with a tokens-file token: that user', whoBob.status === 200 && whoBob.json.user === BOB.user && whoBob.json.admin === false,
    `{"user":"${BOB.user}","admin":false,...}`, `${whoBob.status} ${whoBob.text}`);
  for (const f of ['/', '/index.html', '/sweep.html', '/app.css', '/js/api.js', '/node_modules/uplot/dist/uPlot.iife.min.js']) {
    const r = await api(api0, 'GET', f, null, null);
    check(`static ${f} without a token: 200`, r.status === 200, 200, r.status);
  }

  // ---- the small sweep: run it to the end, with its analysis -------------
  const sub = await api(api0, 'POST', '/v1/sweeps', smallSpec);
  check('submit small sweep', sub.status === 201, '201', `${sub.status} ${sub.text}`);
  const sid = sub.json && sub.json.id;
  const sw = await sweepEnd(api0, sid, 180000);
  check('small sweep finishes done', sw && sw.state === 'done' && sw.counts.done === 108, 'state done, 108 done', JSON.stringify(sw && { state: sw.state, counts: sw.counts }));
  check('the sweep has its owner, paused and window', sw && sw.owner === me && sw.paused === false && sw.window === null,
    `owner ${me}, paused false, window null`, JSON.stringify(sw && { owner: sw.owner, paused: sw.paused, window: sw.window }));
  let an = null;
  for (let i = 0; i < 40; i++) { an = await api(api0, 'GET', `/v1/sweeps/${sid}/analysis`); if (an.status === 200) break; await sleep(250); }
  check('analysis exists', an.status === 200 && an.json.checkpoints.length > 0, '200 with checkpoints', `${an.status} ${an.text.slice(0, 200)}`);

  const failedSweep = await failingSweep(api0);
  const fid = failedSweep && failedSweep.id;

  // ---- a sweep that searches along alpha (docs/sweeps.md, "search") ------
  const subS = await api(api0, 'POST', '/v1/sweeps', { ...smallSpec, name: 'web-test-search', grid: { rank: [1, 4], alpha: [1, 16, 256], lr: [0.01] }, search: { strategy: 'bracket', tolerance: 1 } });
  check('submit a bracket sweep', subS.status === 201, '201', `${subS.status} ${subS.text}`);
  const searchId = subS.json && subS.json.id;
  const swS = await sweepEnd(api0, searchId, 180000);
  const searchJson = (await api(api0, 'GET', `/v1/sweeps/${searchId}/search`)).json;
  check('the bracket sweep ends done with its search decided', swS && swS.state === 'done' && searchJson && searchJson.cells.length === 2 && searchJson.cells.every((c) => c.done),
    'done, 2 cells done', JSON.stringify(swS && { state: swS.state, cells: searchJson && searchJson.cells }));

  const subL = await api(api0, 'POST', '/v1/sweeps', { ...smallSpec, name: 'web-test-law', grid: { rank: [1, 2, 4, 8], alpha: [1, 16, 256], lr: [0.01] }, search: { strategy: 'law', law_ranks: 3, tolerance: 1 } });
  check('submit a law sweep: runs are the law ranks\' 18, grid_runs the grid\'s 24', subL.status === 201 && subL.json.runs === 18 && subL.json.grid_runs === 24,
    '201, 18, 24', `${subL.status} ${subL.text}`);
  const lawId = subL.json && subL.json.id;
  const swL = await sweepEnd(api0, lawId, 180000);
  const lawJson = (await api(api0, 'GET', `/v1/sweeps/${lawId}/search`)).json;
  check('the law sweep ends done with its law fitted', swL && swL.state === 'done' && lawJson && lawJson.law && lawJson.law[0].state === 'fitted'
    && lawJson.law[0].predictions.length === 1 && lawJson.law[0].predictions[0].done, 'done, fitted, rank 8 done', JSON.stringify(lawJson && lawJson.law));

  // a halving search: 12 cells a rank (6 alphas x 2 lrs), rungs at steps 10 and 30 (12 -> 4 -> 1)
  const subH = await api(api0, 'POST', '/v1/sweeps', { ...smallSpec, name: 'web-test-halving', task: { task: 'teacher', d_in: 32, d_out: 32 },
    grid: { rank: [1, 4], alpha: [1, 4, 16, 64, 256, 1024], lr: [0.003, 0.03] }, steps: 90,
    metrics: { eval_every: 10, spectra_every: 0, sharpness: false }, search: { strategy: 'halving' } });
  check('submit a halving sweep', subH.status === 201, '201', `${subH.status} ${subH.text}`);
  const halvingId = subH.json && subH.json.id;
  const swH = await sweepEnd(api0, halvingId, scaled(180000));
  const halvingJson = (await api(api0, 'GET', `/v1/sweeps/${halvingId}/search`)).json;
  check('the halving sweep ends done with a cell per (rank, alpha, lr) and what it found per (rank, lr)',
    swH && swH.state === 'done' && halvingJson && halvingJson.halving && halvingJson.halving.cells.length === 24 && halvingJson.halving.found.length === 4,
    'done, 24 cells, 4 found', JSON.stringify(swH && { state: swH.state, counts: swH.counts, found: halvingJson && halvingJson.halving && halvingJson.halving.found }));

  // ---- the routes the dashboard needs ----------------------------------
  const idx = await api(base, 'GET', '/');
  check('GET / serves index.html', idx.status === 200 && idx.type.startsWith('text/html') && idx.text.includes('/js/sweeps.js'), '200 text/html index', `${idx.status} ${idx.type}`);
  const js = await api(base, 'GET', '/js/sweep.js');
  check('GET /js/sweep.js is javascript', js.status === 200 && /javascript/.test(js.type), '200 text/javascript', `${js.status} ${js.type}`);
  const cv = await api(base, 'GET', `/v1/sweeps/${sid}/curves?kind=eval&points=5`);
  check('GET /curves downsamples', cv.status === 200 && cv.json.runs.length === 108 && cv.json.runs.every((r) => r.step.length <= 5 && r.step.length === r.loss.length),
    '108 runs, <= 5 points each', `${cv.status} ${cv.json ? cv.json.runs.length + ' runs, max ' + Math.max(...cv.json.runs.map((r) => r.step.length)) + ' points' : cv.text.slice(0, 200)}`);

  // ---- a long sweep, to pause, resume and cancel from its page -----------
  const sub2 = await api(api0, 'POST', '/v1/sweeps', longSpec);
  check('submit long sweep', sub2.status === 201, '201', `${sub2.status} ${sub2.text}`);
  const lid = sub2.json && sub2.json.id;

  // ---- browser ---------------------------------------------------------
  const pwPath = path.join(webDir, 'node_modules', 'playwright-core', 'index.mjs');
  const { chromium } = await import(pathToFileURL(pwPath).href);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const requests = [];  // every request of every page: [url, authorization header]
  try {
    const newContext = () => browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    // expected: statuses whose "Failed to load resource" console lines are expected on this page
    const newPage = async (ctx, expected = []) => {
      const page = await ctx.newPage();
      page.errors = [];
      page.expected = expected;
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        if (page.expected.some((st) => m.text().includes(`status of ${st} `))) return;
        page.errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (r) => { if (!r.url().startsWith('blob:')) page.errors.push(`requestfailed: ${r.url()}`); });
      page.on('request', (r) => {
        requests.push([r.url(), r.headers().authorization || '']);
        const u = new URL(r.url());
        if (u.protocol !== 'blob:' && u.hostname !== '127.0.0.1') page.errors.push(`outside request: ${r.url()}`);
      });
      return page;
    };
    const stored = (page) => page.evaluate(() => localStorage.getItem('loralpha.token'));
    const visible = (page, sel) => page.isVisible(sel).catch(() => false);

    // ---- signing in on the sweeps page ----------------------------------
    const ctxA = await newContext();
    const pa = await newPage(ctxA, [401]);
    await pa.goto(`${base}/`);
    const formUp = await pa.waitForSelector('#signin', { state: 'visible', timeout: 10000 }).then(() => true, () => false);
    check('no token: the sign-in form instead of the sweeps', formUp && !(await visible(pa, '#sweeps')), 'form shown, table hidden',
      `form ${formUp}, table ${await visible(pa, '#sweeps')}`);
    const help = formUp ? await pa.textContent('#signin') : '';
    check('the form says where the token is', help.includes('~/.local/state/loralpha/token') && /tokens file/.test(help), 'the token file and the tokens file', help);
    const apiBefore = requests.filter(([u]) => new URL(u).pathname.startsWith('/v1/')).length;
    check('no token: no API request sent', apiBefore === 0, 0, apiBefore);
    await pa.fill('#signin-token', WRONG);
    await pa.click('#signin button[type="submit"]');
    await pa.waitForFunction(() => document.getElementById('signin-error').textContent !== '', null, { timeout: 10000 }).catch(() => {});
    const wrongErr = await pa.textContent('#signin-error').catch(() => '');
    check('wrong token: the form stays, with an error', await visible(pa, '#signin') && /does not accept/.test(wrongErr) && !(await visible(pa, '#sweeps')),
      'form still shown, "does not accept"', wrongErr);
    check('wrong token: not kept', (await stored(pa)) === null, null, await stored(pa));
    await pa.fill('#signin-token', `  ${TOKEN}  `);
    await pa.click('#signin button[type="submit"]');
    const rowSel = `#sweeps tbody tr[data-id="${sid}"]`;
    const listed = await pa.waitForSelector(rowSel, { timeout: 10000 }).then(() => true, () => false);
    check('right token: the form goes, the sweeps show', listed && !(await visible(pa, '#signin')), 'sweeps listed, no form', `listed ${listed}`);
    check('right token: kept in localStorage', (await stored(pa)) === TOKEN, 'the token', await stored(pa));
    const whoText = await pa.textContent('#who-user').catch(() => '');
    check('the signed-in user is shown', whoText.startsWith(me), me, whoText);
    const rowText = listed ? await pa.textContent(rowSel) : '';
    check('index lists the sweep', listed && rowText.includes(smallSpec.name) && rowText.includes('done'), `a row with ${smallSpec.name}, done`, rowText || 'no row');
    const owner = listed ? await pa.textContent(`${rowSel} td.owner`) : '';
    check('index shows the owner', owner === me, me, owner);
    const win = await pa.textContent(`#sweeps tbody tr[data-id="${lid}"] .window`).catch(() => '');
    check('index shows a sweep\'s run window', win === `⏲ ${WINDOW.start}–${WINDOW.end}`, `⏲ ${WINDOW.start}–${WINDOW.end}`, win);
    const href = listed ? await pa.getAttribute(`${rowSel} a`, 'href') : null;
    check('index row links to sweep.html', href === `/sweep.html?id=${sid}`, `/sweep.html?id=${sid}`, href);
    pa.expected = [];  // from here on, a 401 is a failure
    await pa.waitForTimeout(2500); // one poll: the live update must not break
    const stillListed = await pa.$$eval('#sweeps tbody tr', (rs) => rs.length);
    check('index polls without errors', stillListed === 6 && pa.errors.length === 0, '6 rows, no errors', `${stillListed} rows, errors ${JSON.stringify(pa.errors)}`);
    // the sweep whose every run failed: red 'failed', never a green 'done'
    const fRow = `#sweeps tbody tr[data-id="${fid}"]`;
    const fBadge = await badgeLook(pa, `${fRow} td.state .badge`).catch((e) => ({ text: String(e) }));
    check('index: a sweep whose every run failed shows failed (red), not done (green)',
      fBadge.text === 'failed' && /\bst-failed\b/.test(fBadge.cls) && fBadge.bg === 'rgb(251, 226, 226)',
      'failed, st-failed, background rgb(251, 226, 226)', JSON.stringify(fBadge));
    const fSegs = await pa.$$eval(`${fRow} .progress .seg`, (xs) => xs.map((x) => x.className)).catch(() => []);
    check('index: its progress bar has no green segment', fSegs.length > 0 && fSegs.every((c) => !c.includes('st-done')), 'segments, none st-done', JSON.stringify(fSegs));
    await pa.screenshot({ path: path.join(args.artifacts, 'index.png'), fullPage: true });
    // sign out
    await pa.click('#signout');
    const outForm = await pa.waitForSelector('#signin', { state: 'visible', timeout: 10000 }).then(() => true, () => false);
    check('sign out: the form again, the token forgotten', outForm && (await stored(pa)) === null && !(await visible(pa, '#sweeps')), 'form, no token',
      `form ${outForm}, token ${await stored(pa)}`);
    // a kept token the daemon no longer accepts
    pa.expected = [401];
    await pa.evaluate((t) => localStorage.setItem('loralpha.token', t), WRONG);
    await pa.reload();
    await pa.waitForSelector('#signin', { state: 'visible', timeout: 10000 }).catch(() => {});
    await pa.waitForFunction(() => { const e = document.getElementById('signin-error'); return e && e.textContent !== ''; }, null, { timeout: 10000 }).catch(() => {});
    const staleErr = await pa.textContent('#signin-error').catch(() => '');
    check('a kept token that is refused: the form, with an error', /no longer accepts/.test(staleErr) && (await stored(pa)) === null, 'form with "no longer accepts", token dropped', staleErr);
    check('sign-in page: no unexpected console errors', pa.errors.length === 0, 'none', JSON.stringify(pa.errors));
    await pa.screenshot({ path: path.join(args.artifacts, 'signin.png'), fullPage: true });

    // ---- a #token= link opens the sweep page, signed in ------------------
    const ctx = await newContext();
    const ps = await newPage(ctx);
    await ps.goto(`${base}/sweep.html?id=${sid}#token=${TOKEN}`);
    const ready = await ps.waitForFunction(() => window.__la && window.__la.ready, null, { timeout: 20000 }).then(() => true, () => false);
    check('#token= link: the sweep page becomes ready', ready, 'window.__la.ready', ready);
    check('#token= link: the token leaves the address bar', ps.url() === `${base}/sweep.html?id=${sid}`, `${base}/sweep.html?id=${sid}`, ps.url());
    check('#token= link: the token is kept', (await stored(ps)) === TOKEN, 'the token', await stored(ps));
    check('#token= link: no sign-in form', !(await visible(ps, '#signin')), 'no form', await visible(ps, '#signin'));
    await ps.waitForTimeout(500);
    const plots = await ps.evaluate(() => {
      const out = {};
      for (const [k, u] of window.__la.plots()) {
        const c = u.ctx.canvas;
        const img = u.ctx.getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 3; i < img.length; i += 16) if (img[i] > 0) ink++;
        let values = 0;
        for (let s = 1; s < u.data.length; s++) for (const v of u.data[s]) if (v != null && Number.isFinite(v)) values++;
        out[k] = { series: u.series.length - 1, points: u.data[0].length, values, ink };
      }
      return out;
    });
    for (const k of ['loss', 'law', 'drift', 'signal', 'sigma', 'sharp']) {
      const p = plots[k];
      check(`plot ${k} has drawn data`, p && p.series > 0 && p.values > 0 && p.ink > 200, 'series > 0, values > 0, canvas ink > 200',
        JSON.stringify(p || 'no plot'));
    }
    check('loss plot draws all 108 runs', plots.loss && plots.loss.series === 108, 108, plots.loss && plots.loss.series);
    await checkAlphaView(ps, an.json, smallSpec);
    await checkHeatmap(ps, smallSpec);
    await checkColorbarAndFits(ps, an.json);
    await checkHeadline(ps, an.json);
    await checkJoint(ps, an.json);
    await checkClaims(ps, an.json);
    await checkSurface(ps, an.json);
    check('a grid sweep\'s page: no search card', !(await visible(ps, '#search-card')), 'hidden', await visible(ps, '#search-card'));
    await checkSearchPage(base, ctx, newPage, searchId, searchJson);
    await checkSearchLaw(base, ctx, newPage, lawId, lawJson, searchId);
    await checkHalvingPage(base, ctx, newPage, halvingId, halvingJson, searchId);
    const cells = await ps.$$eval('#heatmap rect.cell', (r) => r.length);
    check('heatmap has a cell per (rank, lr, alpha)', cells === 54, 54, cells);
    const tableRows = await ps.$$eval('#runs tbody tr', (r) => r.length);
    check('runs table lists the runs', tableRows === 108, 108, tableRows);
    const head = await ps.textContent('#counts');
    check('header shows counts', head.includes('108 done'), '"108 done"', head);
    const ownerLabel = await ps.textContent('#owner');
    check('header shows the owner', ownerLabel === `by ${me} (you)`, `by ${me} (you)`, ownerLabel);
    const doneButtons = { pause: await visible(ps, '#pause'), resume: await visible(ps, '#resume'), cancel: await ps.isEnabled('#cancel') };
    check('a finished sweep: no pause, no resume, no cancel', !doneButtons.pause && !doneButtons.resume && !doneButtons.cancel, 'all off', JSON.stringify(doneButtons));
    // the report: fetched with the token, saved from a Blob
    const [dl] = await Promise.all([ps.waitForEvent('download', { timeout: 15000 }).catch(() => null), ps.click('#report')]);
    const dlPath = dl ? await dl.path().catch(() => null) : null;
    const repText = dlPath ? fs.readFileSync(dlPath, 'utf8') : '';
    check('the report downloads as HTML with plots', dl && dl.suggestedFilename() === `sweep-${sid}-report.html` && repText.includes('<svg') && /^<!doctype html/i.test(repText),
      `sweep-${sid}-report.html, HTML with <svg`, dl ? `${dl.suggestedFilename()} ${repText.slice(0, 60)}` : 'no download');

    // a filter changes the number of drawn series
    const nSeries = () => ps.evaluate(() => { const u = window.__la.getPlot('loss'); return u ? u.series.length - 1 : 0; });
    await ps.selectOption('#f-rank', '2');
    await ps.waitForFunction(() => { const u = window.__la.getPlot('loss'); return u && u.series.length - 1 !== 108; }, null, { timeout: 10000 }).catch(() => {});
    const afterRank = await nSeries();
    check('rank filter: 36 curves', afterRank === 36, 36, afterRank);
    await ps.selectOption('#f-seed', '0');
    await ps.waitForFunction(() => { const u = window.__la.getPlot('loss'); return u && u.series.length - 1 !== 36; }, null, { timeout: 10000 }).catch(() => {});
    const afterSeed = await nSeries();
    check('seed filter: 18 curves', afterSeed === 18, 18, afterSeed);
    // train curves
    await ps.selectOption('#f-kind', 'train');
    await ps.waitForFunction(() => window.__la.state.curves && window.__la.state.curves.kind === 'train', null, { timeout: 10000 }).catch(() => {});
    const trainPts = await ps.evaluate(() => { const u = window.__la.getPlot('loss'); return u ? u.data[0].length : 0; });
    check('train toggle draws train curves', trainPts > 7, '> 7 steps (train is logged every step)', trainPts);
    // highlight from the legend
    const legRun = await ps.getAttribute('#loss-legend [data-run]:nth-child(3)', 'data-run');
    await ps.click('#loss-legend [data-run]:nth-child(3)');
    await ps.waitForFunction((id) => document.getElementById('run-title').textContent.includes(`#${id}:`), legRun, { timeout: 10000 }).catch(() => {});
    const runTitle = await ps.textContent('#run-title');
    check('legend click highlights the run', runTitle.includes(`#${legRun}:`), `#${legRun}:`, runTitle);
    // sort the table by final eval loss
    await ps.click('#runs th[data-key="final_eval_loss"]');
    const col = await ps.$$eval('#runs tbody tr', (rs) => rs.map((r) => Number(r.children[9].textContent)));
    const sorted = col.length > 1 && col.every((v, i) => i === 0 || col[i - 1] <= v);
    check('table sorts by final eval', sorted, 'ascending', JSON.stringify(col.slice(0, 6)));
    check('sweep page: no console errors', ps.errors.length === 0, 'none', JSON.stringify(ps.errors));
    await ps.screenshot({ path: path.join(args.artifacts, 'sweep.png'), fullPage: true });
    await ps.close();

    // the sweep whose every run failed, on its own page: red, and why
    const pf = await newPage(ctx);
    await pf.goto(`${base}/sweep.html?id=${fid}`);
    await pf.waitForFunction(() => window.__la && window.__la.ready, null, { timeout: 20000 }).catch(() => {});
    const fState = await badgeLook(pf, '#state').catch((e) => ({ text: String(e) }));
    check('sweep page: a sweep whose every run failed shows failed (red), not done (green)',
      fState.text === 'failed' && /\bst-failed\b/.test(fState.cls) && fState.bg === 'rgb(251, 226, 226)', 'failed, st-failed, red background', JSON.stringify(fState));
    const fWhy = await pf.textContent('#sweep-error').catch(() => '');
    check('sweep page: it says why it failed', (await visible(pf, '#sweep-error')) && /cannot be read|npy/.test(fWhy), 'a visible line with the data error', fWhy);
    const fNow = (await api(api0, 'GET', `/v1/sweeps/${fid}`)).json;
    const fWant = `${Math.floor((100 * (fNow.counts.done + fNow.counts.diverged + fNow.counts.failed)) / fNow.n_runs)}% finished by themselves`;
    const fCounts = await pf.textContent('#counts');
    check('sweep page: its progress counts the runs that finished by themselves', fCounts.includes(fWant), fWant, fCounts);
    check('failed sweep page: no console errors', pf.errors.length === 0, 'none', JSON.stringify(pf.errors));
    await pf.screenshot({ path: path.join(args.artifacts, 'sweep-failed.png'), fullPage: true });
    await pf.close();

    // the link leaves no history entry with the token: one step back is where the tab was before
    const ph = await newPage(ctx);
    await ph.goto(`${base}/#token=${TOKEN}`);
    await ph.waitForSelector(rowSel, { timeout: 10000 }).catch(() => {});
    const hUrl = ph.url();
    await ph.goBack().catch(() => {});
    const backUrl = ph.url();
    check('#token= link: stripped from the history too', hUrl === `${base}/` && backUrl === 'about:blank', `${base}/, then back to about:blank`, `${hUrl}, then ${backUrl}`);
    check('#token= on the sweeps page: no console errors', ph.errors.length === 0, 'none', JSON.stringify(ph.errors));
    await ph.close();

    // ---- a second user may look, but not pause someone else's sweep -------
    const ctxB = await newContext();
    const pb = await newPage(ctxB, [403]);
    await pb.goto(`${base}/sweep.html?id=${lid}#token=${BOB.token}`);
    await pb.waitForFunction(() => window.__la && window.__la.ready, null, { timeout: 20000 }).catch(() => {});
    const bobWho = await pb.textContent('#who-user').catch(() => '');
    check('second user: signed in as themselves', bobWho.startsWith(BOB.user), BOB.user, bobWho);
    const bobOwner = await pb.textContent('#owner').catch(() => '');
    check('second user: the header names the owner', bobOwner === `by ${me}`, `by ${me}`, bobOwner);
    await pb.click('#pause').catch(() => {});
    await pb.waitForFunction(() => document.getElementById('message').classList.contains('error'), null, { timeout: 10000 }).catch(() => {});
    const forbidden = await pb.textContent('#message');
    check('403: a readable message', forbidden.includes(`cannot pause sweep #${lid}`) && forbidden.includes(`belongs to ${me}`), `"cannot pause sweep #${lid}: it belongs to ${me}..."`, forbidden);
    const stillRunning = await api(api0, 'GET', `/v1/sweeps/${lid}`);
    check('403: the sweep is not paused', stillRunning.json && stillRunning.json.paused === false, false, stillRunning.json && stillRunning.json.paused);
    check('second user page: no unexpected console errors', pb.errors.length === 0, 'none', JSON.stringify(pb.errors));
    await pb.screenshot({ path: path.join(args.artifacts, 'sweep-forbidden.png'), fullPage: true });

    // ---- pause, resume, then cancel the long sweep from its page ----------
    const pc = await newPage(ctx);
    await pc.goto(`${base}/sweep.html?id=${lid}`);
    await pc.waitForFunction(() => window.__la && window.__la.ready, null, { timeout: 20000 }).catch(() => {});
    const enabled = await pc.isEnabled('#cancel');
    check('cancel button enabled on an active sweep', enabled, true, enabled);
    const winText = await pc.textContent('#window');
    check('the sweep page says the run window in words', winText.includes(`between ${WINDOW.start} and ${WINDOW.end}`) && winText.includes('running runs finish'),
      `between ${WINDOW.start} and ${WINDOW.end} ... running runs finish`, winText);
    const running = { pause: await visible(pc, '#pause'), resume: await visible(pc, '#resume') };
    check('an active sweep: Pause shown, Resume not', running.pause && !running.resume, 'pause only', JSON.stringify(running));
    await pc.selectOption('#pause-mode', 'finish');
    await pc.click('#pause');
    await pc.waitForSelector('#resume', { state: 'visible', timeout: 10000 }).catch(() => {});
    const paused = { pause: await visible(pc, '#pause'), resume: await visible(pc, '#resume'), badge: await visible(pc, '#paused') };
    check('after Pause: Resume shown, Pause not, a paused badge', !paused.pause && paused.resume && paused.badge, 'resume and badge', JSON.stringify(paused));
    const pmsg = await pc.textContent('#message');
    check('Pause says what it did', /is paused/.test(pmsg), '"is paused"', pmsg);
    const apiPaused = await api(api0, 'GET', `/v1/sweeps/${lid}`);
    check('API: the sweep is paused', apiPaused.json && apiPaused.json.paused === true && apiPaused.json.state === 'active', 'active, paused', JSON.stringify(apiPaused.json && { state: apiPaused.json.state, paused: apiPaused.json.paused }));
    const dbPaused = await waitSql(`SELECT paused FROM sweeps WHERE id = ${Number(lid)}`, '1');
    check('SQLite: the sweep is paused', dbPaused === '1', 1, dbPaused);
    const listPaused = await api(api0, 'GET', '/v1/sweeps');
    const item = listPaused.json && listPaused.json.sweeps.find((x) => x.id === lid);
    check('the sweeps list says paused too', item && item.paused === true && item.owner === me, 'paused, owner', JSON.stringify(item && { paused: item.paused, owner: item.owner }));
    await pc.screenshot({ path: path.join(args.artifacts, 'sweep-paused.png') });
    const pl = await newPage(ctx);
    await pl.goto(`${base}/`);
    const badge = await pl.waitForSelector(`#sweeps tbody tr[data-id="${lid}"] .badge.st-paused`, { timeout: 10000 }).then(() => true, () => false);
    check('the sweeps page shows it paused', badge, 'a paused badge in its row', badge);
    check('sweeps page (signed in from the start): no console errors', pl.errors.length === 0, 'none', JSON.stringify(pl.errors));
    await pl.close();
    await pc.click('#resume');
    await pc.waitForSelector('#pause', { state: 'visible', timeout: 10000 }).catch(() => {});
    const resumed = { pause: await visible(pc, '#pause'), resume: await visible(pc, '#resume'), badge: await visible(pc, '#paused') };
    check('after Resume: Pause shown again, no badge', resumed.pause && !resumed.resume && !resumed.badge, 'pause, no badge', JSON.stringify(resumed));
    const apiResumed = await api(api0, 'GET', `/v1/sweeps/${lid}`);
    check('API: the sweep runs again', apiResumed.json && apiResumed.json.paused === false, false, apiResumed.json && apiResumed.json.paused);
    const dbResumed = await waitSql(`SELECT paused FROM sweeps WHERE id = ${Number(lid)}`, '0');
    check('SQLite: the sweep is not paused', dbResumed === '0', 0, dbResumed);
    let dialogSeen = '';
    pc.once('dialog', (d) => { dialogSeen = d.type(); d.accept(); });
    await pc.click('#cancel');
    await pc.waitForFunction(() => /cancelled/.test(document.getElementById('message').textContent), null, { timeout: 15000 }).catch(() => {});
    const msg = await pc.textContent('#message');
    check('cancel asks for confirmation', dialogSeen === 'confirm', 'confirm', dialogSeen);
    check('cancel shows the result', msg.includes('cancelled'), 'a message saying cancelled', msg);
    const dbState = await waitSql(`SELECT state FROM sweeps WHERE id = ${Number(lid)}`, 'cancelled');
    check('SQLite says the sweep is cancelled', dbState === 'cancelled', 'cancelled', dbState);
    await pc.waitForSelector('#state.st-cancelled', { timeout: 5000 }).catch(() => {});
    const after = { pause: await visible(pc, '#pause'), resume: await visible(pc, '#resume'), cancel: await pc.isEnabled('#cancel') };
    check('a cancelled sweep: no pause, no resume, no cancel', !after.pause && !after.resume && !after.cancel, 'all off', JSON.stringify(after));
    const cState = await badgeLook(pc, '#state').catch((e) => ({ text: String(e) }));
    check('a cancelled sweep shows cancelled (grey), not done (green)', cState.text === 'cancelled' && !/st-done/.test(cState.cls) && cState.bg === 'rgb(236, 238, 241)',
      'cancelled, grey background', JSON.stringify(cState));
    const cCounts = await pc.textContent('#counts');
    const cPct = Number((/(\d+)% finished by themselves/.exec(cCounts) || [])[1]);
    check('a cancelled sweep\'s progress is below 100%', cPct >= 0 && cPct < 100, '< 100% finished by themselves', cCounts);
    check('cancel page: no console errors', pc.errors.length === 0, 'none', JSON.stringify(pc.errors));
    await pc.screenshot({ path: path.join(args.artifacts, 'sweep-cancelled.png'), fullPage: true });

    // the token stops working while the page is open: the form, then the page carries on
    pc.expected = [401];
    await pc.evaluate((t) => localStorage.setItem('loralpha.token', t), WRONG);
    const midForm = await pc.waitForSelector('#signin', { state: 'visible', timeout: 10000 }).then(() => true, () => false);
    const midErr = await pc.textContent('#signin-error').catch(() => '');
    check('a 401 while open: the sign-in form, with an error', midForm && /no longer accepts/.test(midErr) && !(await visible(pc, '#head')), 'form, "no longer accepts", page hidden', `form ${midForm}: ${midErr}`);
    await pc.fill('#signin-token', TOKEN);
    await pc.click('#signin button[type="submit"]');
    const back = await pc.waitForSelector('#signin', { state: 'detached', timeout: 10000 }).then(() => true, () => false);
    const t1 = Date.now();
    const polled = await pc.waitForRequest((r) => new URL(r.url()).pathname === `/v1/sweeps/${lid}` && r.headers().authorization === `Bearer ${TOKEN}`, { timeout: 10000 }).then(() => true, () => false);
    check('after signing in again the page carries on', back && polled && (await visible(pc, '#head')) && (await stored(pc)) === TOKEN, 'form gone, polling with the token',
      `form gone ${back}, polled ${polled} after ${Date.now() - t1} ms`);
    check('cancel page: no unexpected console errors at the end', pc.errors.length === 0, 'none', JSON.stringify(pc.errors));
    // signing out in one tab signs out the others
    const px = await newPage(ctx);
    await px.goto(`${base}/`);
    await px.waitForSelector(rowSel, { timeout: 10000 }).catch(() => {});
    const cRow = `#sweeps tbody tr[data-id="${lid}"]`;
    await px.waitForSelector(`${cRow} .badge.st-cancelled`, { timeout: 10000 }).catch(() => {});
    const cList = await px.evaluate((sel) => {
      const r = document.querySelector(sel);
      return r ? { state: r.querySelector('td.state .badge').textContent, pct: r.querySelector('.pct').textContent } : null;
    }, cRow);
    check('index: the cancelled sweep shows cancelled, its progress below 100%', cList && cList.state === 'cancelled' && parseInt(cList.pct, 10) < 100,
      'cancelled, < 100%', JSON.stringify(cList));
    await pc.click('#signout');
    const xForm = await px.waitForSelector('#signin', { state: 'visible', timeout: 10000 }).then(() => true, () => false);
    check('sign out in one tab: the other shows the form, not the sweeps', xForm && !(await visible(px, '#sweeps')), 'form, no table', `form ${xForm}`);
    check('other tab: no console errors', px.errors.length === 0, 'none', JSON.stringify(px.errors));

    // ---- delete the cancelled sweep: not by another user, then by its owner -
    const pbd = await newPage(ctxB, [403]);
    await pbd.goto(`${base}/sweep.html?id=${lid}#token=${BOB.token}`);
    await pbd.waitForSelector('#delete', { state: 'visible', timeout: 20000 }).catch(() => {});
    pbd.once('dialog', (d) => d.accept());
    await pbd.click('#delete').catch(() => {});
    await pbd.waitForFunction(() => document.getElementById('message').classList.contains('error'), null, { timeout: 10000 }).catch(() => {});
    const bobDel = await pbd.textContent('#message');
    check('delete by another user: 403 in words', bobDel.includes(`cannot delete sweep #${lid}`) && bobDel.includes(`belongs to ${me}`),
      `"cannot delete sweep #${lid}: it belongs to ${me}..."`, bobDel);
    check('delete by another user: the sweep is still there', sql(`SELECT count(*) FROM sweeps WHERE id = ${Number(lid)}`) === '1', '1 row',
      sql(`SELECT count(*) FROM sweeps WHERE id = ${Number(lid)}`));
    check('delete by another user: no unexpected console errors', pbd.errors.length === 0, 'none', JSON.stringify(pbd.errors));
    await pbd.close();
    const pd = await newPage(ctx, [409]);
    await pd.goto(`${base}/sweep.html?id=${lid}#token=${TOKEN}`);
    const delShown = await pd.waitForSelector('#delete', { state: 'visible', timeout: 20000 }).then(() => true, () => false);
    check('an ended sweep shows Delete (an active one does not)', delShown && !(await visible(pd, '#cancel:enabled')), 'Delete shown, Cancel off', delShown);
    let delDialog = '';
    pd.on('dialog', (d) => { delDialog = d.message(); d.accept(); });
    // a cancelled sweep whose worker is still being stopped answers 409: retry until it has stopped
    let delMsg = '';
    for (const t0 = Date.now(); Date.now() - t0 < 60000;) {
      await pd.click('#delete');
      await pd.waitForFunction(() => /deleted|cannot delete/i.test(document.getElementById('message').textContent), null, { timeout: 15000 }).catch(() => {});
      delMsg = await pd.textContent('#message');
      if (!/still has/.test(delMsg)) break;
      await pd.evaluate(() => { document.getElementById('message').textContent = ''; });
      await sleep(500);
    }
    check('delete asks first, naming what goes', /Delete sweep #\d+ .*cannot be undone/.test(delDialog), 'a confirm naming the sweep', delDialog);
    check('delete: the page says so', delMsg.includes(`Sweep #${lid}`) && delMsg.includes('is deleted'), `"Sweep #${lid} ... is deleted with its N runs."`, delMsg);
    const gone = [sql(`SELECT count(*) FROM sweeps WHERE id = ${Number(lid)}`), sql(`SELECT count(*) FROM runs WHERE sweep_id = ${Number(lid)}`)];
    check('delete: SQLite has neither the sweep nor its runs', gone[0] === '0' && gone[1] === '0', '0 and 0', JSON.stringify(gone));
    const cardsHidden = await pd.evaluate(() => [...document.querySelectorAll('main > section.card:not(#head)')].every((c) => c.hidden));
    check('delete: the page stops showing the sweep', cardsHidden && !(await visible(pd, '#delete')), 'cards and buttons hidden', cardsHidden);
    await pd.click('text=Back to the sweeps');
    await pd.waitForSelector(rowSel, { timeout: 10000 }).catch(() => {});
    const rowGone = await pd.$(`#sweeps tbody tr[data-id="${lid}"]`);
    check('delete: the sweeps page no longer lists it', rowGone === null, 'no row', rowGone === null ? 'none' : 'a row');
    check('delete page: no unexpected console errors', pd.errors.length === 0, 'none', JSON.stringify(pd.errors));

    // ---- every request: on this host, the token only in headers -----------
    const outside = requests.filter(([u]) => { const x = new URL(u); return x.protocol !== 'blob:' && x.hostname !== '127.0.0.1'; });
    check('no request leaves the host', requests.length > 0 && outside.length === 0, 'all to 127.0.0.1', JSON.stringify(outside.slice(0, 5)));
    const inUrl = requests.filter(([u]) => u.includes(TOKEN) || u.includes(BOB.token));
    check('no token in a requested URL', inUrl.length === 0, 'none', JSON.stringify(inUrl.slice(0, 3)));
    const apiReqs = requests.filter(([u]) => new URL(u).pathname.startsWith('/v1/'));
    const bare = apiReqs.filter(([, a]) => !/^Bearer [0-9a-f]{64}$/.test(a));
    check('every API request carries a bearer token', apiReqs.length > 20 && bare.length === 0, 'all', `${apiReqs.length} requests, ${bare.length} without: ${JSON.stringify(bare.slice(0, 3))}`);
    const staticAuth = requests.filter(([u, a]) => !new URL(u).pathname.startsWith('/v1/') && a);
    check('static files are fetched without the token', staticAuth.length === 0, 'none', JSON.stringify(staticAuth.slice(0, 3)));
  } finally {
    await browser.close();
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  failed++;
  console.log(`FAIL test aborted\n     expected: no exception\n     actual:   ${e && e.stack ? e.stack : e}`);
} finally {
  await stopAll();
}
if (failed) {
  const log = path.join(tmp, 'daemon.log');
  if (fs.existsSync(log)) console.log(`daemon log (${log}):\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
  code = 1;
} else {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(code);
