// Decodes SASL client responses for POP3 AUTH and IMAP AUTHENTICATE: strict base64 (RFC 4648 §4, RFC 5034 §4)
// and the PLAIN message (RFC 4616 §2). Pure: no sockets, no store; never logs or returns the password anywhere but its field.

import { saslPlainFieldBytesMax } from './limits.ts';

/** RFC 5034 §4: a client response of "*" cancels the exchange. */
export const saslCancel = '*';
/** RFC 5034 §4: an initial response of "=" stands for an empty one. */
export const saslEmptyInitialResponse = '=';

/** Canonical base64 only: length a multiple of 4, padding only at the end; undefined otherwise. */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  return Uint8Array.from(Buffer.from(text, 'base64'));
}

export interface PlainCredentials {
  /** Authorization identity; '' when the client acts as itself. */
  readonly authzid: string;
  readonly authcid: string;
  readonly password: string;
}

export type PlainDecodeError =
  | 'FIELDS' // not exactly three NUL-separated fields
  | 'EMPTY' // authcid or passwd empty
  | 'TOO_LONG' // a field over 255 octets
  | 'NOT_UTF8'; // a field is not UTF-8 or holds a control character

const utf8 = new TextDecoder('utf-8', { fatal: true });

function field(bytes: Uint8Array): string | undefined {
  try {
    const text = utf8.decode(bytes);
    return /[\x00-\x1f\x7f]/.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

/** RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`. */
export function decodePlain(message: Uint8Array): { ok: true; credentials: PlainCredentials } | { ok: false; error: PlainDecodeError } {
  const first = message.indexOf(0);
  const second = first < 0 ? -1 : message.indexOf(0, first + 1);
  if (first < 0 || second < 0 || message.indexOf(0, second + 1) >= 0) return { ok: false, error: 'FIELDS' };
  const parts = [message.subarray(0, first), message.subarray(first + 1, second), message.subarray(second + 1)];
  if (parts.some((p) => p.length > saslPlainFieldBytesMax)) return { ok: false, error: 'TOO_LONG' };
  const [authzid, authcid, password] = parts.map(field);
  if (authzid === undefined || authcid === undefined || password === undefined) return { ok: false, error: 'NOT_UTF8' };
  if (authcid === '' || password === '') return { ok: false, error: 'EMPTY' };
  return { ok: true, credentials: { authzid, authcid, password } };
}
