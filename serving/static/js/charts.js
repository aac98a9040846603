// Small charts drawn as inline SVG: grouped bars, lines over days, rates with intervals.
// Every mark carries a <title> with its value, and each chart an accessible summary.

import { h, s } from './dom.js';

const W = 640;
const H = 250;
const PAD = { top: 16, right: 26, bottom: 42, left: 44 };

// The axis top: four equal, round steps (whole numbers for counts) that reach ``value``.
function niceMax(value, whole = true) {
  if (value <= 0) return 4;
  const raw = value / 4;
  const exp = 10 ** Math.floor(Math.log10(raw));
  let step = 10 * exp;
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * exp >= raw) { step = m * exp; break; }
  }
  if (whole) step = Math.max(1, Math.ceil(step));
  return 4 * step;
}

function yAxis(max, plotH, format) {
  const group = s('g', { class: 'axis' });
  for (let i = 0; i <= 4; i += 1) {
    const v = (max * i) / 4;
    const y = PAD.top + plotH - (plotH * i) / 4;
    group.append(
      s('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: 'grid' }),
      s('text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end' }, format(v)),
    );
  }
  return group;
}

function legendRow(series) {
  return h('div', { class: 'chart-legend' }, series.map((x) => h('span', {},
    h('span', { class: 'swatch', style: { background: x.color } }), ` ${x.name}`)));
}

function frame(title, summary, svgEl, series) {
  return h('figure', { class: 'chart' },
    h('figcaption', {}, title),
    svgEl,
    series ? legendRow(series) : null,
    h('p', { class: 'visually-hidden' }, summary));
}

function svgRoot(summary) {
  return s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, preserveAspectRatio: 'xMidYMid meet' },
    s('title', {}, summary));
}

const integer = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/**
 * Grouped bars: one group per category, one bar per series.
 *
 * @param {{title: string, categories: string[], series: {name: string, color: string, values: number[]}[]}} spec
 */
export function barChart({ title, categories, series, format = integer }) {
  const summary = `${title}: ${categories.map((c, i) => `${c} ${series.map((x) => `${x.name} ${format(x.values[i])}`).join(', ')}`).join('; ')}`;
  const svgEl = svgRoot(summary);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const max = niceMax(Math.max(0, ...series.flatMap((x) => x.values)));
  svgEl.append(yAxis(max, plotH, format));
  const groupW = plotW / Math.max(1, categories.length);
  const barW = Math.min(36, (groupW * 0.8) / series.length);
  categories.forEach((cat, i) => {
    const x0 = PAD.left + i * groupW + (groupW - barW * series.length) / 2;
    series.forEach((x, j) => {
      const v = x.values[i] || 0;
      const bh = (plotH * v) / max;
      svgEl.append(s('rect', { x: x0 + j * barW, y: PAD.top + plotH - bh, width: Math.max(1, barW - 2), height: bh, fill: x.color, rx: 2 },
        s('title', {}, `${cat} · ${x.name}: ${format(v)}`)));
    });
    svgEl.append(s('text', { x: PAD.left + i * groupW + groupW / 2, y: H - PAD.bottom + 16, 'text-anchor': 'middle', class: 'tick' }, cat));
  });
  return frame(title, summary, svgEl, series);
}

/**
 * Lines over consecutive days.
 *
 * @param {{title: string, days: string[], series: {name: string, color: string, values: number[]}[]}} spec
 */
export function lineChart({ title, days, series, format = integer }) {
  const totals = series.map((x) => `${x.name} ${x.values.reduce((a, b) => a + b, 0)}`).join(', ');
  const summary = `${title}, ${days[0]} to ${days.at(-1)}: ${totals}`;
  const svgEl = svgRoot(summary);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const max = niceMax(Math.max(0, ...series.flatMap((x) => x.values)));
  svgEl.append(yAxis(max, plotH, format));
  const step = plotW / Math.max(1, days.length - 1);
  const xy = (i, v) => [PAD.left + i * step, PAD.top + plotH - (plotH * v) / max];
  for (const x of series) {
    const points = x.values.map((v, i) => xy(i, v).join(',')).join(' ');
    svgEl.append(s('polyline', { points, fill: 'none', stroke: x.color, 'stroke-width': 2.5, 'stroke-linejoin': 'round' }));
    x.values.forEach((v, i) => {
      if (!v) return;
      const [cx, cy] = xy(i, v);
      svgEl.append(s('circle', { cx, cy, r: 3.5, fill: x.color }, s('title', {}, `${days[i]} · ${x.name}: ${format(v)}`)));
    });
  }
  const every = Math.max(1, Math.ceil(days.length / 7));
  days.forEach((d, i) => {
    if (i % every === 0 || i === days.length - 1) {
      svgEl.append(s('text', { x: xy(i, 0)[0], y: H - PAD.bottom + 16, 'text-anchor': 'middle', class: 'tick' }, d.slice(5)));
    }
  });
  return frame(title, summary, svgEl, series);
}

/**
 * Horizontal bars of rates (0..1) with their 95 % interval as whiskers.
 *
 * @param {{title: string, rows: {label: string, rate: number|null, low: number|null, high: number|null, n: number}[]}} spec
 */
export function rateChart({ title, rows }) {
  const summary = `${title}: ${rows.map((r) => `${r.label} ${r.rate === null ? 'no verdicts' : `${(r.rate * 100).toFixed(0)} % of ${r.n}`}`).join('; ')}`;
  const rowH = 34;
  const height = Math.max(80, rows.length * rowH + 40);
  const left = 210;
  const plotW = W - left - PAD.right;
  const svgEl = s('svg', { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': summary }, s('title', {}, summary));
  for (let i = 0; i <= 4; i += 1) {
    const x = left + (plotW * i) / 4;
    svgEl.append(s('line', { x1: x, x2: x, y1: 8, y2: height - 26, class: 'grid' }),
      s('text', { x, y: height - 8, 'text-anchor': 'middle', class: 'tick' }, `${i * 25} %`));
  }
  rows.forEach((r, i) => {
    const y = 12 + i * rowH;
    svgEl.append(s('text', { x: left - 8, y: y + 15, 'text-anchor': 'end' }, r.label.length > 26 ? `${r.label.slice(0, 25)}…` : r.label));
    if (r.rate === null) {
      svgEl.append(s('text', { x: left + 4, y: y + 15, class: 'tick' }, 'no field verdicts yet'));
      return;
    }
    svgEl.append(s('rect', { x: left, y, width: plotW * r.rate, height: 20, fill: '#0d9488', rx: 2 },
      s('title', {}, `${r.label}: ${(r.rate * 100).toFixed(1)} % false alarms of ${r.n} verified`)));
    if (r.low !== null && r.high !== null) {
      const x1 = left + plotW * r.low;
      const x2 = left + plotW * r.high;
      svgEl.append(s('line', { x1, x2, y1: y + 10, y2: y + 10, stroke: '#111827', 'stroke-width': 1.5 }),
        s('line', { x1, x2: x1, y1: y + 4, y2: y + 16, stroke: '#111827', 'stroke-width': 1.5 }),
        s('line', { x1: x2, x2, y1: y + 4, y2: y + 16, stroke: '#111827', 'stroke-width': 1.5 }));
    }
  });
  return frame(title, summary, svgEl, null);
}
