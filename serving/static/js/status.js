// How the UI shows a plot's status: names and colours. Which moves a user may make is not
// decided here: every suspect the API returns carries its ``allowed_moves`` for whoever
// asked (serving/lifecycle.py), and the UI offers exactly those.

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

/** A coloured status pill. */
export function badge(h, status) {
  return h('span', { class: `badge status-${status}` }, STATUS_LABEL[status] || status);
}
