// The patrol-unit chooser of the dispatch forms and the patrol view: the units the server
// knows (GET /api/units: the units of active patrol accounts), as a drop-down. Free text is
// only the fallback for when the server lists none (or the list cannot be loaded).

import { api } from './api.js';
import { h } from './dom.js';
import { plural } from './format.js';

const LAST_KEY = 'poppyscan.lastUnit';

/** Remember ``unit`` as the one to preselect next time. */
export function rememberUnit(unit) {
  localStorage.setItem(LAST_KEY, unit);
}

function lastUnit() {
  return localStorage.getItem(LAST_KEY) || '';
}

/**
 * A patrol-unit chooser.
 *
 * @param {{label?: string, value?: string, id?: string}} [options] - the accessible label,
 *   the unit to preselect (else the last one used) and the control's id.
 * @returns {{element: HTMLElement, ready: Promise<void>, readonly value: string}} the element
 *   to insert, a promise settled once the units are loaded, and the chosen unit.
 */
export function unitPicker({ label = 'Patrol unit', value = '', id } = {}) {
  const select = h('select', { 'aria-label': label, required: true, id },
    h('option', { value: '' }, 'Loading units…'));
  const element = h('span', { class: 'unit-picker' }, select);
  let control = select;
  const wanted = value || lastUnit();
  const ready = api('/api/units', { quiet: true }).then((page) => page.data, () => []).then((units) => {
    if (!units.length) {
      control = h('input', { 'aria-label': label, required: true, id, autocomplete: 'off', placeholder: 'e.g. Unit 7', value: wanted });
      select.replaceWith(control);
      return;
    }
    select.replaceChildren(h('option', { value: '' }, 'Choose a unit…'),
      ...units.map((u) => h('option', { value: u.name }, `${u.name} (${plural(u.members, 'patrol')})`)));
    if (units.some((u) => u.name === wanted)) select.value = wanted;
    else if (units.length === 1) select.value = units[0].name;
  });
  return {
    element,
    ready,
    get value() { return control.value.trim(); },
  };
}
