// Dispatch: send reviewed suspects to a patrol unit, follow what is in the field, and close
// plots that came back (eradicated or false alarm).

import { api, allSuspects, query } from './api.js';
import { h, fill, empty, spinner } from './dom.js';
import { area, int, label, pct, when } from './format.js';
import { href } from './router.js';
import { badge } from './status.js';
import { toast } from './toast.js';
import { rememberUnit, unitPicker } from './units.js';

const PARALLEL = 4;

/** Run ``task`` over ``items`` with at most PARALLEL at a time; returns the failures. */
async function runAll(items, task, onProgress) {
  const failures = [];
  let next = 0;
  let done = 0;
  async function worker() {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      try {
        await task(item);
      } catch (err) {
        failures.push([item, err]);
      }
      done += 1;
      onProgress?.(done, items.length);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return failures;
}

function thumb(p) {
  return p.chip_url
    ? h('img', { class: 'thumb', src: p.chip_url, alt: `Chip of plot ${p.id}`, loading: 'lazy', width: 56, height: 56 })
    : h('span', { class: 'thumb' });
}

function mapLink(p) {
  return h('a', { href: href('map', { flight: p.flight_id, plot: p.id }) }, `Plot ${p.id}`);
}

function centre(features) {
  const n = features.length;
  return {
    lon: features.reduce((s, f) => s + f.properties.centroid_lon, 0) / n,
    lat: features.reduce((s, f) => s + f.properties.centroid_lat, 0) / n,
  };
}

/** Mount the dispatch page. */
export function mount(root) {
  const readyBox = h('section', { class: 'card', 'aria-labelledby': 'ready-title' });
  const fieldBox = h('section', { class: 'card', 'aria-labelledby': 'field-title' });
  const backBox = h('section', { class: 'card', 'aria-labelledby': 'back-title' });
  fill(root, h('div', { class: 'page page-dispatch' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Dispatch')),
    readyBox, fieldBox, backBox));

  async function renderReady() {
    fill(readyBox, h('h2', { id: 'ready-title' }, 'Ready to dispatch'), spinner());
    const { features } = await allSuspects({ status: 'suspect' });
    if (!features.length) {
      fill(readyBox, h('h2', { id: 'ready-title' }, 'Ready to dispatch'),
        empty('No reviewed suspects are waiting.', h('p', {}, h('a', { href: href('review') }, 'Review new suspects'))));
      return;
    }
    const boxes = new Map();
    const all = h('input', { type: 'checkbox', checked: true, 'aria-label': 'Select all' });
    const rows = features.map((f) => {
      const p = f.properties;
      const box = h('input', { type: 'checkbox', checked: true, 'aria-label': `Select plot ${p.id}` });
      boxes.set(f, box);
      return h('tr', {},
        h('td', {}, box), h('td', {}, thumb(p)), h('td', {}, mapLink(p)),
        h('td', {}, label(p.class_name)), h('td', { class: 'num' }, pct(p.confidence)),
        h('td', { class: 'num' }, int(p.plant_count)), h('td', { class: 'num' }, area(p.area_m2)),
        h('td', {}, `#${p.flight_id}`), h('td', {}, when(p.created_at)));
    });
    const unit = unitPicker({ id: 'dispatch-unit' });
    const count = () => [...boxes.values()].filter((b) => b.checked).length;
    const send = h('button', { class: 'btn btn-primary', type: 'submit' });
    const status = h('span', { class: 'muted', 'aria-live': 'polite' });
    const update = () => { send.textContent = `Dispatch ${count()} selected`; send.disabled = count() === 0; };
    all.addEventListener('change', () => { for (const b of boxes.values()) b.checked = all.checked; update(); });
    for (const b of boxes.values()) b.addEventListener('change', update);
    update();
    const form = h('form', { class: 'inline-form dispatch-form' },
      h('label', { for: 'dispatch-unit' }, 'Patrol unit'), unit.element, send, status);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const to = unit.value;
      if (!to) return;
      const chosen = features.filter((f) => boxes.get(f).checked);
      send.disabled = true;
      const failures = await runAll(chosen,
        (f) => api(`/api/suspects/${f.id}/transitions`, { json: { to_status: 'dispatched', assigned_unit: to }, quiet: true }),
        (done, total) => { status.textContent = `Dispatching ${done} of ${total}…`; });
      rememberUnit(to);
      const sent = chosen.length - failures.length;
      if (sent) toast(`${sent} plot(s) dispatched to ${to}.`, 'success');
      for (const [f, err] of failures.slice(0, 3)) toast(`Plot ${f.id} was not dispatched: ${err.message}`, 'error');
      if (failures.length > 3) toast(`${failures.length - 3} more plot(s) were not dispatched.`, 'error');
      refresh();
    });
    fill(readyBox,
      h('h2', { id: 'ready-title' }, `Ready to dispatch (${features.length})`),
      form,
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, h('th', {}, all), h('th', {}, 'Chip'), h('th', {}, 'Plot'), h('th', {}, 'Class'),
          h('th', { class: 'num' }, 'Confidence'), h('th', { class: 'num' }, 'Plants'), h('th', { class: 'num' }, 'Area'),
          h('th', {}, 'Flight'), h('th', {}, 'Found'))),
        h('tbody', {}, rows))));
  }

  // The unit's route covers all its open work: plots to verify and positives to eradicate.
  async function unitLinks(unit, features) {
    const links = [];
    if (features.length) {
      const start = centre(features);
      try {
        const route = await api('/api/routes', { json: { unit, start_lon: start.lon, start_lat: start.lat }, quiet: true });
        links.push(h('a', { class: 'btn btn-small', href: route.exports.html, target: '_blank', rel: 'noopener' }, 'Printable sheet'),
          h('a', { class: 'btn btn-small', href: route.exports.gpx, download: '' }, 'Route GPX'),
          h('a', { class: 'btn btn-small', href: route.exports.kml, download: '' }, 'Route KML'));
      } catch { /* no route links */ }
    }
    links.push(h('a', { class: 'btn btn-small', href: `/api/exports/assignment.gpx${query({ unit })}`, download: '' }, 'All open work GPX'));
    return links;
  }

  async function renderField() {
    fill(fieldBox, h('h2', { id: 'field-title' }, 'In the field'), spinner());
    const { features } = await allSuspects({ status: ['dispatched', 'positive'] });
    const byUnit = new Map();
    for (const f of features) {
      const unit = f.properties.assigned_unit;
      if (!byUnit.has(unit)) byUnit.set(unit, []);
      byUnit.get(unit).push(f);
    }
    if (!byUnit.size) {
      fill(fieldBox, h('h2', { id: 'field-title' }, 'In the field'), h('p', { class: 'muted' }, 'No plots are out with patrols.'));
      return;
    }
    const rows = [];
    for (const [unit, list] of [...byUnit.entries()].sort()) {
      const linkCell = h('td', { class: 'button-row' });
      unitLinks(unit, list).then((links) => linkCell.replaceChildren(...links));
      rows.push(h('tr', {},
        h('th', { scope: 'row' }, unit),
        h('td', { class: 'num' }, int(list.filter((f) => f.properties.status === 'dispatched').length)),
        h('td', { class: 'num' }, int(list.filter((f) => f.properties.status === 'positive').length)),
        linkCell));
    }
    fill(fieldBox, h('h2', { id: 'field-title' }, 'In the field'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Unit'), h('th', { class: 'num' }, 'To verify'), h('th', { class: 'num' }, 'To eradicate'), h('th', {}, 'Downloads'))),
        h('tbody', {}, rows))));
  }

  async function renderBack() {
    fill(backBox, h('h2', { id: 'back-title' }, 'Back from the field'), spinner());
    const { features: back } = await allSuspects({ status: ['eradicated', 'false_alarm'] });
    const features = back.filter((f) => f.allowed_moves.some((m) => m.to_status === 'closed'));
    const title = h('h2', { id: 'back-title' }, `Back from the field (${features.length})`);
    if (!features.length) {
      fill(backBox, title, h('p', { class: 'muted' }, 'Nothing to close.'));
      return;
    }
    const closeAll = h('button', { class: 'btn', type: 'button' }, `Close all ${features.length}`);
    const close = async (list) => {
      const failures = await runAll(list, (f) => api(`/api/suspects/${f.id}/transitions`, { json: { to_status: 'closed' }, quiet: true }));
      const closed = list.length - failures.length;
      if (closed) toast(`${closed} plot(s) closed.`, 'success');
      for (const [f, err] of failures.slice(0, 3)) toast(`Plot ${f.id} was not closed: ${err.message}`, 'error');
      refresh();
    };
    closeAll.addEventListener('click', () => { closeAll.disabled = true; close(features); });
    const rows = features.map((f) => {
      const p = f.properties;
      const button = h('button', { class: 'btn btn-small', type: 'button' }, 'Close');
      button.addEventListener('click', () => { button.disabled = true; close([f]); });
      return h('tr', {}, h('td', {}, thumb(p)), h('td', {}, mapLink(p)), h('td', {}, badge(h, p.status)),
        h('td', { class: 'num' }, p.reported_plant_count === null ? '—' : int(p.reported_plant_count)),
        h('td', {}, p.assigned_unit), h('td', {}, when(p.updated_at)), h('td', {}, button));
    });
    fill(backBox, title, h('p', { class: 'button-row' }, closeAll),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Chip'), h('th', {}, 'Plot'), h('th', {}, 'Result'), h('th', { class: 'num' }, 'Plants reported'),
          h('th', {}, 'Unit'), h('th', {}, 'Reported'), h('th', {}, ''))),
        h('tbody', {}, rows))));
  }

  function refresh() {
    renderReady();
    renderField();
    renderBack();
  }
  refresh();
}

