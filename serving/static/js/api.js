// Every call to the server goes through here: same-origin fetch with the session cookie,
// JSON in and out, and errors turned into one readable message shown to the user.

import { toast } from './toast.js';

/** A refused or failed request: ``status`` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

export const LOGGED_OUT_EVENT = 'poppyscan:logged-out';

/** ``{a: 1, status: ['new', 'suspect'], skip: null}`` as ``?a=1&status=new&status=suspect``. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === '') continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, String(v));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A person-readable sentence from FastAPI's ``detail`` (text or validation errors). */
export function describe(body, status) {
  const detail = body && typeof body === 'object' ? body.detail : body;
  if (typeof detail === 'string' && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => {
      const where = (d.loc || []).filter((p) => p !== 'body' && p !== 'query').join('.');
      return where ? `${where}: ${d.msg}` : d.msg;
    }).join('; ');
  }
  return `the server answered ${status}`;
}

async function readBody(response) {
  const type = response.headers.get('content-type') || '';
  if (response.status === 204) return null;
  if (type.includes('json')) {
    try { return await response.json(); } catch { return null; }
  }
  return response.text();
}

/**
 * Call the API.
 *
 * @param {string} path - e.g. ``/api/suspects`` plus ``query(...)``.
 * @param {object} [options]
 * @param {string} [options.method] - POST when a body is given, else GET.
 * @param {*} [options.json] - body sent as JSON.
 * @param {FormData|URLSearchParams} [options.form] - body sent as a form.
 * @param {boolean} [options.quiet] - do not show errors (the caller does).
 * @param {AbortSignal} [options.signal]
 * @returns {Promise<*>} the parsed JSON (or text); null for 204.
 */
export async function api(path, options = {}) {
  const { json, form, quiet = false, signal } = options;
  const init = {
    method: options.method || (json !== undefined || form ? 'POST' : 'GET'),
    headers: { Accept: 'application/json', ...(options.headers || {}) },
    credentials: 'same-origin',
    signal,
  };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (form) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    const error = new ApiError(0, 'The server cannot be reached: check the connection and try again.');
    if (!quiet) toast(error.message, 'error');
    throw error;
  }
  const body = await readBody(response);
  if (response.ok) return body;
  const error = new ApiError(response.status, describe(body, response.status), body);
  if (response.status === 401 && !path.startsWith('/api/auth/')) {
    window.dispatchEvent(new CustomEvent(LOGGED_OUT_EVENT));
    error.message = 'Your session has ended: please log in again.';
  }
  if (!quiet) toast(error.message, 'error');
  throw error;
}

/** Every feature of a paged GeoJSON suspect list (``limit`` per request). */
export async function allSuspects(params, options = {}) {
  const features = [];
  const limit = 5000;
  for (let offset = 0; ; offset += limit) {
    const page = await api(`/api/suspects${query({ ...params, limit, offset })}`, options);
    features.push(...page.features);
    if (features.length >= page.total || page.features.length < limit) return { features, total: page.total };
  }
}
