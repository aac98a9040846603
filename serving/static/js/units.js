// Patrol units an analyst can dispatch to. The API has no unit list for analysts, so the
// suggestions are the units plots were dispatched to before plus those typed on this device.

import { api, query } from './api.js';
import { h } from './dom.js';

const RECENT_KEY = 'poppyscan.recentUnits';

function recent() {
  try {
    return JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
  } catch {
    return [];
  }
}

/** Remember ``unit`` as the most recently used. */
export function rememberUnit(unit) {
  const units = [unit, ...recent().filter((u) => u !== unit)].slice(0, 12);
  localStorage.setItem(RECENT_KEY, JSON.stringify(units));
}

/** Known units, most recently used first. */
export async function knownUnits() {
  const units = new Set(recent());
  try {
    const page = await api(`/api/suspects${query({ status: ['dispatched', 'positive', 'false_alarm', 'eradicated', 'closed'], limit: 5000 })}`, { quiet: true });
    for (const f of page.features) if (f.properties.assigned_unit) units.add(f.properties.assigned_unit);
  } catch {
    // Suggestions only.
  }
  return [...units];
}

/** A text input with the known units as suggestions. */
export function unitInput(attrs = {}) {
  const listId = `units-${Math.random().toString(36).slice(2, 8)}`;
  const list = h('datalist', { id: listId });
  const input = h('input', { list: listId, autocomplete: 'off', placeholder: 'e.g. Unit 7', required: true, ...attrs });
  const last = recent()[0];
  if (last && !input.value) input.value = last;
  knownUnits().then((units) => list.replaceChildren(...units.map((u) => h('option', { value: u }))));
  return { input, list };
}
