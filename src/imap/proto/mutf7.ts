// Modified UTF-7 mailbox names (RFC 3501 §5.1.3) for IMAP4rev1 clients; IMAP4rev2 clients use UTF-8.
// Pure conversions; a malformed name is returned unchanged by decode (the store then sees it as is).

function b64encode(units: number[]): string {
  const bytes = Buffer.alloc(units.length * 2);
  units.forEach((u, i) => bytes.writeUInt16BE(u, i * 2));
  return bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',');
}

/** UTF-8 text to modified UTF-7. */
export function encodeMutf7(s: string): string {
  let out = '';
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length > 0) out += `&${b64encode(pending)}-`;
    pending = [];
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += c === 0x26 ? '&-' : s[i];
    } else pending.push(c);
  }
  flush();
  return out;
}

/** Modified UTF-7 to UTF-8 text; names that are not valid modified UTF-7 come back unchanged. */
export function decodeMutf7(s: string): string {
  if (!s.includes('&')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const amp = s.indexOf('&', i);
    if (amp < 0) {
      out += s.slice(i);
      break;
    }
    out += s.slice(i, amp);
    const dash = s.indexOf('-', amp);
    if (dash < 0) return s;
    const b64 = s.slice(amp + 1, dash);
    if (b64 === '') out += '&';
    else {
      if (!/^[A-Za-z0-9+,]+$/.test(b64)) return s;
      const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
      if (bytes.length % 2 !== 0) return s;
      for (let j = 0; j < bytes.length; j += 2) out += String.fromCharCode(bytes.readUInt16BE(j));
    }
    i = dash + 1;
  }
  return out;
}
