// ENVELOPE (RFC 9051 §7.5.2) from a header block's fields: raw unfolded values and parsed addresses.
// Must not decode encoded-words (the client does) nor produce IMAP syntax (src/imap does).

import { parseAddressList } from './address.ts';
import { fieldValue, type HeaderField } from './header.ts';
import type { Envelope } from './types.ts';

const envelopeFields = new Set(['date', 'subject', 'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'in-reply-to', 'message-id']);

/**
 * Builds the envelope from the first occurrence of each field (present but empty gives '', as Dovecot);
 * sender and reply-to default to from.
 */
export function buildEnvelope(buf: Uint8Array, fields: HeaderField[]): Envelope {
  const first = new Map<string, HeaderField>();
  for (const f of fields) if (envelopeFields.has(f.name) && !first.has(f.name)) first.set(f.name, f);
  const text = (name: string): string | null => {
    const f = first.get(name);
    return f === undefined ? null : fieldValue(buf, f);
  };
  const addrs = (name: string) => {
    const v = text(name);
    return v === null ? null : parseAddressList(v);
  };
  const from = addrs('from');
  const sender = addrs('sender');
  const replyTo = addrs('reply-to');
  return {
    date: text('date'),
    subject: text('subject'),
    from,
    sender: sender ?? from,
    replyTo: replyTo ?? from,
    to: addrs('to'),
    cc: addrs('cc'),
    bcc: addrs('bcc'),
    inReplyTo: text('in-reply-to'),
    messageId: text('message-id'),
  };
}
