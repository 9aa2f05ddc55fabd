// Content-Transfer-Encoding decoders (RFC 2045 §6): base64 and quoted-printable, lenient as Dovecot is.
// Pure byte work; must not interpret charsets (search.ts does) or allocate more than the output.

import { MimeError } from './errors.ts';

/** The identity encodings RFC 2045 §6.2 and RFC 3516 let through unchanged. */
export function isIdentityEncoding(encoding: string): boolean {
  return encoding === '7bit' || encoding === '8bit' || encoding === 'binary' || encoding === '';
}

/** Removes a transfer encoding; throws MimeError('UNKNOWN_CTE') for one we cannot decode. */
export function decodeTransfer(body: Uint8Array, encoding: string): Uint8Array {
  if (isIdentityEncoding(encoding)) return body;
  if (encoding === 'base64') return decodeBase64(body);
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  throw new MimeError('UNKNOWN_CTE', `unknown Content-Transfer-Encoding ${JSON.stringify(encoding.slice(0, 64))}`);
}

const B64 = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Base64 (RFC 2045 §6.8): characters outside the alphabet (line breaks, spaces, garbage) are skipped;
 * decoding stops at the first '=' pad; a trailing partial quantum of 2-3 characters still yields bytes.
 */
export function decodeBase64(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.floor((src.length * 3) / 4) + 3);
  let o = 0;
  let acc = 0;
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x3d) break;
    const v = B64[c]!;
    if (v < 0) continue;
    acc = (acc << 6) | v;
    if (++n === 4) {
      out[o++] = (acc >> 16) & 0xff;
      out[o++] = (acc >> 8) & 0xff;
      out[o++] = acc & 0xff;
      acc = 0;
      n = 0;
    }
  }
  if (n === 2) out[o++] = (acc >> 4) & 0xff;
  else if (n === 3) {
    out[o++] = (acc >> 10) & 0xff;
    out[o++] = (acc >> 2) & 0xff;
  }
  return out.subarray(0, o);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Quoted-printable (RFC 2045 §6.7): '=XX' decoded (either case), '=' before a line break is a soft
 * break, trailing whitespace before a line break dropped (rule 3), a '=' not followed by hex kept.
 */
export function decodeQuotedPrintable(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length);
  let o = 0;
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === 0x3d) {
      const soft = softBreakEnd(src, i + 1);
      if (soft >= 0) { i = soft; continue; }
      const h = i + 2 < src.length ? hexValue(src[i + 1]!) : -1;
      const l = i + 2 < src.length ? hexValue(src[i + 2]!) : -1;
      if (h >= 0 && l >= 0) { out[o++] = (h << 4) | l; i += 3; continue; }
      out[o++] = c;
      i++;
      continue;
    }
    if (c === 0x20 || c === 0x09) {
      let j = i;
      while (j < src.length && (src[j] === 0x20 || src[j] === 0x09)) j++;
      if (j === src.length || src[j] === 0x0a || (src[j] === 0x0d && src[j + 1] === 0x0a)) { i = j; continue; }
      while (i < j) out[o++] = src[i++]!;
      continue;
    }
    out[o++] = c;
    i++;
  }
  return out.subarray(0, o);
}

/** After a '=' at i-1: the index past a soft line break (whitespace allowed before it), or -1. */
function softBreakEnd(src: Uint8Array, i: number): number {
  while (i < src.length && (src[i] === 0x20 || src[i] === 0x09)) i++;
  if (i === src.length) return i;
  if (src[i] === 0x0a) return i + 1;
  if (src[i] === 0x0d && src[i + 1] === 0x0a) return i + 2;
  return -1;
}
