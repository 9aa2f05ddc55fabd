// Trace fields the front end prepends to every message: Return-Path and Received, as Postfix writes them.
// Pure: values in, bytes out; no clock, no socket (the date and the TLS details are arguments).

export interface TraceInfo {
  /** Reverse-path without brackets; '' for the null sender. */
  readonly mailFrom: string;
  /** HELO/EHLO argument as the client sent it. */
  readonly helo: string;
  /** Reverse DNS name of the client, or null ("unknown", as Postfix writes it). */
  readonly clientHostname: string | null;
  readonly remoteAddress: string;
  /** TLS protocol and cipher, or null for a cleartext session. */
  readonly tls: { readonly version: string; readonly cipher: string } | null;
  /** Our host name: the `by` clause. */
  readonly byHostname: string;
  /** RFC 3848 `with` keyword: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA. */
  readonly protocol: string;
  /** Transaction id: the `id` clause. */
  readonly tnx: string;
  /** All recipients; the `for` clause is written only when there is exactly one (it would disclose the others). */
  readonly recipients: readonly string[];
  readonly dateMs: number;
}

const dayNames = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const monthNames = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

const two = (n: number): string => String(n).padStart(2, '0');

/** RFC 5322 §3.3 date-time in UTC, two-digit day as Postfix 3.9 writes it: `Tue, 05 Nov 2024 09:03:07 +0000`. */
export function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const day = dayNames[d.getUTCDay()];
  const month = monthNames[d.getUTCMonth()];
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  return `${day}, ${two(d.getUTCDate())} ${month} ${d.getUTCFullYear()} ${time} +0000`;
}

/**
 * A client-chosen HELO name goes into a header comment structure: anything but the
 * characters of host names and address literals becomes '?', as Postfix's printable()
 * does, so it cannot close a comment or start a new header line.
 */
export function printableHelo(helo: string): string {
  const cleaned = helo.replace(/[^A-Za-z0-9.\-_:[\]]/g, '?');
  return cleaned === '' ? 'unknown' : cleaned;
}

function addressLiteral(ip: string): string {
  return ip.includes(':') ? `[IPv6:${ip}]` : `[${ip}]`;
}

/**
 * `Return-Path:` (RFC 5321 §4.4, written at final delivery, which this is) then
 * `Received:` (RFC 5321 §4.4 syntax, folded with a tab as Postfix does), CRLF-terminated.
 */
export function traceHeaders(t: TraceInfo): string {
  const from = `from ${printableHelo(t.helo)} (${t.clientHostname ?? 'unknown'} ${addressLiteral(t.remoteAddress)})`;
  const lines = [`Received: ${from}`];
  if (t.tls !== null) lines.push(`\t(using ${t.tls.version} with cipher ${t.tls.cipher})`);
  const only = t.recipients.length === 1 ? t.recipients[0] : undefined;
  lines.push(`\tby ${t.byHostname} (stormo) with ${t.protocol} id ${t.tnx}`);
  const date = rfc5322Date(t.dateMs);
  if (only !== undefined) lines.push(`\tfor <${only}>; ${date}`);
  else lines[lines.length - 1] += `; ${date}`;
  return `Return-Path: <${t.mailFrom}>\r\n${lines.join('\r\n')}\r\n`;
}
