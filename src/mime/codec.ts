// The stored form of a MessageSummary: positional MessagePack arrays (no repeated keys), validated on
// the way back in. Must not trust stored bytes: anything off is MimeError('CORRUPT'), never a crash.

import { Packr } from 'msgpackr';
import { MimeError } from './errors.ts';
import { mimeLimits } from './limits.ts';
import type { BodyPart, Envelope, EnvelopeAddress, MessageSummary } from './types.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });
/** Sender/reply-to that equal from (the RFC 9051 default) are stored as this marker. */
const SAME_AS_FROM = 1;
/** A tree deeper than parse can build is corrupt (containers nest depthMax deep, plus leaves). */
const decodeDepthMax = mimeLimits.depthMax + 2;

type Flat = (string | null)[];

function flatAddrs(list: EnvelopeAddress[] | null): Flat | null {
  if (list === null) return null;
  const out: Flat = [];
  for (const a of list) out.push(a.name, a.adl, a.mailbox, a.host);
  return out;
}

function flatParams(params: [string, string][]): string[] {
  const out: string[] = [];
  for (const [k, v] of params) out.push(k, v);
  return out;
}

function encodeEnvelope(e: Envelope): unknown[] {
  const same = (x: EnvelopeAddress[] | null) => (x !== null && x === e.from ? SAME_AS_FROM : flatAddrs(x));
  return [e.date, e.subject, flatAddrs(e.from), same(e.sender), same(e.replyTo), flatAddrs(e.to),
    flatAddrs(e.cc), flatAddrs(e.bcc), e.inReplyTo, e.messageId];
}

function encodePart(p: BodyPart): unknown[] {
  return [p.part, p.type, p.subtype, flatParams(p.params), p.id, p.description, p.encoding,
    p.headerStart, p.bodyStart, p.end, p.size, p.lines, p.md5,
    p.disposition === null ? null : [p.disposition.type, flatParams(p.disposition.params)],
    p.language, p.location, p.children.map(encodePart), p.envelope === null ? null : encodeEnvelope(p.envelope)];
}

/** Compact msgpack of a summary; bounded because summarize bounds parts and strings (limits.ts). */
export function encodeSummary(s: MessageSummary): Uint8Array {
  return packr.pack([s.version, s.size, encodeEnvelope(s.envelope), encodePart(s.body), s.sortSubject,
    s.sentDate, s.references, s.messageId, s.firstFrom, s.firstTo, s.firstCc, s.displayFrom, s.displayTo, s.replyOrForward]);
}

// ---- decoding: every field checked ----

function corrupt(what: string): never {
  throw new MimeError('CORRUPT', `stored MIME summary is corrupt: ${what}`);
}

function arr(v: unknown, what: string, len?: number): unknown[] {
  if (!Array.isArray(v) || (len !== undefined && v.length !== len)) corrupt(what);
  return v;
}
function str(v: unknown, what: string): string {
  return typeof v === 'string' ? v : corrupt(what);
}
function strOrNull(v: unknown, what: string): string | null {
  return v === null || typeof v === 'string' ? v : corrupt(what);
}
function int(v: unknown, what: string): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : corrupt(what);
}
function intOrNull(v: unknown, what: string): number | null {
  return v === null ? null : int(v, what);
}

function pairs(v: unknown, what: string): [string, string][] {
  const flat = arr(v, what);
  if (flat.length % 2 !== 0) corrupt(what);
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([str(flat[i], what), str(flat[i + 1], what)]);
  return out;
}

function addrs(v: unknown, what: string): EnvelopeAddress[] | null {
  if (v === null) return null;
  const flat = arr(v, what);
  if (flat.length % 4 !== 0) corrupt(what);
  const out: EnvelopeAddress[] = [];
  for (let i = 0; i < flat.length; i += 4) {
    out.push({ name: strOrNull(flat[i], what), adl: strOrNull(flat[i + 1], what),
      mailbox: strOrNull(flat[i + 2], what), host: strOrNull(flat[i + 3], what) });
  }
  return out;
}

function decodeEnvelope(v: unknown): Envelope {
  const a = arr(v, 'envelope', 10);
  const from = addrs(a[2], 'from');
  return {
    date: strOrNull(a[0], 'date'), subject: strOrNull(a[1], 'subject'), from,
    sender: a[3] === SAME_AS_FROM ? from : addrs(a[3], 'sender'),
    replyTo: a[4] === SAME_AS_FROM ? from : addrs(a[4], 'reply-to'),
    to: addrs(a[5], 'to'), cc: addrs(a[6], 'cc'), bcc: addrs(a[7], 'bcc'),
    inReplyTo: strOrNull(a[8], 'in-reply-to'), messageId: strOrNull(a[9], 'message-id'),
  };
}

function decodePart(v: unknown, depth: number): BodyPart {
  if (depth > decodeDepthMax) corrupt('part tree too deep');
  const a = arr(v, 'part', 18);
  const disp = a[13] === null ? null : arr(a[13], 'disposition', 2);
  const language = a[14] === null ? null : arr(a[14], 'language').map((x) => str(x, 'language'));
  const part: BodyPart = {
    part: str(a[0], 'part'), type: str(a[1], 'type'), subtype: str(a[2], 'subtype'), params: pairs(a[3], 'params'),
    id: strOrNull(a[4], 'id'), description: strOrNull(a[5], 'description'), encoding: str(a[6], 'encoding'),
    headerStart: int(a[7], 'headerStart'), bodyStart: int(a[8], 'bodyStart'), end: int(a[9], 'end'),
    size: int(a[10], 'size'), lines: intOrNull(a[11], 'lines'), md5: strOrNull(a[12], 'md5'),
    disposition: disp === null ? null : { type: str(disp[0], 'disposition'), params: pairs(disp[1], 'disposition') },
    language, location: strOrNull(a[15], 'location'),
    children: arr(a[16], 'children').map((c) => decodePart(c, depth + 1)),
    envelope: a[17] === null ? null : decodeEnvelope(a[17]),
  };
  if (!(part.headerStart <= part.bodyStart && part.bodyStart <= part.end)) corrupt('offsets');
  return part;
}

/** Decodes a stored summary; throws MimeError('CORRUPT') for anything that is not one. */
export function decodeSummary(b: Uint8Array): MessageSummary {
  if (b.length > mimeLimits.summaryEncodedBytesMax) corrupt('too large');
  let raw: unknown;
  try {
    raw = packr.unpack(b);
  } catch (e) {
    throw new MimeError('CORRUPT', 'stored MIME summary is not MessagePack', { cause: e });
  }
  const a = arr(raw, 'summary', 14);
  if (a[0] !== 1) corrupt('version');
  const sentDate = a[5] === null ? null : typeof a[5] === 'number' && Number.isFinite(a[5]) ? a[5] : corrupt('sentDate');
  return {
    version: 1, size: int(a[1], 'size'), envelope: decodeEnvelope(a[2]), body: decodePart(a[3], 0),
    sortSubject: str(a[4], 'sortSubject'), sentDate,
    references: arr(a[6], 'references').map((x) => str(x, 'references')), messageId: strOrNull(a[7], 'messageId'),
    firstFrom: str(a[8], 'firstFrom'), firstTo: str(a[9], 'firstTo'), firstCc: str(a[10], 'firstCc'),
    displayFrom: str(a[11], 'displayFrom'), displayTo: str(a[12], 'displayTo'),
    replyOrForward: typeof a[13] === 'boolean' ? a[13] : corrupt('replyOrForward'),
  };
}
