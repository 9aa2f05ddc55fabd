// RFC 5322 §3.3 date-time (with the obsolete forms of §4.3) to ms since the epoch, independent of the
// host's time zone. Must not use Date.parse (it guesses, and reads local time when the zone is missing).

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** RFC 5322 §4.3 obsolete zones, in minutes east of UTC; other letters are military zones, read as -0000. */
const ZONES: Record<string, number> = { ut: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420 };

const DATE = /^\s*(?:[a-z]{3,9}\s*,\s*)?(\d{1,2})\s+([a-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?\s*([+-]\d{4}|[a-z]{1,5})?/i;

/** Parses a Date header value (comments removed); null when it is not a date-time. */
export function parseRfc5322Date(value: string | null): number | null {
  if (value === null) return null;
  const m = DATE.exec(value.replace(/\([^()]*\)/g, ' '));
  if (m === null) return null;
  const month = MONTHS.indexOf(m[2]!.toLowerCase());
  let year = Number(m[3]);
  if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900; // RFC 5322 §4.3
  else if (m[3]!.length === 3) year += 1900;
  const [day, hour, minute, second] = [Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const zone = m[7] ?? '+0000';
  let offsetMin: number;
  if (zone[0] === '+' || zone[0] === '-') {
    const sign = zone[0] === '-' ? -1 : 1;
    offsetMin = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)));
  } else {
    offsetMin = ZONES[zone.toLowerCase()] ?? 0;
  }
  return Date.UTC(year, month, day, hour, minute, second) - offsetMin * 60_000;
}
