// The map: each flight's own orthomosaic as the base layer, with suspects, grid cells
// coloured by coverage, coverage gaps and rebound alerts on top. Click a suspect for its
// chip, numbers and history.

import { api, allSuspects, query } from './api.js';
import { h, fill, select } from './dom.js';
import { int } from './format.js';
import {
  COVERAGE_CLASSES, L, bboxBounds, createMap, footprintsLayer, gapsLayer, gridLayer,
  legend, orthoLayer, reboundsLayer, suspectsLayer,
} from './map.js';
import { replaceParams } from './router.js';
import { STATUSES, STATUS_LABEL } from './status.js';
import { showSuspect } from './suspect-panel.js';

const SUSPECT_READERS = ['admin', 'analyst', 'researcher'];
const MAX_ORTHO_LAYERS = 40;

/** Mount the map page. */
export function mount(root, { user, params }) {
  const canSeeSuspects = SUSPECT_READERS.includes(user.role);
  const state = {
    flight: params.flight || '',
    campaign: params.campaign || '',
    plot: params.plot ? Number(params.plot) : null,
    statuses: new Set(STATUSES),
    flights: [],
    features: [],
  };

  const flightSelect = select([['', 'All flights']], { 'aria-label': 'Flight' });
  const campaignSelect = select([['', 'All campaigns']], { 'aria-label': 'Campaign (coverage)' });
  const toggles = {};
  const toggle = (id, text, on = true) => {
    toggles[id] = h('input', { type: 'checkbox', checked: on });
    return h('label', { class: 'check' }, toggles[id], text);
  };
  const statusBoxes = STATUSES.map((s) => {
    const box = h('input', { type: 'checkbox', checked: true, value: s });
    box.addEventListener('change', () => {
      if (box.checked) state.statuses.add(s); else state.statuses.delete(s);
      drawSuspects();
    });
    return h('label', { class: 'check' }, box, h('span', { class: `badge status-${s}` }, STATUS_LABEL[s]));
  });
  const summary = h('p', { class: 'muted map-summary', 'aria-live': 'polite' });
  const panel = h('aside', { class: 'map-panel card', hidden: true, 'aria-label': 'Suspect details' });
  const sidebar = h('aside', { class: 'map-sidebar', 'aria-label': 'Map layers' },
    h('h1', {}, 'Map'),
    h('div', { class: 'field' }, h('label', { class: 'field-label' }, 'Flight'), flightSelect),
    h('div', { class: 'field' }, h('label', { class: 'field-label' }, 'Coverage of'), campaignSelect),
    h('fieldset', {}, h('legend', {}, 'Layers'),
      toggle('ortho', 'Orthomosaic'),
      toggle('footprints', 'Flight outlines'),
      canSeeSuspects ? toggle('suspects', 'Suspects') : null,
      toggle('grid', 'Grid cells (coverage)'),
      toggle('gaps', 'Coverage gaps'),
      canSeeSuspects ? toggle('rebounds', 'Rebound alerts') : null),
    canSeeSuspects ? h('fieldset', { class: 'status-filter' }, h('legend', {}, 'Suspect status'), statusBoxes) : null,
    summary);
  const mapEl = h('div', { class: 'map-canvas', role: 'region', 'aria-label': 'Map' });
  fill(root, h('div', { class: 'page page-map' }, sidebar, h('div', { class: 'map-main' }, mapEl, panel)));

  const map = createMap(mapEl);
  map.setView([20, 100], 4);
  const layers = { ortho: L.layerGroup(), footprints: L.layerGroup(), suspects: L.layerGroup(), grid: L.layerGroup(), gaps: L.layerGroup(), rebounds: L.layerGroup() };
  for (const [id, layer] of Object.entries(layers)) {
    if (toggles[id]) {
      layer.addTo(map);
      toggles[id].addEventListener('change', () => (toggles[id].checked ? layer.addTo(map) : layer.remove()));
    }
  }
  let coverageLegend = null;
  let suspects = null;

  function openPanel(id) {
    state.plot = id;
    panel.hidden = false;
    suspects?.select(id);
    replaceParams({ flight: state.flight, campaign: state.campaign, plot: id });
    showSuspect(panel, id, {
      user,
      onChange: () => loadSuspects(),
      onClose: () => {
        panel.hidden = true;
        state.plot = null;
        suspects?.select(null);
        replaceParams({ flight: state.flight, campaign: state.campaign });
      },
    });
  }

  function drawSuspects() {
    layers.suspects.clearLayers();
    const shown = state.features.filter((f) => state.statuses.has(f.properties.status));
    suspects = suspectsLayer(shown, (f) => openPanel(f.id));
    layers.suspects.addLayer(suspects.layer);
    if (state.plot) suspects.select(state.plot);
    summary.textContent = `${int(shown.length)} of ${int(state.features.length)} suspects shown.`;
  }

  async function loadSuspects() {
    if (!canSeeSuspects) return;
    const { features } = await allSuspects({ flight_id: state.flight || null });
    state.features = features;
    drawSuspects();
    await loadRebounds();
  }

  async function loadRebounds() {
    layers.rebounds.clearLayers();
    try {
      const alerts = await api('/api/rebounds', { quiet: true });
      const byId = new Map(state.features.map((f) => [f.id, f]));
      layers.rebounds.addLayer(reboundsLayer(alerts, byId, (f) => openPanel(f.id)));
    } catch { /* no alerts layer */ }
  }

  function drawFlights() {
    layers.ortho.clearLayers();
    layers.footprints.clearLayers();
    const chosen = state.flight ? state.flights.filter((f) => String(f.id) === state.flight) : state.flights.slice(0, MAX_ORTHO_LAYERS);
    for (const flight of chosen) layers.ortho.addLayer(orthoLayer(flight.id, flight));
    layers.footprints.addLayer(footprintsLayer(chosen, (flight) => {
      flightSelect.value = String(flight.id);
      flightSelect.dispatchEvent(new Event('change'));
    }));
    if (chosen.length && !state.plot) {
      const bounds = chosen.reduce((b, f) => b.extend(bboxBounds(f.bbox)), bboxBounds(chosen[0].bbox));
      map.fitBounds(bounds, { maxZoom: 21, animate: false });
    }
  }

  async function loadCoverage() {
    layers.grid.clearLayers();
    layers.gaps.clearLayers();
    const scope = query({ campaign_id: state.campaign || null });
    try {
      const [grid, coverage, gaps] = await Promise.all([
        api('/api/grid?level=cell', { quiet: true }),
        api(`/api/coverage${scope}`, { quiet: true }),
        api(`/api/coverage/gaps${scope}`, { quiet: true }),
      ]);
      const byCode = new Map(coverage.cells.map((c) => [c.code, c]));
      layers.grid.addLayer(gridLayer(grid, byCode, null, 0.2));
      if (grid.features.length && !coverageLegend) {
        coverageLegend = legend(map, 'Cell coverage', COVERAGE_CLASSES.map(([, c, t]) => [c, t]), 'bottomleft');
      }
      layers.gaps.addLayer(gapsLayer(gaps, 0.08));
    } catch { /* no grid imported yet */ }
  }

  async function loadFlights() {
    const [flights, campaigns] = await Promise.all([
      api('/api/flights?limit=500'),
      api('/api/campaigns', { quiet: true }).catch(() => ({ data: [] })),
    ]);
    state.flights = flights.data;
    const campaignNames = new Map(campaigns.data.map((c) => [c.id, c.name]));
    const flightLabel = (f) => {
      const campaign = campaignNames.get(f.campaign_id);
      return campaign ? `${f.name} (#${f.id}) · ${campaign}` : `${f.name} (#${f.id})`;
    };
    flightSelect.replaceChildren(h('option', { value: '' }, `All flights (${flights.count})`),
      ...flights.data.map((f) => h('option', { value: String(f.id) }, flightLabel(f))));
    flightSelect.value = state.flight;
    campaignSelect.replaceChildren(h('option', { value: '' }, 'All campaigns'),
      ...campaigns.data.map((c) => h('option', { value: String(c.id) }, `${c.name} (${c.year})`)));
    campaignSelect.value = state.campaign;
  }

  flightSelect.addEventListener('change', () => {
    state.flight = flightSelect.value;
    state.plot = null;
    panel.hidden = true;
    replaceParams({ flight: state.flight, campaign: state.campaign });
    drawFlights();
    loadSuspects();
  });
  campaignSelect.addEventListener('change', () => {
    state.campaign = campaignSelect.value;
    replaceParams({ flight: state.flight, campaign: state.campaign, plot: state.plot });
    loadCoverage();
  });

  (async () => {
    await loadFlights();
    drawFlights();
    await Promise.all([loadSuspects(), loadCoverage()]);
    if (state.plot) {
      const feature = state.features.find((f) => f.id === state.plot);
      if (feature) map.setView([feature.properties.centroid_lat, feature.properties.centroid_lon], 21, { animate: false });
      openPanel(state.plot);
    }
  })();

  return () => map.remove();
}
