// Where the phone is, and links that open a place in the phone's navigation app.

const LAST_KEY = 'poppyscan.lastPosition';
// A fix younger than this is still good for a report when a fresh one does not come, ms.
const STALE_MS = 120000;

// The latest fix of follow(), while the page follows the position.
let latest = null;

/** A ``geo:`` URI (RFC 5870) with a label, which Android and iOS map apps open. */
export function geoUri(lat, lon, name = '') {
  const coords = `${lat.toFixed(7)},${lon.toFixed(7)}`;
  const q = name ? `?q=${coords}(${encodeURIComponent(name)})` : '';
  return `geo:${coords}${q}`;
}

/** The last position this device reported, or null. */
export function lastPosition() {
  try {
    const value = JSON.parse(localStorage.getItem(LAST_KEY) || 'null');
    return value && Number.isFinite(value.lat) && Number.isFinite(value.lon) ? value : null;
  } catch {
    return null;
  }
}

function remember(position) {
  localStorage.setItem(LAST_KEY, JSON.stringify(position));
}

/**
 * The phone's position: ``{lat, lon, accuracy_m}``. Rejects with a readable message when
 * the browser has no geolocation, the user refused it, or no fix came in time.
 */
export function locate({ timeoutMs = 10000, maximumAgeMs = 30000 } = {}) {
  if (latest && Date.now() - latest.at <= maximumAgeMs) return Promise.resolve(latest);
  return new Promise((resolve, reject) => {
    if (!('geolocation' in navigator)) {
      reject(new Error('This browser cannot tell its position: enter it by hand.'));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        const value = { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy_m: pos.coords.accuracy, at: Date.now() };
        remember(value);
        resolve(value);
      },
      (err) => {
        if (latest && Date.now() - latest.at <= STALE_MS) {
          resolve(latest);
          return;
        }
        const why = {
          1: 'Location permission was refused',
          2: 'The position is not available here',
          3: 'No position fix in time',
        }[err.code] || 'The position could not be read';
        reject(new Error(`${why}: enter it by hand.`));
      },
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: maximumAgeMs },
    );
  });
}

/** Follow the position while the page is open; returns a function that stops it. */
export function follow(onPosition) {
  if (!('geolocation' in navigator)) return () => {};
  const id = navigator.geolocation.watchPosition(
    (pos) => {
      const value = { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy_m: pos.coords.accuracy, at: Date.now() };
      remember(value);
      latest = value;
      onPosition(value);
    },
    () => {},
    { enableHighAccuracy: true, maximumAge: 15000 },
  );
  return () => {
    navigator.geolocation.clearWatch(id);
    latest = null;
  };
}
