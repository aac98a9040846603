// The campaign leader's dashboard: counts, the lifecycle pipeline, coverage per cell as a
// choropleth, the close-out ledger, open rebound alerts and trends drawn as SVG charts.

import { api, query } from './api.js';
import { barChart, lineChart, rateChart } from './charts.js';
import { h, fill, select, spinner, empty } from './dom.js';
import { area, int, pct, when } from './format.js';
import { COVERAGE_CLASSES, L, createMap, gapsLayer, gridLayer, legend } from './map.js';
import { href, replaceParams } from './router.js';
import { STATUSES, STATUS_COLOR, STATUS_LABEL } from './status.js';
import { toast } from './toast.js';

const REFRESH_MS = 30000;
const ACTIVITY_DAYS = 30;
const LEADERS = ['admin', 'analyst'];

function kpi(label, value, note, tone = '') {
  return h('div', { class: `kpi ${tone}` }, h('div', { class: 'kpi-value' }, value), h('div', { class: 'kpi-label' }, label),
    note ? h('div', { class: 'kpi-note' }, note) : null);
}

/** How many plots are in each status: all of them, or those of one campaign's flights. */
async function statusCounts(campaign) {
  const scope = { campaign_id: campaign || null, limit: 1 };
  const counts = await Promise.all(STATUSES.map((status) => api(`/api/suspects${query({ status, ...scope })}`, { quiet: true })
    .then((page) => page.total).catch(() => 0)));
  return Object.fromEntries(STATUSES.map((s, i) => [s, counts[i]]));
}

function pipeline(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (!total) return h('p', { class: 'muted' }, 'No suspects yet.');
  return h('div', {},
    h('div', { class: 'pipeline', role: 'img', 'aria-label': STATUSES.map((s) => `${STATUS_LABEL[s]} ${counts[s]}`).join(', ') },
      STATUSES.filter((s) => counts[s]).map((s) => h('span', {
        style: { flexGrow: String(counts[s]), background: STATUS_COLOR[s] },
        title: `${STATUS_LABEL[s]}: ${counts[s]}`,
      }, counts[s] / total > 0.06 ? String(counts[s]) : ''))),
    h('div', { class: 'chart-legend' }, STATUSES.map((s) => h('span', {},
      h('span', { class: 'swatch', style: { background: STATUS_COLOR[s] } }), ` ${STATUS_LABEL[s]} ${int(counts[s])}`))));
}

function dayKeys(days) {
  const out = [];
  const now = new Date();
  for (let i = days - 1; i >= 0; i -= 1) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - i));
    out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

async function activityChart() {
  const days = dayKeys(ACTIVITY_DAYS);
  const since = `${days[0]}T00:00:00Z`;
  const events = await api(`/api/audit${query({ action: 'plot.transition', since, limit: 5000 })}`, { quiet: true });
  const kinds = [
    ['Reviewed', '#d97706', ['suspect', 'dismissed']],
    ['Dispatched', '#7c3aed', ['dispatched']],
    ['Verified', '#be123c', ['positive', 'false_alarm']],
    ['Eradicated', '#16a34a', ['eradicated']],
  ];
  const index = new Map(days.map((d, i) => [d, i]));
  const series = kinds.map(([name, color]) => ({ name, color, values: days.map(() => 0) }));
  for (const e of events.data) {
    const i = index.get(e.at.slice(0, 10));
    const k = kinds.findIndex(([, , to]) => to.includes(e.to_status));
    if (i !== undefined && k >= 0) series[k].values[i] += 1;
  }
  return lineChart({ title: `Field and review activity, last ${ACTIVITY_DAYS} days (UTC)`, days, series });
}

/** Mount the dashboard. */
export function mount(root, { user, params }) {
  const state = { campaign: params.campaign || '' };
  const campaignSelect = select([['', 'All campaigns']], { 'aria-label': 'Campaign' });
  const updated = h('span', { class: 'muted', 'aria-live': 'polite' });
  const refreshButton = h('button', { class: 'btn btn-small', type: 'button' }, 'Refresh');
  const kpis = h('section', { class: 'kpis', 'aria-label': 'Key figures' });
  const pipelineBox = h('section', { class: 'card', 'aria-labelledby': 'pipe-title' });
  const mapCard = h('section', { class: 'card map-card', 'aria-labelledby': 'cov-title' });
  const ledgerBox = h('section', { class: 'card', 'aria-labelledby': 'ledger-title' });
  const trends = h('section', { class: 'card', 'aria-labelledby': 'trend-title' });
  const alerts = h('section', { class: 'card', 'aria-labelledby': 'alerts-title' });
  fill(root, h('div', { class: 'page page-dashboard' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Dashboard'),
      h('div', { class: 'filters' }, campaignSelect), h('span', { class: 'spacer' }), updated, refreshButton),
    kpis, pipelineBox,
    h('div', { class: 'dash-grid' }, mapCard, ledgerBox),
    trends, alerts));

  const mapEl = h('div', { class: 'dash-map', role: 'region', 'aria-label': 'Coverage per grid cell' });
  const mapNote = h('p', { class: 'muted' });
  fill(mapCard, h('h2', { id: 'cov-title' }, 'Coverage per cell'), mapEl, mapNote);
  const map = createMap(mapEl, { minZoom: 2 });
  map.setView([20, 100], 4);
  const gridGroup = L.layerGroup().addTo(map);
  legend(map, 'Flown and scanned', COVERAGE_CLASSES.map(([, c, t]) => [c, t]), 'bottomleft');
  let fitted = false;

  const scope = () => query({ campaign_id: state.campaign || null });

  async function renderKpis() {
    const [stats, counts, cells, revisits] = await Promise.all([
      api(`/api/stats${query({ group_by: 'month', campaign_id: state.campaign || null })}`),
      statusCounts(state.campaign),
      api(`/api/ledger/cells${scope()}`, { quiet: true }).catch(() => null),
      api(`/api/revisits${query({ due_by: new Date().toISOString().slice(0, 10), not_flown: true })}`, { quiet: true }).catch(() => []),
    ]);
    const t = stats.total;
    fill(kpis,
      kpi('Plots found', int(t.found), `${area(t.area_found_m2)} in total`),
      kpi('Awaiting review', int(counts.new), state.campaign ? "this campaign's flights" : 'all flights', counts.new ? 'tone-warn' : ''),
      kpi('To dispatch', int(counts.suspect), 'reviewed suspects'),
      kpi('In the field', int(counts.dispatched + counts.positive), `${int(counts.positive)} confirmed, not yet eradicated`),
      kpi('Eradicated', int(t.eradicated), `${int(t.plants_eradicated)} plants · ${area(t.area_eradicated_m2)}`, 'tone-ok'),
      kpi('False-alarm rate', t.false_alarm_rate === null ? '—' : pct(t.false_alarm_rate), `${int(t.verified)} verified in the field`),
      kpi('Cells closed out', cells?.count ? `${int(cells.closed_out)} / ${int(cells.count)}` : '—',
        cells?.count ? `${int(cells.surveyed)} surveyed · ${int(cells.outside_grid)} plots outside the grid` : 'no grid imported'),
      kpi('Revisits due', int(revisits.length), 'eradicated plots to fly again', revisits.length ? 'tone-warn' : ''));
    fill(pipelineBox, h('h2', { id: 'pipe-title' }, 'Where every plot is now'), pipeline(counts));
    return stats;
  }

  async function renderCoverage() {
    gridGroup.clearLayers();
    try {
      const [grid, coverage, gaps] = await Promise.all([
        api('/api/grid?level=cell', { quiet: true }),
        api(`/api/coverage${scope()}`, { quiet: true }),
        api(`/api/coverage/gaps${scope()}`, { quiet: true }),
      ]);
      mapEl.hidden = !grid.features.length;
      if (!grid.features.length) {
        mapNote.textContent = 'No grid cells imported yet: an admin imports the territory grid on the Users & setup page.';
        return;
      }
      map.invalidateSize();
      const byCode = new Map(coverage.cells.map((c) => [c.code, c]));
      const cells = gridLayer(grid, byCode, (feature) => {
        window.location.hash = href('map', { campaign: state.campaign });
        toast(`Cell ${feature.properties.code}`, 'info');
      });
      gridGroup.addLayer(cells);
      gridGroup.addLayer(gapsLayer(gaps));
      mapNote.textContent = `${int(coverage.surveyed)} of ${int(coverage.cells.length)} cells surveyed (≥ ${pct(coverage.threshold)} flown and scanned); gaps outlined in red.`;
      if (!fitted) {
        map.fitBounds(cells.getBounds(), { animate: false });
        fitted = true;
      }
    } catch {
      mapNote.textContent = 'Coverage could not be loaded.';
    }
  }

  async function renderLedger() {
    fill(ledgerBox, h('h2', { id: 'ledger-title' }, 'Close-out ledger'), spinner());
    let towns;
    try {
      towns = await api(`/api/ledger/towns${scope()}`, { quiet: true });
    } catch {
      fill(ledgerBox, h('h2', { id: 'ledger-title' }, 'Close-out ledger'), h('p', { class: 'muted' }, 'The ledger could not be loaded.'));
      return;
    }
    const campaign = state.campaign ? { campaign_id: state.campaign } : {};
    const downloads = h('p', { class: 'button-row' },
      h('a', { class: 'btn btn-small', href: `/api/ledger/cells${query({ ...campaign, format: 'csv' })}`, download: '' }, 'Cells CSV'),
      h('a', { class: 'btn btn-small', href: `/api/ledger/cells${query({ ...campaign, format: 'xlsx' })}`, download: '' }, 'Cells XLSX'),
      h('a', { class: 'btn btn-small', href: `/api/ledger/outside${query({ ...campaign, format: 'html' })}`, target: '_blank', rel: 'noopener' }, 'Plots outside the grid'));
    if (!towns.data.length) {
      fill(ledgerBox, h('h2', { id: 'ledger-title' }, 'Close-out ledger'), empty('No towns in the grid yet.'), downloads);
      return;
    }
    const rows = towns.data.map((t) => h('tr', {},
      h('th', { scope: 'row' }, h('a', { href: `/api/ledger/towns/${encodeURIComponent(t.code)}${query({ ...campaign, format: 'html' })}`, target: '_blank', rel: 'noopener' }, t.code), h('div', { class: 'muted small' }, t.name)),
      h('td', { class: 'num' }, `${int(t.cells_surveyed)} / ${int(t.cells)}`),
      h('td', { class: 'num' }, `${int(t.cells_closed_out)} / ${int(t.cells)}`),
      h('td', { class: 'num' }, int(t.open_plots)),
      h('td', {}, t.closed_out ? h('span', { class: 'badge status-done' }, 'closed out') : h('span', { class: 'muted small' }, t.blockers.slice(0, 2).join('; ')))));
    fill(ledgerBox, h('h2', { id: 'ledger-title' }, `Close-out ledger · ${int(towns.closed_out)} of ${int(towns.count)} towns closed out`),
      h('div', { class: 'table-wrap ledger-table' }, h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Town'), h('th', { class: 'num' }, 'Surveyed'), h('th', { class: 'num' }, 'Closed out'), h('th', { class: 'num' }, 'Open plots'), h('th', {}, 'State'))),
        h('tbody', {}, rows))),
      downloads);
  }

  async function renderTrends(stats) {
    const charts = [];
    const months = stats.data.slice().sort((a, b) => a.key.localeCompare(b.key)).slice(-12);
    if (months.length) {
      charts.push(barChart({
        title: 'Plots per month found',
        categories: months.map((m) => m.key),
        series: [
          { name: 'Found', color: '#d97706', values: months.map((m) => m.found) },
          { name: 'Verified positive', color: '#be123c', values: months.map((m) => m.positive) },
          { name: 'False alarm', color: '#0d9488', values: months.map((m) => m.false_alarm) },
          { name: 'Eradicated', color: '#16a34a', values: months.map((m) => m.eradicated) },
        ],
      }));
    }
    if (LEADERS.includes(user.role)) {
      try { charts.push(await activityChart()); } catch { /* no audit access */ }
    }
    try {
      const rates = await api(`/api/stats/false-alarm-rate${scope()}`, { quiet: true });
      if (rates.data.length) {
        charts.push(rateChart({
          title: 'False-alarm rate per model version (95 % interval)',
          rows: rates.data.map((r) => ({ label: r.model_version, rate: r.false_alarm_rate, low: r.ci_low, high: r.ci_high, n: r.verified })),
        }));
      }
    } catch { /* no rates */ }
    fill(trends, h('h2', { id: 'trend-title' }, 'Trends'),
      charts.length ? h('div', { class: 'charts' }, charts) : empty('No plots found yet.'));
  }

  async function renderAlerts() {
    let rebounds = [];
    try { rebounds = await api('/api/rebounds?status=open', { quiet: true }); } catch { /* none */ }
    const title = h('h2', { id: 'alerts-title' }, `Open rebound alerts (${rebounds.length})`);
    if (!rebounds.length) {
      fill(alerts, title, h('p', { class: 'muted' }, 'No new planting found near eradicated plots.'));
      return;
    }
    const rows = rebounds.map((r) => {
      const check = LEADERS.includes(user.role) ? h('button', { class: 'btn btn-small', type: 'button' }, 'Mark checked') : null;
      check?.addEventListener('click', async () => {
        check.disabled = true;
        try {
          await api(`/api/rebounds/${r.id}/check`, { method: 'POST' });
          renderAlerts();
        } catch { check.disabled = false; }
      });
      return h('tr', {},
        h('td', {}, h('a', { href: href('map', { flight: r.flight_id, plot: r.new_plot_id }) }, `Plot ${r.new_plot_id}`)),
        h('td', {}, `${Math.round(r.distance_m)} m from eradicated plot ${r.plot_id}`),
        h('td', {}, when(r.created_at)), h('td', {}, check));
    });
    fill(alerts, title, h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, h('th', {}, 'New plot'), h('th', {}, 'Near'), h('th', {}, 'Raised'), h('th', {}, ''))),
      h('tbody', {}, rows))));
  }

  async function refresh() {
    refreshButton.disabled = true;
    try {
      const stats = await renderKpis();
      await Promise.all([renderCoverage(), renderLedger(), renderTrends(stats), renderAlerts()]);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch {
      updated.textContent = 'Some figures could not be loaded.';
    } finally {
      refreshButton.disabled = false;
    }
  }

  async function loadCampaigns() {
    try {
      const campaigns = await api('/api/campaigns', { quiet: true });
      campaignSelect.replaceChildren(h('option', { value: '' }, 'All campaigns'),
        ...campaigns.data.map((c) => h('option', { value: String(c.id) }, `${c.name} (${c.year})`)));
      campaignSelect.value = state.campaign;
    } catch { /* all campaigns only */ }
  }

  campaignSelect.addEventListener('change', () => {
    state.campaign = campaignSelect.value;
    replaceParams({ campaign: state.campaign });
    fitted = false;
    refresh();
  });
  refreshButton.addEventListener('click', refresh);
  const timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  loadCampaigns().then(refresh);

  return () => {
    clearInterval(timer);
    map.remove();
  };
}
