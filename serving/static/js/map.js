// Leaflet maps and their layers: the flight's own orthomosaic (tiles rendered by this
// server from the GeoTIFF), suspects, grid cells as a coverage choropleth, coverage gaps,
// rebound alerts. No layer loads anything from outside this server.

import * as L from '/static/vendor/leaflet/leaflet-src.esm.js';
import { h } from './dom.js';
import { area, label, pct } from './format.js';
import { STATUS_COLOR, STATUS_LABEL } from './status.js';

export { L };

// Leaflet puts a string tooltip in with innerHTML: give it an element holding plain text,
// so names from grid files and flight forms can never inject markup.
function tip(text) {
  return h('span', {}, text);
}

// A 1x1 transparent GIF for tiles the server answers "no data here" (204).
const EMPTY_TILE = 'data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';
// Web Mercator metres per pixel at zoom 0 on the equator (256 px tiles).
const MERCATOR_M_PER_PX = 156543.034;

/** A map in ``el`` with a scale bar; no base layer (the flight brings its own). */
export function createMap(el, options = {}) {
  const map = L.map(el, {
    attributionControl: false,
    maxZoom: 24,
    minZoom: 2,
    zoomSnap: 0.5,
    ...options,
  });
  L.control.scale({ imperial: false }).addTo(map);
  // Grid cells and gaps lie between the imagery and the suspects, so suspects stay clickable.
  map.createPane('cells').style.zIndex = '350';
  return map;
}

/** The tile zoom whose pixels are about ``gsdM`` metres at latitude ``lat``. */
export function nativeZoom(gsdM, lat) {
  const z = Math.log2((MERCATOR_M_PER_PX * Math.cos((lat * Math.PI) / 180)) / gsdM);
  return Math.max(0, Math.min(24, Math.ceil(z)));
}

/** ``[w, s, e, n]`` degrees as Leaflet bounds. */
export function bboxBounds(bbox) {
  const [w, s, e, n] = bbox;
  return L.latLngBounds([[s, w], [n, e]]);
}

/**
 * The flight's orthomosaic as a tile layer. With the flight's record (``bbox``, ``gsd_m``)
 * tiles are only asked for inside the flight and from a zoom where they are cheap to render.
 */
export function orthoLayer(flightId, flight = null) {
  const options = { maxZoom: 24, errorTileUrl: EMPTY_TILE, className: 'ortho-tiles', keepBuffer: 1 };
  if (flight?.bbox) {
    const lat = (flight.bbox[1] + flight.bbox[3]) / 2;
    const native = nativeZoom(flight.gsd_m || 0.05, lat);
    options.maxNativeZoom = native;
    options.minZoom = Math.max(0, native - 7);
    options.bounds = bboxBounds(flight.bbox).pad(0.02);
  } else {
    options.maxNativeZoom = 22;
    options.minZoom = 14;
  }
  return L.tileLayer(`/api/flights/${flightId}/tiles/{z}/{x}/{y}.png`, options);
}

/** Flight outlines (GeoJSON footprints) with their names. */
export function footprintsLayer(flights, onClick) {
  const group = L.featureGroup();
  for (const flight of flights) {
    if (!flight.footprint) continue;
    const layer = L.geoJSON(flight.footprint, {
      style: { color: '#0f766e', weight: 2, dashArray: '6 4', fillOpacity: 0.04 },
    });
    layer.bindTooltip(tip(flight.name || `Flight ${flight.id}`), { sticky: true });
    if (onClick) layer.on('click', () => onClick(flight));
    group.addLayer(layer);
  }
  return group;
}

function suspectTooltip(p) {
  return `Plot ${p.id} · ${label(p.class_name)} · ${STATUS_LABEL[p.status] || p.status} · ${Math.round(p.confidence * 100)} %`;
}

/**
 * Suspects as outlines plus a dot at each centroid (tiny plots stay visible zoomed out).
 * Returns ``{layer, select(id)}``; ``onClick(feature)`` runs when one is clicked.
 */
export function suspectsLayer(features, onClick) {
  const layer = L.featureGroup();
  const dots = new Map();
  for (const feature of features) {
    const p = feature.properties;
    const color = STATUS_COLOR[p.status] || '#334155';
    const outline = L.geoJSON(feature.geometry, {
      style: { color, weight: 2, fillColor: color, fillOpacity: 0.18 },
    });
    const dot = L.circleMarker([p.centroid_lat, p.centroid_lon], {
      radius: 6, color: '#fff', weight: 2, fillColor: color, fillOpacity: 1,
    });
    for (const part of [outline, dot]) {
      part.bindTooltip(tip(suspectTooltip(p)), { sticky: true });
      part.on('click', () => onClick?.(feature));
      layer.addLayer(part);
    }
    dots.set(feature.id, dot);
  }
  let selected = null;
  function select(id) {
    if (selected) selected.setStyle({ radius: 6, color: '#fff', weight: 2 });
    selected = dots.get(id) || null;
    if (selected) {
      selected.setStyle({ radius: 10, color: '#111827', weight: 3 });
      selected.bringToFront();
    }
  }
  return { layer, select };
}

// Coverage share (0..1) -> colour, light to dark green; unflown cells are pale red.
export const COVERAGE_CLASSES = [
  [0, '#fde2e2', 'not flown'],
  [0.01, '#f7fcb9', '1–25 %'],
  [0.25, '#c2e699', '25–50 %'],
  [0.5, '#78c679', '50–75 %'],
  [0.75, '#31a354', '75–95 %'],
  [0.95, '#006837', '≥ 95 %'],
];

export function coverageColor(share) {
  let color = COVERAGE_CLASSES[0][1];
  for (const [from, c] of COVERAGE_CLASSES) if (share >= from) color = c;
  return color;
}

/**
 * Grid cells coloured by coverage share (``coverage`` from /api/coverage, by code);
 * ``opacity`` is the fill's (lighter over imagery).
 */
export function gridLayer(grid, coverageByCode, onClick, opacity = 0.55) {
  return L.geoJSON(grid, {
    pane: 'cells',
    style: (feature) => {
      const cov = coverageByCode?.get(feature.properties.code);
      return {
        color: '#334155',
        weight: 1,
        fillColor: cov ? coverageColor(cov.share) : '#e2e8f0',
        fillOpacity: cov ? opacity : 0.15,
      };
    },
    onEachFeature: (feature, layer) => {
      const cov = coverageByCode?.get(feature.properties.code);
      const name = feature.properties.name ? ` ${feature.properties.name}` : '';
      const share = cov ? ` · ${pct(cov.share)} flown${cov.surveyed ? '' : ' (not surveyed)'}` : '';
      layer.bindTooltip(tip(`${feature.properties.code}${name}${share} · ${area(feature.properties.area_m2)}`), { sticky: true });
      if (onClick) layer.on('click', () => onClick(feature, cov));
    },
  });
}

/** The unflown parts of under-surveyed cells. */
export function gapsLayer(gaps, opacity = 0.25) {
  return L.geoJSON(gaps, {
    pane: 'cells',
    style: { color: '#b91c1c', weight: 2, dashArray: '4 4', fillColor: '#ef4444', fillOpacity: opacity },
    onEachFeature: (feature, layer) => {
      const p = feature.properties;
      layer.bindTooltip(tip(`Gap in ${p.code}${p.name ? ` ${p.name}` : ''}: ${pct(p.share)} flown`), { sticky: true });
    },
  });
}

/** Rebound alerts at the new plot's centroid (``plotsById``: id -> feature). */
export function reboundsLayer(alerts, plotsById, onClick) {
  const group = L.featureGroup();
  const icon = L.divIcon({ className: 'rebound-icon', html: '!', iconSize: [22, 22] });
  for (const alert of alerts) {
    const plot = plotsById.get(alert.new_plot_id);
    if (!plot) continue;
    const p = plot.properties;
    const marker = L.marker([p.centroid_lat, p.centroid_lon], { icon, keyboard: true, title: `Rebound alert ${alert.id}` });
    marker.bindTooltip(tip(`Rebound (${alert.status}): plot ${alert.new_plot_id}, ${Math.round(alert.distance_m)} m from eradicated plot ${alert.plot_id}`));
    if (onClick) marker.on('click', () => onClick(plot));
    group.addLayer(marker);
  }
  return group;
}

/** A legend box in a map corner; ``rows`` are ``[colour, text]``. */
export function legend(map, title, rows, position = 'bottomright') {
  const control = L.control({ position });
  control.onAdd = () => h('div', { class: 'map-legend' },
    h('strong', {}, title),
    rows.map(([color, text]) => h('div', { class: 'legend-row' },
      h('span', { class: 'swatch', style: { background: color } }), text)));
  control.addTo(map);
  return control;
}
