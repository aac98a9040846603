// Live scan job progress from the server-sent events of /api/jobs/{id}/events, with
// polling as a fallback where the event stream cannot be kept open.

import { api } from './api.js';

const TERMINAL = ['done', 'failed', 'cancelled'];
const POLL_MS = 2000;

/**
 * Call ``onUpdate(job)`` whenever job ``jobId`` changes, until it ends.
 *
 * @returns {function} stop watching.
 */
export function watchJob(jobId, onUpdate) {
  let stopped = false;
  let source = null;
  let timer = 0;
  let errors = 0;

  const stop = () => {
    stopped = true;
    source?.close();
    clearTimeout(timer);
  };

  const update = (job) => {
    if (stopped) return;
    onUpdate(job);
    if (TERMINAL.includes(job.status)) stop();
  };

  async function poll() {
    if (stopped) return;
    try {
      update(await api(`/api/jobs/${jobId}`, { quiet: true }));
    } catch { /* try again */ }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }

  if ('EventSource' in window) {
    source = new EventSource(`/api/jobs/${jobId}/events`);
    source.onmessage = (event) => {
      errors = 0;
      update(JSON.parse(event.data));
    };
    source.addEventListener('gone', () => stop());
    source.onerror = () => {
      // The stream ended or broke; the browser reconnects by itself, but after repeated
      // errors fall back to polling.
      errors += 1;
      if (errors >= 3 && !stopped) {
        source.close();
        poll();
      }
    };
  } else {
    poll();
  }
  return stop;
}
