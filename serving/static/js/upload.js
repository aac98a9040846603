// The pilot's upload page: a flight GeoTIFF sent in resumable chunks with a progress bar
// that survives dropped connections, then the scan's live progress, and recent flights.

import { api } from './api.js';
import { h, fill, field, select, spinner, empty } from './dom.js';
import { bytes, duration, int, when, day } from './format.js';
import { watchJob } from './jobs.js';
import { href } from './router.js';
import { toast } from './toast.js';
import { DEFAULT_CHUNK_BYTES, ResumableUpload, Stopped } from './uploader.js';

const CHUNK_KEY = 'poppyscan.chunkBytes';
const CHUNK_CHOICES = [
  [String(1024 * 1024), '1 MB (very poor link)'],
  [String(4 * 1024 * 1024), '4 MB'],
  [String(DEFAULT_CHUNK_BYTES), '8 MB (default)'],
  [String(32 * 1024 * 1024), '32 MB (fast network)'],
];

function jobLine(job) {
  if (!job) return 'not scanned';
  if (job.status === 'running' && !job.tiles_total) return 'starting…';
  if (job.status === 'running') {
    const eta = job.eta_s !== null ? ` · ${duration(job.eta_s)} left` : '';
    return `${job.percent.toFixed(0)} % (${int(job.tiles_done)} of ${int(job.tiles_total)} tiles)${eta}`;
  }
  if (job.status === 'done') return `${int(job.plots_found)} suspected plot(s) found`;
  if (job.status === 'failed') return job.error || 'failed';
  if (job.status === 'queued') return 'waiting for a worker';
  return job.status;
}

/** A job's status, progress bar and line of text, kept up to date over SSE. */
function jobView(job, user, watchers, onEnd) {
  const bar = h('span', { style: { width: `${job.percent}%` } });
  const badge = h('span', { class: `badge status-${job.status}` }, job.status);
  const text = h('span', { class: 'job-text' }, jobLine(job));
  const links = h('span', { class: 'button-row' });
  const box = h('div', { class: 'job-view', 'aria-live': 'polite' },
    h('div', { class: 'job-line' }, badge, text),
    h('div', { class: 'bar', role: 'progressbar', 'aria-label': `Scan of flight ${job.flight_id}`, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': job.percent }, bar),
    links);
  const render = (j) => {
    bar.parentElement.hidden = !['queued', 'running'].includes(j.status);
    bar.style.width = `${j.percent}%`;
    bar.parentElement.setAttribute('aria-valuenow', String(j.percent));
    badge.className = `badge status-${j.status}`;
    badge.textContent = j.status;
    text.textContent = jobLine(j);
    const actions = [];
    if (j.status === 'done') {
      actions.push(h('a', { class: 'btn btn-small', href: href('map', { flight: j.flight_id }) }, 'Open on map'));
      if (['admin', 'analyst'].includes(user.role) && j.plots_found) {
        actions.push(h('a', { class: 'btn btn-small btn-primary', href: href('review', { flight: j.flight_id }) }, 'Review suspects'));
      }
    }
    if (['queued', 'running'].includes(j.status) && ['admin', 'pilot'].includes(user.role) && !j.cancel_requested) {
      const cancel = h('button', { class: 'btn btn-small btn-danger', type: 'button' }, 'Cancel scan');
      cancel.addEventListener('click', async () => {
        cancel.disabled = true;
        try { render(await api(`/api/jobs/${j.id}/cancel`, { method: 'POST' })); } catch { cancel.disabled = false; }
      });
      actions.push(cancel);
    }
    if (['failed', 'cancelled'].includes(j.status) && ['admin', 'pilot'].includes(user.role)) {
      const retry = h('button', { class: 'btn btn-small', type: 'button' }, 'Retry scan');
      retry.addEventListener('click', async () => {
        retry.disabled = true;
        try {
          const next = await api(`/api/jobs/${j.id}/retry`, { method: 'POST' });
          toast('The scan is queued again.', 'success');
          box.replaceWith(jobView(next, user, watchers, onEnd));
        } catch { retry.disabled = false; }
      });
      actions.push(retry);
    }
    links.replaceChildren(...actions);
  };
  render(job);
  if (['queued', 'running'].includes(job.status)) {
    watchers.push(watchJob(job.id, (j) => {
      render(j);
      if (['done', 'failed', 'cancelled'].includes(j.status)) onEnd?.(j);
    }));
  }
  return box;
}

/** Mount the upload page. */
export function mount(root, { user }) {
  const watchers = [];
  let upload = null;

  const file = h('input', { type: 'file', name: 'file', accept: '.tif,.tiff,image/tiff', required: true });
  const name = h('input', { name: 'name', maxlength: 200, placeholder: 'from the file name' });
  const captured = h('input', { type: 'date', name: 'captured_on' });
  const areaName = h('input', { name: 'area_name', maxlength: 200 });
  const pilot = h('input', { name: 'pilot', maxlength: 200, value: user.full_name || user.username });
  const altitude = h('input', { type: 'number', name: 'altitude_m', min: 0, max: 10000, step: 'any', inputmode: 'decimal' });
  const camera = h('input', { name: 'camera', maxlength: 200 });
  const campaign = select([['', 'None']], { name: 'campaign' });
  const campaigns = api('/api/campaigns', { quiet: true }).then((list) => list.data, () => []);
  campaigns.then((list) => campaign.append(
    ...list.map((c) => h('option', { value: String(c.id) }, `${c.name} (${c.year})`))));
  const chunk = select(CHUNK_CHOICES, { name: 'chunk' });
  chunk.value = localStorage.getItem(CHUNK_KEY) || String(DEFAULT_CHUNK_BYTES);
  chunk.addEventListener('change', () => localStorage.setItem(CHUNK_KEY, chunk.value));
  const startButton = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Upload and scan');
  const form = h('form', { class: 'card upload-form', 'aria-labelledby': 'upload-title' },
    h('h2', { id: 'upload-title' }, 'Upload a flight'),
    field('Orthomosaic (GeoTIFF)', file, 'The upload survives a dropped connection and resumes where it stopped.'),
    h('div', { class: 'form-grid' },
      field('Name', name), field('Captured on', captured), field('Survey area', areaName),
      field('Pilot', pilot), field('Altitude (m)', altitude), field('Camera / drone', camera),
      field('Campaign', campaign, 'The season follows from the capture date.')),
    h('details', {}, h('summary', {}, 'Connection'), field('Chunk size', chunk, 'Smaller chunks lose less on an unreliable link.')),
    h('div', { class: 'button-row' }, startButton));

  const progressBar = h('span', { style: { width: '0%' } });
  const progressText = h('p', { class: 'progress-text' });
  const stateText = h('p', { class: 'state-text', 'aria-live': 'polite' });
  const pauseButton = h('button', { class: 'btn', type: 'button' }, 'Pause');
  const cancelButton = h('button', { class: 'btn btn-danger', type: 'button' }, 'Cancel upload');
  const jobBox = h('div', {});
  const progressCard = h('section', { class: 'card upload-progress', hidden: true, 'aria-labelledby': 'progress-title' },
    h('h2', { id: 'progress-title' }),
    h('div', { class: 'bar bar-big', role: 'progressbar', 'aria-labelledby': 'progress-title', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0 }, progressBar),
    progressText, stateText,
    h('div', { class: 'button-row upload-buttons' }, pauseButton, cancelButton),
    jobBox);
  const tips = h('section', { class: 'card tips', 'aria-labelledby': 'tips-title' },
    h('h2', { id: 'tips-title' }, 'What happens next'),
    h('ol', {},
      h('li', {}, 'The file goes up in chunks. If the connection drops, the upload waits and resumes from what the server already holds — or pause it and resume later, even after reloading this page.'),
      h('li', {}, 'The server checks the GeoTIFF and scans it for poppy and cannabis; the progress shows here live.'),
      h('li', {}, 'Analysts review what the scan found and dispatch patrols.')));
  const flightsBox = h('section', { class: 'card', 'aria-labelledby': 'flights-title' });
  fill(root, h('div', { class: 'page page-upload' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Upload')),
    h('div', { class: 'upload-grid' }, form, h('div', {}, progressCard, tips)),
    flightsBox));

  function metadata() {
    const meta = {
      name: name.value.trim(), area_name: areaName.value.trim(), pilot: pilot.value.trim(), camera: camera.value.trim(),
    };
    if (captured.value) meta.captured_on = captured.value;
    if (altitude.value) meta.altitude_m = Number(altitude.value);
    return meta;
  }

  function showProgress({ sent, total, rate }) {
    const share = total ? sent / total : 0;
    progressBar.style.width = `${(share * 100).toFixed(1)}%`;
    progressBar.parentElement.setAttribute('aria-valuenow', (share * 100).toFixed(0));
    const eta = rate > 0 && sent < total ? ` · ${duration((total - sent) / rate)} left` : '';
    const speed = rate > 0 ? ` · ${bytes(rate)}/s` : '';
    progressText.textContent = `${(share * 100).toFixed(0)} % · ${bytes(sent)} of ${bytes(total)}${speed}${eta}`;
  }

  async function run() {
    pauseButton.textContent = 'Pause';
    pauseButton.disabled = false;
    cancelButton.disabled = false;
    stateText.textContent = 'Uploading…';
    stateText.className = 'state-text';
    try {
      const result = await upload.start();
      const notes = [];
      if (upload.resumedAt !== null) notes.push(`It continued an earlier upload from ${bytes(upload.resumedAt)}.`);
      if (upload.reconnects) notes.push(`The connection dropped ${upload.reconnects} time(s); each time the upload resumed from the server's offset.`);
      stateText.textContent = `Uploaded. Flight #${result.flight.id} is queued for scanning. ${notes.join(' ')}`.trim();
      stateText.className = 'state-text ok';
      pauseButton.hidden = true;
      cancelButton.hidden = true;
      startButton.disabled = false;
      fill(jobBox, h('h3', {}, 'Scan'), jobView(result.job, user, watchers, () => loadFlights()));
      if (campaign.value) {
        try {
          await api(`/api/campaigns/${campaign.value}/flights/${result.flight.id}`, { json: {} });
          toast(`Flight #${result.flight.id} added to the campaign.`, 'success');
        } catch { /* the error was shown */ }
      }
      loadFlights();
    } catch (err) {
      if (err instanceof Stopped) {
        stateText.textContent = 'Paused. Resume when the connection is back; nothing is lost.';
        pauseButton.textContent = 'Resume';
        return;
      }
      stateText.className = 'state-text error';
      if (err.status === 409 && err.body?.flight_id) {
        stateText.replaceChildren(`This file is already flight #${err.body.flight_id}. `,
          h('a', { href: href('map', { flight: err.body.flight_id }) }, 'Open it on the map'));
      } else {
        stateText.textContent = `The upload stopped: ${err.message}`;
      }
      pauseButton.hidden = true;
      startButton.disabled = false;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    startButton.disabled = true;
    progressCard.hidden = false;
    tips.hidden = true;
    pauseButton.hidden = false;
    cancelButton.hidden = false;
    jobBox.replaceChildren();
    progressCard.querySelector('h2').textContent = chosen.name;
    upload = new ResumableUpload(chosen, metadata(), {
      chunkBytes: Number(chunk.value) || DEFAULT_CHUNK_BYTES,
      onProgress: showProgress,
      onState: (text, kind) => {
        stateText.textContent = text;
        stateText.className = `state-text ${kind === 'warning' ? 'warn' : ''}`;
      },
    });
    showProgress({ sent: 0, total: chosen.size, rate: 0 });
    run();
  });
  pauseButton.addEventListener('click', () => {
    if (pauseButton.textContent === 'Pause') upload.pause();
    else run();
  });
  cancelButton.addEventListener('click', async () => {
    cancelButton.disabled = true;
    await upload.cancel();
    stateText.textContent = 'Upload cancelled.';
    pauseButton.hidden = true;
    cancelButton.hidden = true;
    startButton.disabled = false;
  });

  async function loadFlights() {
    if (!flightsBox.firstChild) fill(flightsBox, h('h2', { id: 'flights-title' }, 'Recent flights'), spinner());
    let flights;
    let known;
    try {
      [flights, known] = await Promise.all([api('/api/flights?limit=20'), campaigns]);
    } catch {
      return;
    }
    const byId = new Map(known.map((c) => [c.id, c]));
    const campaignCell = (f) => {
      if (f.campaign_id === null) return h('td', { class: 'muted' }, '—');
      const c = byId.get(f.campaign_id);
      const season = c?.seasons.find((x) => x.id === f.season_id);
      return h('td', {}, c ? `${c.name} (${c.year})` : `#${f.campaign_id}`,
        h('div', { class: 'muted small' }, season ? `${season.name} · ${season.stage}` : (f.season_id === null ? 'no season' : `season #${f.season_id}`)));
    };
    if (!flights.data.length) {
      fill(flightsBox, h('h2', { id: 'flights-title' }, 'Recent flights'), empty('No flights yet.'));
      return;
    }
    const rows = flights.data.map((f) => h('tr', {},
      h('td', {}, h('a', { href: href('map', { flight: f.id }) }, f.name), h('div', { class: 'muted small' }, f.filename)),
      h('td', {}, f.captured_on ? day(f.captured_on) : '—'),
      h('td', {}, f.area_name || '—'),
      campaignCell(f),
      h('td', { class: 'num' }, bytes(f.size_bytes)),
      h('td', { class: 'num' }, `${f.area_ha.toFixed(2)} ha`),
      h('td', {}, when(f.created_at)),
      h('td', { class: 'job-cell' }, f.latest_job ? jobView(f.latest_job, user, watchers, null) : 'not scanned')));
    fill(flightsBox, h('h2', { id: 'flights-title' }, `Recent flights (${flights.count})`),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Flight'), h('th', {}, 'Captured'), h('th', {}, 'Area'), h('th', {}, 'Campaign'), h('th', { class: 'num' }, 'Size'),
          h('th', { class: 'num' }, 'Covers'), h('th', {}, 'Uploaded'), h('th', {}, 'Scan'))),
        h('tbody', {}, rows))));
  }
  loadFlights();

  return () => {
    watchers.forEach((stop) => stop());
    upload?.pause();
  };
}
