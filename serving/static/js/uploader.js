// The resumable upload protocol of /api/uploads: start, send chunks at the server's offset,
// and after any error ask the server for its offset and go on from there. No DOM here.

import { api, ApiError, describe } from './api.js';

export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
const RESUME_KEY = 'poppyscan.uploads';

function fingerprint(file) {
  return `${file.name}|${file.size}|${file.lastModified}`;
}

function savedUploads() {
  try {
    return JSON.parse(localStorage.getItem(RESUME_KEY) || '{}');
  } catch {
    return {};
  }
}

function saveUploadId(file, id) {
  const all = savedUploads();
  if (id) all[fingerprint(file)] = id; else delete all[fingerprint(file)];
  localStorage.setItem(RESUME_KEY, JSON.stringify(all));
}

/** A stop asked for by the user (pause or cancel), not a failure. */
class Stopped extends Error {}

/** Send one chunk with XMLHttpRequest, which reports upload progress (fetch does not). */
function putChunk(uploadId, blob, start, total, onProgress, register) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    register(xhr);
    xhr.open('PUT', `/api/uploads/${encodeURIComponent(uploadId)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('Content-Range', `bytes ${start}-${start + blob.size - 1}/${total}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = xhr.responseText; }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => reject(new ApiError(0, 'the connection dropped'));
    xhr.ontimeout = () => reject(new ApiError(0, 'the connection timed out'));
    xhr.onabort = () => reject(new Stopped('stopped'));
    xhr.send(blob);
  });
}

/**
 * One file's resumable upload.
 *
 * Callbacks: ``onProgress({sent, total, rate})`` (bytes, bytes/s), ``onState(text, kind)``
 * with kind ``info | warning | error | done``, and the promise of :meth:`start` resolves with
 * the server's answer (``{flight, job}``) or rejects with the reason it gave up.
 */
export class ResumableUpload {
  constructor(file, metadata, { chunkBytes = DEFAULT_CHUNK_BYTES, onProgress, onState } = {}) {
    this.file = file;
    this.metadata = metadata;
    this.chunkBytes = chunkBytes;
    this.onProgress = onProgress || (() => {});
    this.onState = onState || (() => {});
    this.id = null;
    this.offset = 0;
    this.xhr = null;
    this.stopped = false;
    this.rate = 0;
    this.wake = null;
    this.resumedAt = null; // offset an earlier upload of the file had reached, bytes
    this.reconnects = 0; // connections lost and resumed from
  }

  /** Upload to the end; resumes an earlier upload of the same file when the server has it. */
  async start() {
    this.stopped = false;
    await this.open();
    let failures = 0;
    while (true) {
      if (this.stopped) throw new Stopped('paused');
      try {
        const result = await this.sendNext();
        failures = 0;
        if (result) {
          saveUploadId(this.file, null);
          return result;
        }
      } catch (err) {
        if (err instanceof Stopped || this.stopped) throw new Stopped('paused');
        if (err.status && err.status !== 0 && err.status < 500 && err.status !== 408) throw err;
        this.rate = 0; // stalled: no speed, no time left to show
        this.report(0); // back to what the server holds: the lost chunk does not count
        this.reconnects += 1;
        const delay = RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length - 1)];
        failures += 1;
        this.onState(`Connection lost (${err.message}). Retrying in ${Math.round(delay / 1000)} s — the upload resumes where the server stopped.`, 'warning');
        await this.sleep(delay);
        await this.syncOffset();
      }
    }
  }

  /** Stop sending; ``start()`` again resumes. */
  pause() {
    this.stopped = true;
    this.xhr?.abort();
    this.wake?.();
  }

  /** Stop and drop the bytes the server holds. */
  async cancel() {
    this.pause();
    saveUploadId(this.file, null);
    if (this.id) await api(`/api/uploads/${encodeURIComponent(this.id)}`, { method: 'DELETE', quiet: true }).catch(() => {});
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      const online = () => { clearTimeout(timer); resolve(); };
      window.addEventListener('online', online, { once: true });
      this.wake = () => { clearTimeout(timer); window.removeEventListener('online', online); resolve(); };
    });
  }

  async open() {
    const known = savedUploads()[fingerprint(this.file)];
    let resumed = false;
    if (known && !this.id) {
      try {
        const upload = await api(`/api/uploads/${encodeURIComponent(known)}`, { quiet: true });
        if (!upload.complete) {
          this.id = upload.id;
          this.offset = upload.offset;
          resumed = true;
          this.resumedAt = upload.offset;
          this.onState(`Resuming an earlier upload of this file at ${Math.round((100 * upload.offset) / this.file.size)} %.`, 'info');
        }
      } catch {
        saveUploadId(this.file, null);
      }
    }
    if (!this.id) {
      const upload = await api('/api/uploads', {
        json: { filename: this.file.name, size_bytes: this.file.size, metadata: this.metadata },
        quiet: true,
      });
      this.id = upload.id;
      this.offset = upload.offset;
      saveUploadId(this.file, this.id);
    } else if (!resumed) {
      await this.syncOffset(); // resumed after a pause: the server may hold more than we think
    }
    this.report(0);
  }

  /** Ask the server how many bytes it holds (HEAD, ``Upload-Offset``). */
  async syncOffset() {
    try {
      const response = await fetch(`/api/uploads/${encodeURIComponent(this.id)}`, { method: 'HEAD', credentials: 'same-origin', cache: 'no-store' });
      if (response.status === 404 || response.status === 403) {
        throw new ApiError(response.status, 'the server no longer holds this upload: start it again');
      }
      const offset = Number(response.headers.get('Upload-Offset'));
      if (response.ok && Number.isFinite(offset)) {
        this.offset = offset;
        this.report(0);
        this.onState(`Reconnected: resuming at ${Math.round((100 * offset) / this.file.size)} %.`, 'info');
      }
    } catch (err) {
      if (err instanceof ApiError) throw err;
      // Still offline: the next attempt asks again.
    }
  }

  report(inFlight) {
    this.onProgress({ sent: Math.min(this.file.size, this.offset + inFlight), total: this.file.size, rate: this.rate });
  }

  /** Send the chunk at the current offset; the server's answer when the upload completed. */
  async sendNext() {
    const start = this.offset;
    const end = Math.min(start + this.chunkBytes, this.file.size);
    const began = performance.now();
    const { status, body } = await putChunk(this.id, this.file.slice(start, end), start, this.file.size,
      (loaded) => this.report(loaded), (xhr) => { this.xhr = xhr; });
    this.xhr = null;
    const seconds = (performance.now() - began) / 1000;
    if (seconds > 0) this.rate = this.rate ? 0.7 * this.rate + 0.3 * ((end - start) / seconds) : (end - start) / seconds;
    if (status === 200 || status === 201) {
      this.offset = body.offset;
      this.report(0);
      return status === 201 ? body : null;
    }
    if (status === 409 && body && typeof body.offset === 'number') {
      this.offset = body.offset; // the server holds a different amount: go on from there
      return null;
    }
    if (status === 409 && body?.flight_id) {
      saveUploadId(this.file, null);
      throw new ApiError(409, `${describe(body, status)}`, body);
    }
    throw new ApiError(status, describe(body, status), body);
  }
}

export { Stopped };
