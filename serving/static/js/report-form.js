// The patrol's report on one plot: outcome, plant count, photos, note and where they stood.
// Photos are uploaded first, then the move cites them, as the API asks.

import { api } from './api.js';
import { h, field } from './dom.js';
import { int, latlon } from './format.js';
import { locate } from './geo.js';
import { STATUS_LABEL } from './status.js';

// How each field outcome reads in the form (wording only: which outcomes the user may
// report, and what each needs, come with the suspect as ``allowed_moves``).
const OUTCOME_TEXT = {
  positive: 'Positive — plants are here',
  false_alarm: 'False alarm — no poppy or cannabis',
  eradicated: 'Eradicated — plants destroyed',
};

/** The moves the user may report from the field on ``feature``: those that need a position. */
export function fieldMoves(feature) {
  return (feature.allowed_moves || []).filter((m) => m.requires.includes('position'));
}

/**
 * Open the report dialog for ``feature``.
 *
 * @param {object} feature - the suspect (GeoJSON feature with its ``allowed_moves``).
 * @param {{position?: {lat: number, lon: number, accuracy_m?: number}, onDone: function}} options
 */
export function openReport(feature, { position = null, onDone }) {
  const p = feature.properties;
  const outcomes = fieldMoves(feature).map((m) => ({
    to: m.to_status,
    text: OUTCOME_TEXT[m.to_status] || STATUS_LABEL[m.to_status] || m.to_status,
    count: m.requires.includes('plant_count'),
  }));
  const radios = outcomes.map((o, i) => h('input', { type: 'radio', name: 'outcome', value: o.to, checked: i === 0, required: true }));
  const count = h('input', { type: 'number', name: 'plant_count', min: 0, step: 1, inputmode: 'numeric', placeholder: `detected: ${p.plant_count}` });
  const countField = field('Plants counted', count, `The scan detected ${int(p.plant_count)}. Count what is on the ground.`);
  const photos = h('input', { type: 'file', name: 'photos', accept: 'image/jpeg,image/png,image/webp', capture: 'environment', multiple: true });
  const previews = h('div', { class: 'photo-strip', 'aria-live': 'polite' });
  const note = h('textarea', { name: 'note', rows: 2, maxlength: 4000, placeholder: 'Optional: what you saw' });
  const lat = h('input', { type: 'number', name: 'lat', step: 'any', min: -90, max: 90, inputmode: 'decimal', required: true });
  const lon = h('input', { type: 'number', name: 'lon', step: 'any', min: -180, max: 180, inputmode: 'decimal', required: true });
  const where = h('p', { class: 'muted', 'aria-live': 'polite' });
  const locateButton = h('button', { class: 'btn', type: 'button' }, 'Use my position');
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Send report');
  const cancel = h('button', { class: 'btn', type: 'button' }, 'Cancel');
  const previewUrls = [];

  function setPosition(pos, how) {
    lat.value = pos.lat.toFixed(7);
    lon.value = pos.lon.toFixed(7);
    const accuracy = pos.accuracy_m ? ` (±${Math.round(pos.accuracy_m)} m)` : '';
    where.textContent = `${how}: ${latlon(pos.lat, pos.lon)}${accuracy}. You can correct it by hand.`;
  }

  let typed = false;
  lat.addEventListener('input', () => { typed = true; });
  lon.addEventListener('input', () => { typed = true; });

  async function useLocation(automatic = false) {
    locateButton.disabled = true;
    where.textContent = 'Finding your position…';
    try {
      const pos = await locate({ maximumAgeMs: 10000 });
      // A fix that arrives after the patrol typed a position does not overwrite it.
      if (!(automatic && typed)) setPosition(pos, 'From the phone');
    } catch (err) {
      where.textContent = err.message;
      if (!automatic) lat.focus();
    } finally {
      locateButton.disabled = false;
    }
  }

  function outcome() {
    return outcomes.find((o) => o.to === radios.find((r) => r.checked)?.value);
  }

  function syncCount() {
    const needs = outcome()?.count;
    countField.hidden = !needs;
    count.required = Boolean(needs);
  }

  photos.addEventListener('change', () => {
    previewUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    previews.replaceChildren(...[...photos.files].map((file) => {
      const url = URL.createObjectURL(file);
      previewUrls.push(url);
      return h('img', { src: url, alt: `Photo to send: ${file.name}` });
    }));
  });
  for (const r of radios) r.addEventListener('change', syncCount);
  locateButton.addEventListener('click', () => useLocation(false));

  const form = h('form', { method: 'dialog', class: 'report-form' },
    h('div', { class: 'dialog-head' }, h('h2', {}, `Report on plot ${p.id}`), h('span', { class: `badge status-${p.status}` }, STATUS_LABEL[p.status])),
    h('div', { class: 'dialog-body' },
      h('fieldset', {}, h('legend', {}, 'Outcome'),
        outcomes.map((o, i) => h('label', { class: 'choice' }, radios[i], o.text))),
      countField,
      field('Photos', photos, 'Take or choose photos of the plot (JPEG, PNG or WebP).'),
      previews,
      h('fieldset', {}, h('legend', {}, 'Where you are'),
        h('div', { class: 'position-row' }, field('Latitude', lat), field('Longitude', lon)),
        h('div', { class: 'button-row' }, locateButton),
        where),
      field('Note', note),
      error),
    h('div', { class: 'dialog-foot' }, cancel, submit));
  const dialog = h('dialog', { class: 'report-dialog', 'aria-label': `Report on plot ${p.id}` }, form);

  async function send(event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const chosen = outcome();
    submit.disabled = true;
    error.hidden = true;
    try {
      const photoIds = [];
      const files = [...photos.files];
      for (const [i, file] of files.entries()) {
        submit.textContent = `Sending photo ${i + 1} of ${files.length}…`;
        const body = new FormData();
        body.append('file', file, file.name);
        const photo = await api(`/api/suspects/${p.id}/photos`, { form: body, quiet: true });
        photoIds.push(photo.id);
      }
      submit.textContent = 'Sending report…';
      const move = {
        to_status: chosen.to,
        lat: Number(lat.value),
        lon: Number(lon.value),
        note: note.value.trim(),
        photo_ids: photoIds,
      };
      if (chosen.count) move.plant_count = Number(count.value);
      const result = await api(`/api/suspects/${p.id}/transitions`, { json: move, quiet: true });
      dialog.close();
      onDone?.(result, chosen);
    } catch (err) {
      error.textContent = `The report was not saved: ${err.message}`;
      error.hidden = false;
    } finally {
      submit.disabled = false;
      submit.textContent = 'Send report';
    }
  }

  form.addEventListener('submit', send);
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    previewUrls.forEach((u) => URL.revokeObjectURL(u));
    dialog.remove();
  });
  syncCount();
  document.body.append(dialog);
  dialog.showModal();
  if (position) setPosition(position, 'Last known position');
  useLocation(true);
  return dialog;
}
