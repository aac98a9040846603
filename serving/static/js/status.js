// The plot lifecycle as the UI shows it: names, colours, and which moves a role may offer.
// The server (serving/lifecycle.py) decides; this mirror only chooses which buttons to show.

export const STATUSES = ['new', 'suspect', 'dismissed', 'dispatched', 'positive',
  'false_alarm', 'eradicated', 'closed'];

export const STATUS_LABEL = {
  new: 'New',
  suspect: 'Suspect',
  dismissed: 'Dismissed',
  dispatched: 'Dispatched',
  positive: 'Positive',
  false_alarm: 'False alarm',
  eradicated: 'Eradicated',
  closed: 'Closed',
};

export const STATUS_COLOR = {
  new: '#d97706',
  suspect: '#dc2626',
  dismissed: '#94a3b8',
  dispatched: '#7c3aed',
  positive: '#be123c',
  false_alarm: '#0d9488',
  eradicated: '#16a34a',
  closed: '#475569',
};

const REVIEWERS = ['admin', 'analyst'];
const FIELD = ['admin', 'patrol'];

// [from, to, roles, evidence the move needs]
export const MOVES = [
  ['new', 'suspect', REVIEWERS, []],
  ['new', 'dismissed', REVIEWERS, []],
  ['suspect', 'dismissed', REVIEWERS, []],
  ['dismissed', 'suspect', REVIEWERS, []],
  ['suspect', 'dispatched', REVIEWERS, ['unit']],
  ['dispatched', 'positive', FIELD, ['position', 'plant_count']],
  ['dispatched', 'false_alarm', FIELD, ['position']],
  ['positive', 'eradicated', FIELD, ['position', 'plant_count']],
  ['eradicated', 'closed', REVIEWERS, []],
  ['false_alarm', 'closed', REVIEWERS, []],
  ['dismissed', 'closed', REVIEWERS, []],
];

/** Moves ``role`` may make from ``status``: ``[{to, needs}]``. */
export function movesFor(status, role) {
  return MOVES.filter(([from, , roles]) => from === status && roles.includes(role))
    .map(([, to, , needs]) => ({ to, needs }));
}

/** A coloured status pill. */
export function badge(h, status) {
  return h('span', { class: `badge status-${status}` }, STATUS_LABEL[status] || status);
}
