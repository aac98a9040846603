// One suspect in full: chip, numbers, field photos, history, and the moves the user may make
// (the suspect's ``allowed_moves``, as the server lists them for this user).

import { api } from './api.js';
import { h, fill, spinner } from './dom.js';
import { area, int, label, latlon, pct, when, day } from './format.js';
import { geoUri } from './geo.js';
import { fieldMoves, openReport } from './report-form.js';
import { STATUS_LABEL, badge } from './status.js';
import { toast } from './toast.js';
import { rememberUnit, unitPicker } from './units.js';

function numbers(p) {
  const rows = [
    ['Class', label(p.class_name)],
    ['Confidence', `${pct(p.confidence)} (mean ${pct(p.mean_confidence)})`],
    ['Plants detected', int(p.plant_count)],
    ['Plants reported', p.reported_plant_count === null ? '—' : int(p.reported_plant_count)],
    ['Area', area(p.area_m2)],
    ['Position', latlon(p.centroid_lat, p.centroid_lon)],
    ['Flight', `#${p.flight_id} (scan ${p.job_id}, plot ${p.seq})`],
    ['Found', when(p.created_at)],
    ['Patrol unit', p.assigned_unit || '—'],
    ['Revisit due', p.revisit_due ? day(p.revisit_due) : '—'],
    ['Model', p.model_version || '—'],
  ];
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function historyList(events) {
  if (!events.length) return h('p', { class: 'muted' }, 'No changes yet.');
  return h('ol', { class: 'timeline' }, events.map((e) => {
    const d = e.details || {};
    const move = e.to_status
      ? `${STATUS_LABEL[e.from_status] || e.from_status} → ${STATUS_LABEL[e.to_status] || e.to_status}`
      : e.action;
    return h('li', {},
      h('div', { class: 'timeline-head' }, h('strong', {}, move), h('span', { class: 'muted' }, ` · ${e.username || 'system'} · ${when(e.at)}`)),
      d.assigned_unit ? h('div', {}, `Unit: ${d.assigned_unit}`) : null,
      d.plant_count !== undefined ? h('div', {}, `Plants counted: ${int(d.plant_count)}`) : null,
      e.lat !== null && e.lon !== null ? h('div', {}, 'Reported at ', h('a', { href: geoUri(e.lat, e.lon, 'report') }, latlon(e.lat, e.lon))) : null,
      d.photo_ids?.length ? h('div', {}, `Photos: ${d.photo_ids.length}`) : null,
      d.note ? h('blockquote', {}, d.note) : null);
  }));
}

function photos(list) {
  if (!list.length) return null;
  return h('div', { class: 'photo-strip' }, list.map((p) => h('a', { href: p.url, target: '_blank', rel: 'noopener' },
    h('img', { src: p.url, alt: `Field photo ${p.id}`, loading: 'lazy' }))));
}

async function move(id, body) {
  const result = await api(`/api/suspects/${id}/transitions`, { json: body });
  toast(`Plot ${id}: ${STATUS_LABEL[result.properties.status]}.`, 'success');
  return result;
}

function actions(suspect, refresh) {
  const p = suspect.properties;
  const moves = suspect.allowed_moves;
  if (!moves.length) return null;
  const box = h('div', { class: 'panel-actions' });
  for (const m of moves.filter((x) => !x.requires.includes('position'))) {
    if (m.requires.includes('assigned_unit')) {
      const unit = unitPicker();
      const button = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Dispatch');
      const form = h('form', { class: 'inline-form' }, unit.element, button);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        button.disabled = true;
        try {
          await move(p.id, { to_status: m.to_status, assigned_unit: unit.value });
          rememberUnit(unit.value);
          refresh();
        } catch { button.disabled = false; }
      });
      box.append(form);
    } else {
      const button = h('button', { class: `btn btn-status-${m.to_status}`, type: 'button' }, `Mark ${STATUS_LABEL[m.to_status].toLowerCase()}`);
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          await move(p.id, { to_status: m.to_status });
          refresh();
        } catch { button.disabled = false; }
      });
      box.append(button);
    }
  }
  // Field reports (they need where the reporter stands) go through the report form.
  if (fieldMoves(suspect).length) {
    const report = h('button', { class: 'btn', type: 'button' }, 'Report from the field…');
    report.addEventListener('click', () => openReport(suspect, {
      onDone: (result, outcome) => {
        toast(`Plot ${p.id}: ${STATUS_LABEL[outcome.to]}.`, 'success');
        refresh();
      },
    }));
    box.append(report);
  }
  return box;
}

/**
 * Show suspect ``id`` in ``container``.
 *
 * @param {HTMLElement} container
 * @param {number} id
 * @param {{user: object, onChange?: function, onClose?: function}} options
 */
export async function showSuspect(container, id, { user, onChange, onClose }) {
  fill(container, spinner());
  let suspect;
  try {
    suspect = await api(`/api/suspects/${id}`);
  } catch {
    fill(container, h('p', { class: 'muted' }, `Plot ${id} could not be loaded.`));
    return;
  }
  const p = suspect.properties;
  const refresh = async () => {
    await showSuspect(container, id, { user, onChange, onClose });
    onChange?.();
  };
  const close = onClose ? h('button', { class: 'btn btn-ghost btn-small panel-close', type: 'button', 'aria-label': 'Close details' }, '×') : null;
  close?.addEventListener('click', onClose);
  fill(container,
    h('div', { class: 'panel-head' },
      h('h2', {}, `Plot ${p.id}`), badge(h, p.status), close),
    p.chip_url
      ? h('img', { class: 'panel-chip', src: p.chip_url, alt: `Evidence chip of plot ${p.id}` })
      : h('p', { class: 'muted' }, 'No evidence chip.'),
    actions(suspect, refresh),
    numbers(p),
    h('p', {}, h('a', { class: 'btn btn-small', href: geoUri(p.centroid_lat, p.centroid_lon, `Plot ${p.id}`) }, 'Open in navigation app')),
    photos(suspect.photos),
    h('h3', {}, 'History'),
    historyList(suspect.history));
}
