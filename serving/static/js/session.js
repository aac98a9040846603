// Who is logged in: the cookie session of POST /api/auth/session, read back with /me.

import { api } from './api.js';

/** The logged-in user, or null when there is no valid session. */
export async function currentUser() {
  try {
    return await api('/api/auth/me', { quiet: true });
  } catch {
    return null;
  }
}

/** Log in; the server sets the HttpOnly session cookie. Throws ApiError on bad credentials. */
export async function logIn(username, password) {
  const form = new URLSearchParams({ username, password });
  await api('/api/auth/session', { form, quiet: true });
  return currentUser();
}

/** Forget the session cookie. */
export async function logOut() {
  try {
    await api('/api/auth/logout', { method: 'POST', quiet: true });
  } catch {
    // Logged out locally either way.
  }
}
