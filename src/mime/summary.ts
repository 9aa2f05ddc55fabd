// summarize(): the once-per-delivery MessageSummary (ENVELOPE, BODYSTRUCTURE tree, SORT/THREAD keys).
// Must not throw on malformed input, decode bodies, or read clocks.

import libmime from 'libmime';
import { parseRfc5322Date } from './date.ts';
import { fieldValue, firstField } from './header.ts';
import { mimeLimits } from './limits.ts';
import { parseMessage } from './parse.ts';
import { extractBaseSubject } from './subject.ts';
import type { EnvelopeAddress, MessageSummary } from './types.ts';

/** Parses a message into its summary. Never throws on malformed input (best-effort tree). */
export function summarize(message: Uint8Array): MessageSummary {
  const buf = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const parsed = parseMessage(buf);
  const { envelope, fields } = parsed;
  // References is read whole (within headerBytesMax): its tail holds the parent.
  const refs = firstField(fields, 'references');
  const subject = extractBaseSubject(decodeWords(envelope.subject ?? ''));
  return {
    version: 1,
    size: buf.length,
    envelope,
    body: parsed.body,
    sortSubject: subject.base,
    replyOrForward: subject.replyOrForward,
    sentDate: parseRfc5322Date(envelope.date),
    references: threadReferencesOf(refs === null ? null : fieldValue(buf, refs, mimeLimits.headerBytesMax), envelope.inReplyTo),
    messageId: firstMessageId(envelope.messageId),
    firstFrom: firstMailbox(envelope.from),
    firstTo: firstMailbox(envelope.to),
    firstCc: firstMailbox(envelope.cc),
    displayFrom: displayName(envelope.from),
    displayTo: displayName(envelope.to),
  };
}

/** RFC 2047 decoding into UTF-8; never throws (a bad word stays as written). */
export function decodeWords(s: string): string {
  if (!s.includes('=?')) return s;
  try {
    return libmime.decodeWords(s);
  } catch {
    return s;
  }
}

/** All `<id>` message-ids in a header value, in order (RFC 5322 §3.6.4, leniently). */
export function messageIds(value: string | null): string[] {
  if (value === null) return [];
  const out: string[] = [];
  for (const m of value.matchAll(/<([^<>\s]+)>/g)) out.push(`<${m[1]}>`);
  return out;
}

function firstMessageId(value: string | null): string | null {
  return messageIds(value)[0] ?? null;
}

/**
 * RFC 5256 §3 step 1.A: the References ids, or else the first id of In-Reply-To. Over referencesMax,
 * the first (the thread's root, which THREADID is derived from) and the most recent ones are kept:
 * the algorithm links each id to the next, and the tail carries the parent.
 */
function threadReferencesOf(references: string | null, inReplyTo: string | null): string[] {
  let ids = messageIds(references);
  if (ids.length === 0) ids = messageIds(inReplyTo).slice(0, 1);
  if (ids.length <= mimeLimits.referencesMax) return ids;
  return [ids[0]!, ...ids.slice(ids.length - mimeLimits.referencesMax + 1)];
}

function firstAddress(list: EnvelopeAddress[] | null): EnvelopeAddress | null {
  for (const a of list ?? []) if (a.host !== null) return a;
  return null;
}

/** RFC 5256 §3 SORT FROM/TO/CC: the addr-mailbox of the first address. */
function firstMailbox(list: EnvelopeAddress[] | null): string {
  return firstAddress(list)?.mailbox ?? '';
}

/** RFC 5957 §3: the decoded display-name of the first address, else its addr-spec. */
function displayName(list: EnvelopeAddress[] | null): string {
  const a = firstAddress(list);
  if (a === null) return '';
  if (a.name !== null && a.name !== '') return decodeWords(a.name);
  return `${a.mailbox ?? ''}@${a.host ?? ''}`;
}
