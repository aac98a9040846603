// The login form: posts to /api/auth/session, which sets the session cookie.

import { h, field } from './dom.js';
import { logIn } from './session.js';

/** Show the login form in ``root``; resolves with the user once logged in. */
export function showLogin(root) {
  return new Promise((resolve) => {
    const username = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
    const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Log in');
    const form = h('form', { class: 'login-card', 'aria-labelledby': 'login-title' },
      h('div', { class: 'login-brand' },
        h('img', { src: '/static/favicon.svg', alt: '', width: 48, height: 48 }),
        h('h1', { id: 'login-title' }, 'poppyscan')),
      h('p', { class: 'muted' }, 'Drone survey review, dispatch and field reports.'),
      field('Username', username),
      field('Password', password),
      error,
      submit);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      error.hidden = true;
      try {
        const user = await logIn(username.value.trim(), password.value);
        if (!user) throw new Error('The server did not keep the session: are cookies allowed?');
        resolve(user);
      } catch (err) {
        error.textContent = err.status === 401 ? 'Wrong username or password.' : err.message;
        error.hidden = false;
        password.select();
      } finally {
        submit.disabled = false;
      }
    });
    root.replaceChildren(h('div', { class: 'login-page' }, form));
    username.focus();
  });
}
