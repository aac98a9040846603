// Admin setup: accounts and roles, the territory grid, campaigns and their seasons.

import { api } from './api.js';
import { h, fill, field, select, spinner } from './dom.js';
import { int, when } from './format.js';
import { toast } from './toast.js';

const ROLES = ['admin', 'analyst', 'pilot', 'patrol', 'researcher'];
const ROLE_HELP = {
  admin: 'manages accounts, the grid and everything else',
  analyst: 'reviews, dispatches and closes suspects',
  pilot: 'uploads flights and follows their scans',
  patrol: 'verifies and reports on its unit’s plots',
  researcher: 'reads everything, exports data',
};
const STAGES = [['flowering', 'Flowering'], ['seedling', 'Seedling'], ['capsule', 'Capsule']];

function userRow(u, me, reload) {
  const role = select(ROLES.map((r) => [r, r]), { 'aria-label': `Role of ${u.username}` });
  role.value = u.role;
  const unit = h('input', { value: u.unit, 'aria-label': `Unit of ${u.username}`, placeholder: 'unit' });
  const active = h('input', { type: 'checkbox', checked: u.active, 'aria-label': `${u.username} active` });
  const save = h('button', { class: 'btn btn-small', type: 'button' }, 'Save');
  const self = u.id === me.id;
  if (self) { role.disabled = true; active.disabled = true; }
  save.addEventListener('click', async () => {
    save.disabled = true;
    try {
      await api(`/api/users/${u.id}`, { method: 'PATCH', json: { role: role.value, unit: unit.value.trim(), active: active.checked } });
      toast(`${u.username} saved.`, 'success');
      reload();
    } catch { save.disabled = false; }
  });
  return h('tr', {},
    h('th', { scope: 'row' }, u.username, h('div', { class: 'muted small' }, u.full_name)),
    h('td', {}, role), h('td', {}, unit), h('td', {}, active), h('td', {}, when(u.created_at)), h('td', {}, save));
}

function usersCard(me) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'users-title' });
  const username = h('input', { name: 'username', required: true, minlength: 2, maxlength: 64, pattern: '[A-Za-z0-9_.@\\-]+', autocomplete: 'off' });
  const fullName = h('input', { name: 'full_name', maxlength: 200 });
  const role = select(ROLES.map((r) => [r, `${r} — ${ROLE_HELP[r]}`]), { name: 'role' });
  const unit = h('input', { name: 'unit', maxlength: 100, placeholder: 'patrols and pilots' });
  const password = h('input', { name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
  const form = h('form', { class: 'form-grid create-user' },
    field('Username', username), field('Full name', fullName), field('Role', role), field('Unit', unit),
    field('Password', password, 'At least 8 characters.'),
    h('div', { class: 'field field-submit' }, h('button', { class: 'btn btn-primary', type: 'submit' }, 'Create account')));
  const table = h('div', {});
  async function reload() {
    fill(table, spinner());
    const users = await api('/api/users');
    fill(table, h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, h('th', {}, 'User'), h('th', {}, 'Role'), h('th', {}, 'Unit'), h('th', {}, 'Active'), h('th', {}, 'Created'), h('th', {}, ''))),
      h('tbody', {}, users.data.map((u) => userRow(u, me, reload))))));
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('/api/users', { json: { username: username.value.trim(), full_name: fullName.value.trim(), role: role.value, unit: unit.value.trim(), password: password.value } });
      toast(`Account ${username.value.trim()} created.`, 'success');
      form.reset();
      reload();
    } catch { /* shown */ }
  });
  fill(card, h('h2', { id: 'users-title' }, 'Accounts'), table, h('h3', {}, 'New account'), form);
  reload();
  return card;
}

function gridCard() {
  const file = h('input', { type: 'file', name: 'file', accept: '.geojson,.json,.gpkg,.zip', required: true });
  const repair = h('input', { type: 'checkbox', name: 'repair' });
  const result = h('p', { 'aria-live': 'polite' });
  const form = h('form', {},
    field('Grid file', file, 'GeoJSON, GeoPackage or a zipped shapefile: county, town, village and cell polygons with code, name, level, parent.'),
    h('label', { class: 'check' }, repair, ' Repair invalid polygons and overlaps'),
    h('div', { class: 'button-row' }, h('button', { class: 'btn btn-primary', type: 'submit' }, 'Import grid')),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!file.files[0]) return;
    const body = new FormData();
    body.append('file', file.files[0]);
    result.textContent = 'Importing…';
    try {
      const r = await api(`/api/grid${repair.checked ? '?repair=true' : ''}`, { form: body });
      result.textContent = `${int(r.added)} unit(s) added, ${int(r.updated)} updated, ${int(r.plots_assigned)} plot(s) assigned to cells.`;
      toast('Grid imported.', 'success');
    } catch (err) {
      result.textContent = err.message;
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'grid-title' }, h('h2', { id: 'grid-title' }, 'Territory grid'), form);
}

function campaignsCard() {
  const list = h('div', {});
  const name = h('input', { name: 'name', required: true, maxlength: 200 });
  const year = h('input', { name: 'year', type: 'number', min: 2000, max: 2100, required: true, value: new Date().getFullYear() });
  const season = h('input', { name: 'season', maxlength: 200, placeholder: 'optional, e.g. Flowering' });
  const stage = select(STAGES, { name: 'stage' });
  const starts = h('input', { name: 'starts_on', type: 'date' });
  const ends = h('input', { name: 'ends_on', type: 'date' });
  const form = h('form', { class: 'form-grid' },
    field('Name', name), field('Year', year), field('First season', season), field('Growth stage', stage),
    field('Season starts', starts), field('Season ends', ends),
    h('div', { class: 'field field-submit' }, h('button', { class: 'btn btn-primary', type: 'submit' }, 'Create campaign')));
  async function reload() {
    const campaigns = await api('/api/campaigns');
    fill(list, campaigns.data.length
      ? h('ul', { class: 'plain-list' }, campaigns.data.map((c) => h('li', {}, h('strong', {}, `${c.name} (${c.year})`),
        c.seasons.length ? ` — ${c.seasons.map((x) => `${x.name}: ${x.starts_on} to ${x.ends_on}`).join('; ')}` : ' — no seasons')))
      : h('p', { class: 'muted' }, 'No campaigns yet.'));
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), year: Number(year.value), seasons: [] };
    if (season.value.trim() && starts.value && ends.value) {
      body.seasons.push({ name: season.value.trim(), stage: stage.value, starts_on: starts.value, ends_on: ends.value });
    }
    try {
      await api('/api/campaigns', { json: body });
      toast(`Campaign ${body.name} created.`, 'success');
      form.reset();
      year.value = new Date().getFullYear();
      reload();
    } catch { /* shown */ }
  });
  reload();
  return h('section', { class: 'card', 'aria-labelledby': 'camp-title' }, h('h2', { id: 'camp-title' }, 'Campaigns'), list, h('h3', {}, 'New campaign'), form);
}

/** Mount the admin setup page. */
export function mount(root, { user }) {
  fill(root, h('div', { class: 'page page-users' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Users & setup')),
    usersCard(user),
    h('div', { class: 'setup-grid' }, gridCard(), campaignsCard())));
}
