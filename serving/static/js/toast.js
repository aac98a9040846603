// Short messages in the corner: errors from the server, confirmations, warnings.

import { h } from './dom.js';

const LIFETIME_MS = { info: 4000, success: 3000, warning: 7000, error: 9000 };

/** Show ``message``; errors stay longer and can be dismissed. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const close = h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss' }, '×');
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null },
    h('span', {}, message), close);
  const remove = () => item.remove();
  close.addEventListener('click', remove);
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(remove, LIFETIME_MS[kind] ?? 5000);
}
