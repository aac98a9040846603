// Numbers, sizes, dates and places as people read them.

const nf = new Intl.NumberFormat(undefined);
const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export const int = (n) => (n === null || n === undefined ? '—' : nf.format(n));

/** 0..1 as a percentage. */
export function pct(share, digits = 0) {
  if (share === null || share === undefined) return '—';
  return `${(share * 100).toFixed(digits)} %`;
}

/** Square metres, with hectares for large areas. */
export function area(m2) {
  if (m2 === null || m2 === undefined) return '—';
  return m2 >= 10000 ? `${nf2.format(m2 / 10000)} ha` : `${nf1.format(m2)} m²`;
}

/** Metres, with kilometres for long distances. */
export function distance(m) {
  if (m === null || m === undefined || !Number.isFinite(m)) return '—';
  return m >= 1000 ? `${nf2.format(m / 1000)} km` : `${Math.round(m)} m`;
}

/** Bytes in B, kB, MB or GB. */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `${i ? v.toFixed(v < 10 ? 1 : 0) : v} ${units[i]}`;
}

/** Seconds as "1 h 4 min", "3 min 10 s" or "12 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

/** A date and time in the user's locale. */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined,
    { dateStyle: 'medium', timeStyle: 'short' });
}

/** A date in the user's locale. */
export function day(iso) {
  if (!iso) return '—';
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00` : iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleDateString(undefined,
    { dateStyle: 'medium' });
}

/** WGS84 latitude, longitude with 6 decimals (about 10 cm). */
export function latlon(lat, lon) {
  return `${lat.toFixed(6)}, ${lon.toFixed(6)}`;
}

/** Great-circle distance between two WGS84 points, metres. */
export function haversine(lat1, lon1, lat2, lon2) {
  const r = 6371008.8;
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2
    + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Title case of a class or status name: "false_alarm" -> "False alarm". */
export function label(name) {
  const text = String(name ?? '').replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "1 plant", "3 plants". */
export function plural(n, one, many = `${one}s`) {
  return `${int(n)} ${n === 1 ? one : many}`;
}
