// The patrol's page, made for a phone: my assignments on a map and as a list in route
// order, navigation links, downloads, and the report form for each plot. The server's route
// covers all of a unit's open work: plots to verify (dispatched) and to eradicate (positive).

import { api, allSuspects, query } from './api.js';
import { h, fill, empty, spinner } from './dom.js';
import { area, distance, haversine, int, label, latlon, plural } from './format.js';
import { follow, geoUri, lastPosition, locate } from './geo.js';
import { L, createMap, orthoLayer } from './map.js';
import { fieldMoves, openReport } from './report-form.js';
import { replaceParams } from './router.js';
import { STATUS_LABEL, badge } from './status.js';
import { toast } from './toast.js';
import { unitPicker } from './units.js';

/** Order ``features`` by nearest neighbour from ``start`` (lat/lon), when no route could be planned. */
function nearestFirst(features, start) {
  const left = [...features];
  const out = [];
  let here = start;
  while (left.length) {
    let best = 0;
    let bestD = Infinity;
    left.forEach((f, i) => {
      const d = haversine(here.lat, here.lon, f.properties.centroid_lat, f.properties.centroid_lon);
      if (d < bestD) { best = i; bestD = d; }
    });
    const [f] = left.splice(best, 1);
    out.push({ feature: f, leg_m: bestD });
    here = { lat: f.properties.centroid_lat, lon: f.properties.centroid_lon };
  }
  return out;
}

function centre(features) {
  const n = features.length;
  return {
    lat: features.reduce((s, f) => s + f.properties.centroid_lat, 0) / n,
    lon: features.reduce((s, f) => s + f.properties.centroid_lon, 0) / n,
  };
}

/** Mount the patrol page. */
export function mount(root, { user, params }) {
  const isPatrol = user.role === 'patrol';
  const state = { unit: isPatrol ? user.unit : (params.unit || ''), here: lastPosition(), stops: [], exports: {} };
  const headline = h('p', { class: 'patrol-summary', 'aria-live': 'polite' });
  const whereText = h('span', {});
  const locateButton = h('button', { class: 'btn btn-small', type: 'button' }, 'Locate me');
  const mapEl = h('div', { class: 'patrol-map', role: 'region', 'aria-label': 'Map of my assignments' });
  const downloadLinks = h('div', { class: 'button-row' });
  const downloads = h('details', { class: 'downloads' },
    h('summary', {}, 'Downloads: GPX, KML, printable sheet'), downloadLinks);
  const list = h('ol', { class: 'stop-list', 'aria-label': 'Assignments in route order' });
  let unitForm = null;
  if (!isPatrol) {
    const unit = unitPicker({ value: state.unit });
    const go = h('button', { class: 'btn btn-small', type: 'submit' }, 'Show');
    unitForm = h('form', { class: 'inline-form' }, unit.element, go);
    unitForm.addEventListener('submit', (e) => {
      e.preventDefault();
      state.unit = unit.value;
      replaceParams({ unit: state.unit });
      load();
    });
  }
  fill(root, h('div', { class: 'page page-patrol' },
    h('div', { class: 'page-head' }, h('h1', {}, isPatrol ? `My patrol · ${user.unit || 'no unit'}` : 'Patrol view'), unitForm),
    headline,
    h('p', { class: 'position-bar' }, whereText, ' ', locateButton),
    mapEl,
    downloads,
    list));

  const map = createMap(mapEl, { zoomSnap: 1 });
  map.setView([20, 100], 4);
  const orthos = L.layerGroup().addTo(map);
  const overlay = L.layerGroup().addTo(map);
  const shownOrthos = new Map();
  let meMarker = null;

  function showHere() {
    if (!state.here) {
      whereText.textContent = 'Your position is not known yet.';
      return;
    }
    const acc = state.here.accuracy_m ? ` ±${Math.round(state.here.accuracy_m)} m` : '';
    whereText.textContent = `You: ${latlon(state.here.lat, state.here.lon)}${acc}`;
    const icon = L.divIcon({ className: 'me-icon', iconSize: [18, 18] });
    if (!meMarker) meMarker = L.marker([state.here.lat, state.here.lon], { icon, title: 'You are here', keyboard: false }).addTo(map);
    else meMarker.setLatLng([state.here.lat, state.here.lon]);
    for (const item of list.querySelectorAll('[data-lat]')) {
      const d = haversine(state.here.lat, state.here.lon, Number(item.dataset.lat), Number(item.dataset.lon));
      item.textContent = `${distance(d)} from you`;
    }
  }

  function card(stop, number) {
    const p = stop.feature.properties;
    const canReport = fieldMoves(stop.feature).length > 0;
    const report = canReport ? h('button', { class: 'btn btn-primary', type: 'button' }, p.status === 'positive' ? 'Report eradication' : 'Report') : null;
    report?.addEventListener('click', () => openReport(stop.feature, {
      position: state.here,
      onDone: (result, outcome) => {
        toast(`Plot ${p.id}: ${STATUS_LABEL[outcome.to]}. Thank you.`, 'success');
        load();
      },
    }));
    const away = state.here
      ? h('span', { dataset: { lat: p.centroid_lat, lon: p.centroid_lon } }, `${distance(haversine(state.here.lat, state.here.lon, p.centroid_lat, p.centroid_lon))} from you`)
      : null;
    return h('li', { class: `stop-card stop-${p.status}`, id: `stop-${p.id}` },
      h('div', { class: `stop-num ${p.status}`, 'aria-hidden': 'true' }, String(number)),
      p.chip_url ? h('img', { class: 'stop-chip', src: p.chip_url, alt: `Evidence chip of plot ${p.id}`, loading: 'lazy' }) : null,
      h('div', { class: 'stop-body' },
        h('h2', {}, h('span', { class: 'visually-hidden' }, `Stop ${number}: `), `Plot ${p.id} · ${label(p.class_name)} `, badge(h, p.status)),
        h('p', { class: 'muted' },
          `${plural(p.plant_count, 'plant')} detected · ${area(p.area_m2)}`,
          stop.leg_m !== undefined ? ` · leg ${distance(stop.leg_m)}` : '', away ? ' · ' : '', away),
        h('p', { class: 'coords' }, latlon(p.centroid_lat, p.centroid_lon)),
        h('div', { class: 'button-row' },
          h('a', { class: 'btn', href: geoUri(p.centroid_lat, p.centroid_lon, `Plot ${p.id}`) }, 'Navigate'),
          report)));
  }

  function drawMap(features, start) {
    overlay.clearLayers();
    // Keep the imagery of flights already shown: re-adding would fetch every tile again.
    const wanted = new Set(features.map((f) => f.properties.flight_id));
    for (const [flightId, layer] of shownOrthos) {
      if (!wanted.has(flightId)) { orthos.removeLayer(layer); shownOrthos.delete(flightId); }
    }
    for (const flightId of wanted) {
      if (!shownOrthos.has(flightId)) {
        const layer = orthoLayer(flightId);
        shownOrthos.set(flightId, layer);
        orthos.addLayer(layer);
      }
    }
    const points = state.stops.map((s) => [s.feature.properties.centroid_lat, s.feature.properties.centroid_lon]);
    if (points.length) {
      const line = [[start.lat, start.lon], ...points];
      overlay.addLayer(L.polyline(line, { color: '#7c3aed', weight: 4, opacity: 0.8, dashArray: '8 6' }));
    }
    state.stops.forEach((s, i) => {
      const p = s.feature.properties;
      overlay.addLayer(L.geoJSON(s.feature.geometry, { style: { color: '#fde047', weight: 2, fillOpacity: 0.1 } }));
      const icon = L.divIcon({ className: `stop-icon ${p.status}`, html: String(i + 1), iconSize: [26, 26] });
      const marker = L.marker([p.centroid_lat, p.centroid_lon], { icon, title: `Stop ${i + 1}: plot ${p.id}` });
      marker.on('click', () => document.getElementById(`stop-${p.id}`)?.scrollIntoView({ behavior: 'smooth', block: 'center' }));
      overlay.addLayer(marker);
    });
    const bounds = L.latLngBounds(points);
    if (state.here) bounds.extend([state.here.lat, state.here.lon]);
    if (bounds.isValid()) map.fitBounds(bounds.pad(0.15), { maxZoom: 20, animate: false });
  }

  function drawDownloads() {
    const unitQuery = isPatrol ? '' : query({ unit: state.unit });
    const links = [];
    if (state.exports.gpx) {
      links.push(h('a', { class: 'btn btn-small', href: state.exports.gpx, download: '' }, 'Route GPX'),
        h('a', { class: 'btn btn-small', href: state.exports.kml, download: '' }, 'Route KML'),
        h('a', { class: 'btn btn-small', href: state.exports.html, target: '_blank', rel: 'noopener' }, 'Printable sheet'));
    }
    links.push(h('a', { class: 'btn btn-small', href: `/api/exports/assignment.gpx${unitQuery}`, download: '' }, 'All work GPX'),
      h('a', { class: 'btn btn-small', href: `/api/exports/assignment.kml${unitQuery}`, download: '' }, 'All work KML'));
    fill(downloadLinks, ...links);
  }

  async function load() {
    if (!state.unit) {
      fill(list, empty(isPatrol ? 'Your account has no patrol unit.' : 'Choose a patrol unit.',
        isPatrol ? h('p', {}, 'Ask an admin to set your unit.') : null));
      return;
    }
    fill(list, spinner('Loading your assignments…'));
    let features;
    try {
      ({ features } = await allSuspects({ status: ['dispatched', 'positive'], assigned_unit: isPatrol ? null : state.unit }));
    } catch {
      fill(list, empty('Your assignments could not be loaded.'));
      return;
    }
    if (!features.length) {
      state.stops = [];
      headline.textContent = 'Nothing assigned to your unit right now.';
      fill(list, empty('No assignments.', h('p', {}, 'New dispatches appear here.')));
      drawMap([], state.here || { lat: 0, lon: 0 });
      drawDownloads();
      return;
    }
    const start = state.here || centre(features);
    const toVerify = features.filter((f) => f.properties.status === 'dispatched');
    const toEradicate = features.filter((f) => f.properties.status === 'positive');
    state.exports = {};
    let total;
    try {
      const body = { start_lon: start.lon, start_lat: start.lat };
      if (!isPatrol) body.unit = state.unit;
      const route = await api('/api/routes', { json: body, quiet: true });
      const byId = new Map(features.map((f) => [f.id, f]));
      state.stops = route.stops.map((s) => ({ feature: byId.get(s.plot_id), leg_m: s.leg_m })).filter((s) => s.feature);
      state.exports = route.exports;
      total = route.total_m;
    } catch (err) {
      toast(`The route could not be planned (${err.message}); plots are listed nearest first.`, 'warning');
      state.stops = nearestFirst(features, start);
      total = state.stops.reduce((sum, x) => sum + x.leg_m, 0);
    }
    headline.textContent = `${int(toVerify.length)} to verify · ${int(toEradicate.length)} to eradicate · route ${distance(total)}`;
    fill(list, ...state.stops.map((s, i) => card(s, i + 1)));
    drawMap(features, start);
    drawDownloads();
    showHere();
  }

  locateButton.addEventListener('click', async () => {
    locateButton.disabled = true;
    try {
      state.here = await locate({ maximumAgeMs: 5000 });
      showHere();
      load();
    } catch (err) {
      toast(err.message, 'warning');
    } finally {
      locateButton.disabled = false;
    }
  });

  const stopFollowing = follow((pos) => {
    const first = !state.here;
    state.here = pos;
    showHere();
    if (first) load();
  });
  showHere();
  (async () => {
    if (!state.here) {
      try { state.here = await locate({ timeoutMs: 4000 }); } catch { /* plan from the plots' centre */ }
    }
    load();
  })();

  return () => {
    stopFollowing();
    map.remove();
  };
}
