// The application shell: log in, show the pages the user's role may open, route between them.

import { LOGGED_OUT_EVENT } from './api.js';
import { h, fill, spinner } from './dom.js';
import { showLogin } from './login.js';
import { PAGES, homeFor, pagesFor } from './pages.js';
import { currentRoute, href } from './router.js';
import { currentUser, logOut } from './session.js';
import { toast } from './toast.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const nav = document.getElementById('nav');
const navToggle = document.getElementById('nav-toggle');
const whoami = document.getElementById('whoami');

let user = null;
let unmount = null;
let routing = 0;

function teardown() {
  if (unmount) {
    try { unmount(); } catch (err) { console.error(err); }
  }
  unmount = null;
}

function showShell() {
  fill(nav, pagesFor(user.role).map((page) => h('a', { href: href(page.id), dataset: { page: page.id } }, page.title)));
  const logout = h('button', { class: 'btn btn-ghost btn-small', type: 'button' }, 'Log out');
  logout.addEventListener('click', async () => {
    teardown();
    await logOut();
    window.location.replace('/');
  });
  fill(whoami,
    h('span', { class: 'who' }, user.full_name || user.username),
    h('span', { class: `role role-${user.role}` }, user.unit ? `${user.role} · ${user.unit}` : user.role),
    logout);
  topbar.hidden = false;
}

async function route() {
  const { page, params } = currentRoute();
  const target = pagesFor(user.role).find((p) => p.id === page);
  if (!target) {
    if (page && PAGES.some((p) => p.id === page)) {
      toast(`A ${user.role} account cannot open “${page}”.`, 'warning');
    }
    window.location.replace(href(homeFor(user.role)));
    return;
  }
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  nav.classList.remove('open');
  navToggle.setAttribute('aria-expanded', 'false');
  teardown();
  const seq = ++routing;
  fill(main, spinner());
  const module = await import(target.module);
  if (seq !== routing) return;
  main.replaceChildren();
  main.dataset.page = target.id;
  document.title = `${target.title} · poppyscan`;
  unmount = module.mount(main, { user, params }) || null;
}

async function logInAgain() {
  teardown();
  topbar.hidden = true;
  user = await showLogin(main);
  showShell();
  route();
}

async function start() {
  navToggle.addEventListener('click', () => {
    const open = nav.classList.toggle('open');
    navToggle.setAttribute('aria-expanded', String(open));
  });
  window.addEventListener(LOGGED_OUT_EVENT, () => {
    if (user !== null && !topbar.hidden) {
      toast('Your session has ended: please log in again.', 'warning');
      logInAgain();
    }
  });
  user = await currentUser();
  if (!user) user = await showLogin(main);
  showShell();
  window.addEventListener('hashchange', route);
  route();
}

start();
