// ENVELOPE, BODY and BODYSTRUCTURE in IMAP syntax (RFC 9051 §7.5.2) from the MIME summary that src/mime
// computed at delivery. Pure serialization: no parsing of messages here, no store.

import type { BodyPart, Envelope, EnvelopeAddress } from '../../mime/index.ts';
import { type Chunk, type EncodeOptions, list, nstr, str } from './encode.ts';

function addresses(a: readonly EnvelopeAddress[] | null, o: EncodeOptions): Chunk[] {
  if (a === null || a.length === 0) return ['NIL'];
  return ['(', ...a.flatMap((x) => list([nstr(x.name, o), nstr(x.adl, o), nstr(x.mailbox, o), nstr(x.host, o)])), ')'];
}

/** RFC 9051 §7.5.2: sender and reply-to default to from when absent. */
export function envelope(e: Envelope, o: EncodeOptions): Chunk[] {
  const from = e.from;
  return list([
    nstr(e.date, o),
    nstr(e.subject, o),
    addresses(from, o),
    addresses(e.sender && e.sender.length > 0 ? e.sender : from, o),
    addresses(e.replyTo && e.replyTo.length > 0 ? e.replyTo : from, o),
    addresses(e.to, o),
    addresses(e.cc, o),
    addresses(e.bcc, o),
    nstr(e.inReplyTo, o),
    nstr(e.messageId, o),
  ]);
}

function params(p: readonly (readonly [string, string])[], o: EncodeOptions): Chunk[] {
  if (p.length === 0) return ['NIL'];
  return list(p.flatMap(([k, v]) => [str(k, o), str(v, o)]));
}

function disposition(p: BodyPart, o: EncodeOptions): Chunk[] {
  if (p.disposition === null) return ['NIL'];
  return list([str(p.disposition.type, o), params(p.disposition.params, o)]);
}

function language(p: BodyPart, o: EncodeOptions): Chunk[] {
  if (p.language === null || p.language.length === 0) return ['NIL'];
  return p.language.length === 1 ? str(p.language[0]!, o) : list(p.language.map((l) => str(l, o)));
}

const emptyText: BodyPart = {
  part: '1', type: 'text', subtype: 'plain', params: [], id: null, description: null, encoding: '7bit',
  headerStart: 0, bodyStart: 0, end: 0, size: 0, lines: 0, md5: null, disposition: null, language: null, location: null, children: [], envelope: null,
};

/** BODY (ext = false) or BODYSTRUCTURE (ext = true, with extension data). */
export function bodyStructure(p: BodyPart, ext: boolean, o: EncodeOptions): Chunk[] {
  if (p.type === 'multipart') {
    const kids = p.children.length > 0 ? p.children : [emptyText];
    const out: Chunk[] = ['('];
    for (const c of kids) out.push(...bodyStructure(c, ext, o));
    out.push(' ', ...str(p.subtype, o));
    if (ext) out.push(' ', ...params(p.params, o), ' ', ...disposition(p, o), ' ', ...language(p, o), ' ', ...nstr(p.location, o));
    out.push(')');
    return out;
  }
  const fields: Chunk[][] = [str(p.type, o), str(p.subtype, o), params(p.params, o), nstr(p.id, o), nstr(p.description, o), str(p.encoding, o), [String(p.size)]];
  const child = p.children[0];
  if (p.type === 'message' && (p.subtype === 'rfc822' || p.subtype === 'global') && p.envelope !== null && child !== undefined) {
    fields.push(envelope(p.envelope, o), bodyStructure(child, ext, o), [String(p.lines ?? 0)]);
  } else if (p.type === 'text') fields.push([String(p.lines ?? 0)]);
  if (ext) fields.push(nstr(p.md5, o), disposition(p, o), language(p, o), nstr(p.location, o));
  return list(fields);
}
