// uPlot helpers: create/replace a plot in a container, keep it sized.
const uPlot = window.uPlot;
const plots = new Map();

export function makePlot(key, container, opts, data) {
  const old = plots.get(key);
  if (old) old.destroy();
  container.replaceChildren();
  const width = Math.max(280, container.clientWidth || 600);
  const u = new uPlot({ width, height: opts.height || 300, ...opts }, data, container);
  plots.set(key, u);
  return u;
}

export function dropPlot(key, container, message) {
  const old = plots.get(key);
  if (old) old.destroy();
  plots.delete(key);
  container.replaceChildren();
  if (message) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = message;
    container.append(p);
  }
}

export const getPlot = (key) => plots.get(key);
export const allPlots = () => plots;

let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const u of plots.values()) {
      const w = u.root.parentElement ? u.root.parentElement.clientWidth : 0;
      if (w > 0 && Math.abs(w - u.width) > 4) u.setSize({ width: Math.max(280, w), height: u.height });
    }
  }, 150);
});

/* Log-scale axis ticks as plain numbers. */
export function logAxis(label, size = 60) {
  return { label, size, values: (u, ticks) => ticks.map((v) => (v == null ? '' : fmtTick(v))) };
}
function fmtTick(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

export { uPlot };
