// The analyst's review queue: one new suspect at a time with its chip and context; S marks
// it suspect, D dismisses it, Space skips, ← goes back. Chips of the next suspects are
// fetched and decoded ahead; decisions are saved in the background and undone with a
// message if the server refuses them.

import { api, query } from './api.js';
import { ChipCache } from './chips.js';
import { h, fill, isTyping, select, spinner, empty } from './dom.js';
import { area, int, label, latlon, pct, when } from './format.js';
import { L, createMap, orthoLayer, suspectsLayer } from './map.js';
import { href, replaceParams } from './router.js';
import { STATUS_LABEL, badge } from './status.js';
import { toast } from './toast.js';

const PREFETCH = 8;
// The context map moves only once the analyst lingers on a suspect: while they press keys
// in a run, its tiles would queue on the server ahead of the chips and decisions.
const MAP_DELAY_MS = 450;

// Statuses S and D may change: a new plot, or one reviewed earlier in this queue.
const REVIEWABLE = ['new', 'suspect', 'dismissed'];

const KEYS = [
  ['S', 'Mark suspect'],
  ['D', 'Dismiss'],
  ['Space', 'Skip'],
  ['←', 'Back'],
  ['M', 'Show on map'],
  ['?', 'Show or hide keys'],
];

// Timings of keypress -> next chip drawn, for the page and for benchmarks.
const probe = { timings: [], current: null };
window.poppyscanReview = probe;

function keyList() {
  return h('ul', { class: 'keys', 'aria-label': 'Keyboard shortcuts' },
    KEYS.map(([key, what]) => h('li', {}, h('kbd', {}, key), ' ', what)));
}

/** Mount the review page. */
export function mount(root, { user, params }) {
  const chips = new ChipCache(32);
  const state = {
    items: [],
    byId: new Map(),
    local: new Map(), // id -> {status, pending}
    inflight: new Map(), // id -> promise of the last save
    unloaded: 0, // new plots on the server beyond the loaded page
    current: null,
    trail: [],
    decided: 0,
    flights: new Map(),
    filters: { flight: params.flight || '', cls: params.class || '' },
    loading: false,
  };

  // --- layout -------------------------------------------------------------------------
  const flightSelect = select([['', 'All flights']], { 'aria-label': 'Flight' });
  const classSelect = select([['', 'Both classes'], ['poppy', 'Poppy'], ['cannabis', 'Cannabis']], { 'aria-label': 'Class' });
  classSelect.value = state.filters.cls;
  const counter = h('p', { class: 'counter', 'aria-live': 'polite' });
  const progress = h('progress', { class: 'session-progress', max: 1, value: 0, 'aria-label': 'Reviewed this session' });
  const frame = h('div', { class: 'chip-frame' });
  const stateNote = h('p', { class: 'decision-note', 'aria-live': 'polite' });
  const title = h('h2', { class: 'review-title' });
  const facts = h('dl', { class: 'facts facts-compact' });
  const confidence = h('meter', { min: 0, max: 1, low: 0.35, high: 0.6, optimum: 1, class: 'confidence-meter' });
  const mapBox = h('div', { class: 'mini-map', role: 'region', 'aria-label': 'Orthomosaic around the suspect' });
  const help = h('aside', { class: 'card keys-card', 'aria-label': 'Keyboard shortcuts' }, h('h3', {}, 'Keys'), keyList());
  const buttons = {
    suspect: h('button', { class: 'btn btn-status-suspect btn-big', type: 'button' }, h('kbd', {}, 'S'), ' Suspect'),
    dismissed: h('button', { class: 'btn btn-status-dismissed btn-big', type: 'button' }, h('kbd', {}, 'D'), ' Dismiss'),
    skip: h('button', { class: 'btn btn-big', type: 'button' }, h('kbd', {}, 'Space'), ' Skip'),
    back: h('button', { class: 'btn btn-ghost btn-big', type: 'button' }, h('kbd', {}, '←'), ' Back'),
  };
  const stage = h('section', { class: 'review-stage', 'aria-label': 'Current suspect' },
    h('div', { class: 'review-chip' }, frame, stateNote),
    h('div', { class: 'review-side' },
      h('div', { class: 'card' }, title, confidence, facts),
      mapBox,
      help));
  const bar = h('div', { class: 'review-actions', role: 'toolbar', 'aria-label': 'Decision' },
    buttons.back, buttons.skip, buttons.dismissed, buttons.suspect);
  const body = h('div', { class: 'review-body' }, stage, bar);
  fill(root, h('div', { class: 'page page-review' },
    h('div', { class: 'page-head' },
      h('h1', {}, 'Review queue'),
      h('div', { class: 'filters' }, flightSelect, classSelect),
      h('div', { class: 'counter-box' }, counter, progress)),
    body));

  // --- mini map -----------------------------------------------------------------------
  const map = createMap(mapBox, { keyboard: false, zoomControl: true, minZoom: 12 });
  map.setView([0, 0], 3);
  const orthos = new Map();
  let ortho = null;
  let context = null;
  let contextFlight = null;
  let outline = null;
  let mapTimer = 0;

  function showOnMap(feature) {
    const p = feature.properties;
    const flightId = p.flight_id;
    if (!orthos.has(flightId)) orthos.set(flightId, orthoLayer(flightId, state.flights.get(flightId)));
    const layer = orthos.get(flightId);
    if (ortho !== layer) {
      if (ortho) map.removeLayer(ortho);
      ortho = layer.addTo(map);
    }
    if (contextFlight !== flightId) {
      context?.layer.remove();
      context = suspectsLayer(state.items.filter((f) => f.properties.flight_id === flightId));
      context.layer.addTo(map);
      contextFlight = flightId;
    }
    context.select(feature.id);
    outline?.remove();
    outline = L.geoJSON(feature.geometry, { style: { color: '#facc15', weight: 3, fillOpacity: 0, dashArray: '5 4' }, interactive: false }).addTo(map);
    const bounds = outline.getBounds().pad(2.5);
    map.fitBounds(bounds, { animate: false, maxZoom: 22 });
  }

  // --- queue --------------------------------------------------------------------------
  const statusOf = (f) => state.local.get(f.id)?.status ?? f.properties.status;
  const undecided = () => state.items.filter((f) => statusOf(f) === 'new');
  const left = () => undecided().length + state.unloaded;

  function nextUndecided(after) {
    const list = state.items;
    const start = after ? list.indexOf(after) + 1 : 0;
    for (let i = 0; i < list.length; i += 1) {
      const f = list[(start + i) % list.length];
      if (statusOf(f) === 'new' && f !== after) return f;
    }
    return null;
  }

  function updateCounter() {
    const n = left();
    const saving = [...state.local.values()].filter((v) => v.pending).length;
    counter.textContent = `${int(n)} left · ${int(state.decided)} reviewed${saving ? ` · saving ${saving}…` : ''}`;
    progress.max = Math.max(1, state.decided + n);
    progress.value = state.decided;
  }

  function fillFacts(p) {
    const flight = state.flights.get(p.flight_id);
    const rows = [
      ['Plants', int(p.plant_count)],
      ['Area', area(p.area_m2)],
      ['Confidence', `${pct(p.confidence)} (mean ${pct(p.mean_confidence)})`],
      ['Flight', flight ? `${flight.name} (#${p.flight_id})` : `#${p.flight_id}`],
      ['Found', when(p.created_at)],
      ['Position', latlon(p.centroid_lat, p.centroid_lon)],
    ];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  function markDrawn(feature, startedAt) {
    const entry = feature.properties.chip_url ? chips.get(feature) : null;
    const ready = entry ? entry.img.decode().catch(() => {}) : Promise.resolve();
    ready.then(() => requestAnimationFrame(() => {
      // After this frame is painted: a message posted from rAF runs once paint is done.
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        if (probe.current !== feature.id) return;
        const ms = performance.now() - startedAt;
        probe.timings.push({ plot: feature.id, ms });
        performance.measure('review:next', { start: startedAt, end: performance.now(), detail: { plot: feature.id } });
      };
      channel.port2.postMessage(null);
    }));
  }

  function show(feature, startedAt = null) {
    state.current = feature;
    probe.current = feature?.id ?? null;
    if (!feature) {
      showDone();
      return;
    }
    body.hidden = false;
    doneBox.hidden = true;
    const p = feature.properties;
    if (p.chip_url) {
      frame.replaceChildren(chips.get(feature).img);
    } else {
      frame.replaceChildren(h('p', { class: 'muted' }, 'This plot has no evidence chip.'));
    }
    const status = statusOf(feature);
    title.replaceChildren(`Plot ${p.id} · ${label(p.class_name)} `, badge(h, status));
    confidence.value = p.confidence;
    confidence.textContent = pct(p.confidence);
    fillFacts(p);
    const local = state.local.get(feature.id);
    if (status === 'new') stateNote.textContent = '';
    else if (local?.elsewhere) stateNote.textContent = `Someone else moved this plot to ${STATUS_LABEL[status] || status}.`;
    else stateNote.textContent = `You marked this plot ${STATUS_LABEL[status].toLowerCase()}${local?.pending ? ' (saving…)' : ''}. Press S or D to change it.`;
    updateCounter();
    if (startedAt !== null) markDrawn(feature, startedAt);
    // Prefetch the chips of what comes next, and the one before for "back".
    const ahead = [];
    let f = feature;
    for (let i = 0; i < PREFETCH; i += 1) {
      f = nextUndecided(f);
      if (!f || f === feature || ahead.includes(f)) break;
      ahead.push(f);
    }
    chips.prefetch(ahead);
    clearTimeout(mapTimer);
    mapTimer = setTimeout(() => showOnMap(feature), MAP_DELAY_MS);
  }

  function advance(startedAt) {
    const next = nextUndecided(state.current);
    if (state.current) state.trail.push(state.current);
    if (next) {
      show(next, startedAt);
    } else if (state.unloaded > 0) {
      loadMore().then(() => show(nextUndecided(null), startedAt));
    } else {
      show(null);
    }
  }

  function back(startedAt) {
    const previous = state.trail.pop();
    if (previous) show(previous, startedAt);
  }

  function save(feature, from, to) {
    const id = feature.id;
    const before = state.inflight.get(id) || Promise.resolve();
    const saving = before.then(() => api(`/api/suspects/${id}/transitions`, { json: { to_status: to }, quiet: true }))
      .then((result) => {
        if (state.local.get(id)?.status === to) state.local.set(id, { status: result.properties.status, pending: false });
      })
      .catch(async (err) => {
        // Undo the optimistic decision; find out where the plot really is.
        let actual = from;
        try {
          actual = (await api(`/api/suspects/${id}`, { quiet: true })).properties.status;
        } catch { /* keep the old status */ }
        if (from === 'new') state.decided -= 1;
        if (actual === 'new') {
          state.local.delete(id);
          toast(`Plot ${id} was not marked ${STATUS_LABEL[to].toLowerCase()}: ${err.message}. It is back in the queue.`, 'error');
        } else {
          state.local.set(id, { status: actual, pending: false, elsewhere: true });
          toast(`Plot ${id} was not marked ${STATUS_LABEL[to].toLowerCase()}: ${err.message}. It is ${STATUS_LABEL[actual]?.toLowerCase() || actual} now.`, 'error');
        }
        if (state.current === feature) show(feature);
        else updateCounter();
      })
      .finally(() => {
        if (state.inflight.get(id) === saving) state.inflight.delete(id);
        updateCounter();
      });
    state.inflight.set(id, saving);
  }

  function decide(to, startedAt) {
    const feature = state.current;
    if (!feature) return;
    const from = statusOf(feature);
    if (!REVIEWABLE.includes(from)) {
      toast(`Plot ${feature.id} is ${STATUS_LABEL[from]?.toLowerCase() || from} now: it is no longer reviewed here.`, 'warning');
      advance(startedAt);
      return;
    }
    if (from !== to) {
      if (from === 'new') state.decided += 1;
      state.local.set(feature.id, { status: to, pending: true });
      save(feature, from, to);
    }
    advance(startedAt);
  }

  // --- input --------------------------------------------------------------------------
  function onKey(event) {
    if (event.defaultPrevented || isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector('dialog[open]')) return;
    const key = event.key;
    const started = event.timeStamp || performance.now();
    let handled = true;
    if (event.repeat && key !== '?') {
      handled = ['s', 'S', 'd', 'D', ' ', 'ArrowRight', 'ArrowLeft'].includes(key);
    } else if (key === 's' || key === 'S') decide('suspect', started);
    else if (key === 'd' || key === 'D') decide('dismissed', started);
    else if (key === ' ' || key === 'ArrowRight' || key === 'n' || key === 'N') advance(started);
    else if (key === 'ArrowLeft' || key === 'Backspace' || key === 'b' || key === 'B') back(started);
    else if (key === 'm' || key === 'M') {
      if (state.current) window.location.hash = href('map', { flight: state.current.properties.flight_id, plot: state.current.id });
    } else if (key === '?') help.hidden = !help.hidden;
    else handled = false;
    if (handled) event.preventDefault();
  }
  document.addEventListener('keydown', onKey);
  buttons.suspect.addEventListener('click', (e) => decide('suspect', e.timeStamp));
  buttons.dismissed.addEventListener('click', (e) => decide('dismissed', e.timeStamp));
  buttons.skip.addEventListener('click', (e) => advance(e.timeStamp));
  buttons.back.addEventListener('click', (e) => back(e.timeStamp));

  // --- loading ------------------------------------------------------------------------
  const doneBox = h('div', { class: 'review-done', hidden: true });
  root.querySelector('.page-review').append(doneBox);

  function showDone() {
    body.hidden = true;
    doneBox.hidden = false;
    updateCounter();
    const reload = h('button', { class: 'btn', type: 'button' }, 'Check for new suspects');
    reload.addEventListener('click', () => load());
    const suspects = [...state.local.values()].filter((v) => v.status === 'suspect').length;
    fill(doneBox, empty('Nothing left to review.',
      h('p', {}, state.decided
        ? `You reviewed ${int(state.decided)} plot(s) in this session, ${int(suspects)} marked suspect.`
        : 'No new suspects match these filters.'),
      h('p', { class: 'button-row' },
        h('a', { class: 'btn btn-primary', href: href('dispatch') }, 'Dispatch suspects'),
        reload)));
  }

  function filterParams() {
    return { status: 'new', flight_id: state.filters.flight || null, class_name: state.filters.cls || null };
  }

  async function loadMore() {
    const page = await api(`/api/suspects${query({ ...filterParams(), limit: 500 })}`);
    for (const f of page.features) {
      if (!state.byId.has(f.id)) {
        state.byId.set(f.id, f);
        state.items.push(f);
      }
    }
    state.unloaded = Math.max(0, page.total - page.features.length);
  }

  async function load() {
    state.loading = true;
    fill(frame, spinner());
    state.items = [];
    state.byId.clear();
    state.trail = [];
    contextFlight = null;
    try {
      await loadMore();
    } catch {
      fill(frame, h('p', { class: 'muted' }, 'The queue could not be loaded.'));
      return;
    } finally {
      state.loading = false;
    }
    const first = nextUndecided(null);
    if (first?.properties.chip_url) await chips.get(first).ready;
    show(first);
    probe.ready = true;
  }

  async function loadFlights() {
    try {
      const flights = await api('/api/flights?limit=500', { quiet: true });
      for (const f of flights.data) state.flights.set(f.id, f);
      flightSelect.replaceChildren(h('option', { value: '' }, 'All flights'),
        ...flights.data.map((f) => h('option', { value: String(f.id) }, `${f.name} (#${f.id})`)));
      flightSelect.value = state.filters.flight;
    } catch { /* the filter stays "all flights" */ }
  }

  function onFilter() {
    state.filters = { flight: flightSelect.value, cls: classSelect.value };
    replaceParams({ flight: state.filters.flight, class: state.filters.cls });
    load();
  }
  flightSelect.addEventListener('change', onFilter);
  classSelect.addEventListener('change', onFilter);

  probe.ready = false;
  probe.timings.length = 0;
  loadFlights().then(load);

  return () => {
    document.removeEventListener('keydown', onKey);
    clearTimeout(mapTimer);
    map.remove();
    probe.ready = false;
  };
}
