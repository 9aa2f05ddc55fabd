// POP3 reply values and their wire form: status lines (RFC 1939 §3), response codes (RFC 2449 §8, RFC 3206),
// SASL continuations (RFC 5034 §4) and multi-line listings. Pure: no sockets, no store.

import { pop3ResponseLineBytesMax } from '../limits.ts';

/** Extended response codes: RFC 2449 §8.1 (IN-USE, LOGIN-DELAY) and RFC 3206 (SYS/TEMP, SYS/PERM, AUTH). */
export type RespCode = 'IN-USE' | 'LOGIN-DELAY' | 'SYS/TEMP' | 'SYS/PERM' | 'AUTH';

/** A status line: `+OK text` or `-ERR [CODE] text`. */
export type Reply =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly code: RespCode | undefined; readonly text: string };

export function ok(text: string): Reply {
  return { ok: true, text };
}

export function err(code: RespCode | undefined, text: string): Reply {
  return { ok: false, code, text };
}

/** RFC 1939 §3: a multi-line response ends with a line holding a single dot. */
export const multilineTerminator: Uint8Array = new Uint8Array([0x2e, 0x0d, 0x0a]);

const encoder = new TextEncoder();

/** Reply text is ours or already validated client input; a control character here is a programmer error. */
function assertLineText(text: string): void {
  if (/[\x00-\x1f\x7f]/.test(text)) throw new Error(`pop3: reply text contains a control character: ${JSON.stringify(text)}`);
}

export function formatReply(reply: Reply): string {
  assertLineText(reply.text);
  if (reply.ok) return reply.text === '' ? '+OK' : `+OK ${reply.text}`;
  const code = reply.code === undefined ? '' : `[${reply.code}] `;
  return `-ERR ${code}${reply.text}`;
}

/** The status line with CRLF; at most 512 octets (RFC 2449 §4). */
export function serializeReply(reply: Reply): Uint8Array {
  const bytes = encoder.encode(`${formatReply(reply)}\r\n`);
  if (bytes.length > pop3ResponseLineBytesMax) throw new Error(`pop3: reply line of ${bytes.length} octets exceeds ${pop3ResponseLineBytesMax}`);
  return bytes;
}

/** RFC 5034 §4: `continue-req = "+" SP [base64] CRLF`. */
export function serializeContinuation(base64: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw new Error('pop3: continuation payload is not base64');
  return encoder.encode(`+ ${base64}\r\n`);
}

/**
 * Lines of a multi-line listing (LIST, UIDL, CAPA), each dot-stuffed (RFC 1939 §3) and CRLF-terminated.
 * The terminator is separate so that long listings can be written in several pieces.
 */
export function serializeListingLines(lines: readonly string[]): Uint8Array {
  let text = '';
  for (const line of lines) {
    assertLineText(line);
    text += line.startsWith('.') ? `.${line}\r\n` : `${line}\r\n`;
  }
  return encoder.encode(text);
}

/** A complete multi-line response: status line, dot-stuffed lines, terminator. */
export function serializeMultiline(head: Reply, lines: readonly string[]): Uint8Array {
  const parts = [serializeReply(head), serializeListingLines(lines), multilineTerminator];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
