#!/usr/bin/env node
// Browser test of the web dashboard against a real `loralpha serve`:
//   node tests/test_web.mjs --loralpha PATH --worker PATH [--artifacts DIR]
// Starts the daemon on 127.0.0.1 (port 0) in a temp dir, runs a small real sweep,
// then drives Debian's chromium through playwright-core (web/node_modules).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
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

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'loralpha-web-'));
const dbPath = path.join(tmp, 'web.db');
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

async function api(base, method, p, body) {
  const res = await fetch(base + p, {
    method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not json */ }
  return { status: res.status, json, text, type: res.headers.get('content-type') || '' };
}

const smallSpec = {
  name: 'web-test-small',
  description: 'Browser test sweep: 3 ranks x 9 alphas x 2 lrs x 2 seeds.',
  task: { task: 'teacher', d_in: 16, d_out: 16 },
  grid: { rank: [1, 2, 4], alpha: { log2: [0, 8], num: 9 }, lr: [0.003, 0.01] },
  seeds: 2, steps: 60,
  metrics: { eval_every: 10, spectra_every: 20, sharpness: true },
};
const longSpec = {
  name: 'web-test-long',
  description: 'A sweep long enough to be cancelled from its page.',
  task: { task: 'teacher', d_in: 128, d_out: 128 },
  grid: { rank: [4, 8], alpha: [8, 16, 32], lr: [0.001] },
  seeds: 2, steps: 10000000,
  metrics: { eval_every: 1000, spectra_every: 10000, sharpness: false },
};

async function main() {
  // ---- daemon ----------------------------------------------------------
  const portFile = path.join(tmp, 'port');
  const daemon = startProc(args.loralpha, ['serve', '--listen', '127.0.0.1:0', '--port-file', portFile, '--db', dbPath,
    '--worker', args.worker, '--max-workers', '2', '--web', webDir], 'daemon.log');
  const dport = await waitFile(portFile, daemon, 15000);
  const api0 = `http://127.0.0.1:${dport}`;
  const base = api0;
  console.log(`daemon pid ${daemon.pid} on ${api0}, db ${dbPath}`);

  // ---- the small sweep: run it to the end, with its analysis -------------
  const sub = await api(api0, 'POST', '/v1/sweeps', smallSpec);
  check('submit small sweep', sub.status === 201, '201', `${sub.status} ${sub.text}`);
  const sid = sub.json && sub.json.id;
  let sw = null;
  const t0 = Date.now();
  while (Date.now() - t0 < 180000) {
    sw = (await api(api0, 'GET', `/v1/sweeps/${sid}`)).json;
    if (sw && sw.state !== 'active') break;
    await sleep(250);
  }
  check('small sweep finishes done', sw && sw.state === 'done' && sw.counts.done === 108, 'state done, 108 done', JSON.stringify(sw && { state: sw.state, counts: sw.counts }));
  let an = null;
  for (let i = 0; i < 40; i++) { an = await api(api0, 'GET', `/v1/sweeps/${sid}/analysis`); if (an.status === 200) break; await sleep(250); }
  check('analysis exists', an.status === 200 && an.json.checkpoints.length > 0, '200 with checkpoints', `${an.status} ${an.text.slice(0, 200)}`);

  // ---- the routes the dashboard needs ----------------------------------
  const idx = await api(base, 'GET', '/');
  check('GET / serves index.html', idx.status === 200 && idx.type.startsWith('text/html') && idx.text.includes('/js/sweeps.js'), '200 text/html index', `${idx.status} ${idx.type}`);
  const js = await api(base, 'GET', '/js/sweep.js');
  check('GET /js/sweep.js is javascript', js.status === 200 && /javascript/.test(js.type), '200 text/javascript', `${js.status} ${js.type}`);
  const up = await api(base, 'GET', '/node_modules/uplot/dist/uPlot.iife.min.js');
  check('GET uPlot from /node_modules', up.status === 200 && /javascript/.test(up.type), '200 javascript', `${up.status} ${up.type}`);
  const cv = await api(base, 'GET', `/v1/sweeps/${sid}/curves?kind=eval&points=5`);
  check('GET /curves downsamples', cv.status === 200 && cv.json.runs.length === 108 && cv.json.runs.every((r) => r.step.length <= 5 && r.step.length === r.loss.length),
    '108 runs, <= 5 points each', `${cv.status} ${cv.json ? cv.json.runs.length + ' runs, max ' + Math.max(...cv.json.runs.map((r) => r.step.length)) + ' points' : cv.text.slice(0, 200)}`);

  // ---- a long sweep, to cancel from its page ---------------------------
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
  try {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const newPage = async () => {
      const page = await ctx.newPage();
      page.errors = [];
      page.on('console', (m) => { if (m.type() === 'error') page.errors.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (r) => page.errors.push(`requestfailed: ${r.url()}`));
      page.on('request', (r) => { const u = new URL(r.url()); if (u.hostname !== '127.0.0.1') page.errors.push(`outside request: ${r.url()}`); });
      return page;
    };

    // index
    const pi = await newPage();
    await pi.goto(`${base}/`);
    const rowSel = `#sweeps tbody tr[data-id="${sid}"]`;
    const listed = await pi.waitForSelector(rowSel, { timeout: 10000 }).then(() => true, () => false);
    const rowText = listed ? await pi.textContent(rowSel) : '';
    check('index lists the sweep', listed && rowText.includes(smallSpec.name) && rowText.includes('done'), `a row with ${smallSpec.name}, done`, rowText || 'no row');
    const href = listed ? await pi.getAttribute(`${rowSel} a`, 'href') : null;
    check('index row links to sweep.html', href === `/sweep.html?id=${sid}`, `/sweep.html?id=${sid}`, href);
    await pi.waitForTimeout(2500); // one poll: the live update must not break
    const stillListed = await pi.$$eval('#sweeps tbody tr', (rs) => rs.length);
    check('index polls without errors', stillListed === 2 && pi.errors.length === 0, '2 rows, no errors', `${stillListed} rows, errors ${JSON.stringify(pi.errors)}`);
    await pi.screenshot({ path: path.join(args.artifacts, 'index.png'), fullPage: true });

    // sweep page
    const ps = await newPage();
    await ps.goto(`${base}/sweep.html?id=${sid}`);
    const ready = await ps.waitForFunction(() => window.__la && window.__la.ready, null, { timeout: 20000 }).then(() => true, () => false);
    check('sweep page becomes ready', ready, 'window.__la.ready', ready);
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
    const cells = await ps.$$eval('#heatmap rect.cell', (r) => r.length);
    check('heatmap has a cell per (rank, lr, alpha)', cells === 54, 54, cells);
    const tableRows = await ps.$$eval('#runs tbody tr', (r) => r.length);
    check('runs table lists the runs', tableRows === 108, 108, tableRows);
    const head = await ps.textContent('#counts');
    check('header shows counts', head.includes('108 done'), '"108 done"', head);
    const reportHref = await ps.getAttribute('#report', 'href');
    check('report link points at the report', reportHref === `/v1/sweeps/${sid}/report`, `/v1/sweeps/${sid}/report`, reportHref);
    const rep = await fetch(`${base}${reportHref}`);
    const repText = await rep.text();
    check('the report downloads as HTML with plots', rep.status === 200 && (rep.headers.get('content-type') || '').startsWith('text/html') && repText.includes('<svg'),
      '200 text/html with <svg', `${rep.status} ${rep.headers.get('content-type')} ${repText.slice(0, 60)}`);

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

    // cancel the long sweep from its page
    const pc = await newPage();
    await pc.goto(`${base}/sweep.html?id=${lid}`);
    await pc.waitForFunction(() => window.__la && window.__la.ready, null, { timeout: 20000 }).catch(() => {});
    const enabled = await pc.isEnabled('#cancel');
    check('cancel button enabled on an active sweep', enabled, true, enabled);
    let dialogSeen = '';
    pc.once('dialog', (d) => { dialogSeen = d.type(); d.accept(); });
    await pc.click('#cancel');
    await pc.waitForFunction(() => /cancelled/.test(document.getElementById('message').textContent), null, { timeout: 15000 }).catch(() => {});
    const msg = await pc.textContent('#message');
    check('cancel asks for confirmation', dialogSeen === 'confirm', 'confirm', dialogSeen);
    check('cancel shows the result', msg.includes('cancelled'), 'a message saying cancelled', msg);
    let dbState = '';
    for (let i = 0; i < 40; i++) {
      dbState = execFileSync('sqlite3', [dbPath, `SELECT state FROM sweeps WHERE id = ${Number(lid)}`], { encoding: 'utf8' }).trim();
      if (dbState === 'cancelled') break;
      await sleep(250);
    }
    check('SQLite says the sweep is cancelled', dbState === 'cancelled', 'cancelled', dbState);
    await pc.waitForSelector('#state.st-cancelled', { timeout: 5000 }).catch(() => {});
    check('cancel page: no console errors', pc.errors.length === 0, 'none', JSON.stringify(pc.errors));
    await pc.screenshot({ path: path.join(args.artifacts, 'sweep-cancelled.png'), fullPage: true });
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
