// Message builders shared by the MIME tests and the throughput measurement: deterministic bytes, no I/O.

import { createHash } from 'node:crypto';

/** A multipart/mixed message of about `targetBytes`: text, html, base64 attachments, a message/rfc822. */
export function multipartMessage(targetBytes: number): Buffer {
  const b64Line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3';
  const text = 'The quick brown fox jumps over the lazy dog, and keeps running for a while.\r\n';
  const head = [
    'From: "Alice Example" <alice@example.org>', 'To: Bob <bob@example.net>, carol@example.net',
    'Subject: Re: quarterly numbers', 'Date: Mon, 23 Nov 2026 01:02:03 +0100',
    'Message-ID: <m1@example.org>', 'References: <r0@example.org> <r1@example.org>',
    'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="==outer=="', '', '',
  ].join('\r\n');
  const parts: string[] = [];
  parts.push('Content-Type: multipart/alternative; boundary="==alt=="\r\n\r\n--==alt==\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
    + text.repeat(20) + '--==alt==\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>' + text.repeat(20) + '</p>\r\n--==alt==--\r\n');
  parts.push('Content-Type: message/rfc822\r\n\r\nFrom: x@example.com\r\nSubject: inner\r\n\r\n' + text.repeat(5));
  let size = head.length + parts.join('').length;
  const attachLines = Math.max(1, Math.floor((targetBytes - size - 400) / (b64Line.length + 2)));
  const perAttach = Math.min(attachLines, 20_000);
  for (let left = attachLines, n = 0; left > 0; left -= perAttach, n++) {
    parts.push(`Content-Type: application/octet-stream; name="a${n}.bin"\r\nContent-Transfer-Encoding: base64\r\n`
      + `Content-Disposition: attachment; filename="a${n}.bin"\r\n\r\n` + `${b64Line}\r\n`.repeat(Math.min(left, perAttach)));
  }
  return Buffer.from(head + parts.map((p) => `--==outer==\r\n${p}\r\n`).join('') + '--==outer==--\r\n');
}

/** A small seeded generator (LCG): the same seed gives the same messages on every machine. */
export function seeded(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/**
 * A random MIME message: nested multiparts (mixed, alternative, digest), message/rfc822 parts,
 * preambles and epilogues, missing close delimiters, bodies with and without a final line break,
 * encodings, parameters, dispositions. For comparing our tree with Dovecot's on many shapes.
 */
export function randomMessage(seed: number): Buffer {
  const r = seeded(seed);
  let boundaries = 0;
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i} of ${'word '.repeat(r(8))}`).join('\r\n');
  const leaf = (defaultRfc822: boolean): string => {
    const h: string[] = [];
    const kind = r(6);
    if (kind === 0 && !defaultRfc822) return `\r\n${lines(r(4))}`; // no header at all
    if (kind === 1) h.push('Content-Type: text/html; charset=utf-8');
    else if (kind === 2) h.push(`Content-Type: application/octet-stream; name="f${r(100)}.bin"`, 'Content-Transfer-Encoding: base64');
    else if (kind === 3) h.push('Content-Type: text/plain; charset=iso-8859-1; format=flowed', 'Content-Transfer-Encoding: quoted-printable');
    else h.push('Content-Type: text/plain');
    if (r(3) === 0) h.push(`Content-Disposition: ${r(2) === 0 ? 'inline' : 'attachment'}; filename="x${r(9)}.txt"`);
    if (r(5) === 0) h.push(`Content-ID: <id${r(1000)}@example>`, 'Content-Description: a part');
    const body = kind === 2 ? 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\nQUJD' : lines(r(5));
    return `${h.join('\r\n')}\r\n\r\n${body}`;
  };
  const entity = (depth: number, defaultRfc822: boolean): string => {
    const k = depth > 3 ? 9 : depth === 0 && r(10) < 7 ? 0 : r(10);
    if (k < 3) {
      const b = `b${seed}x${boundaries++}`;
      const sub = ['mixed', 'alternative', 'digest', 'related'][r(4)]!;
      const kids = Array.from({ length: 1 + r(3) }, () => `--${b}\r\n${entity(depth + 1, sub === 'digest')}\r\n`).join('');
      const pre = r(3) === 0 ? 'preamble text\r\n' : '';
      const close = r(8) === 0 ? '' : `--${b}--\r\n${r(3) === 0 ? 'epilogue\r\n' : ''}`;
      return `Content-Type: multipart/${sub}; boundary="${b}"\r\n\r\n${pre}${kids}${close}`.replace(/\r\n$/, r(2) === 0 ? '' : '\r\n');
    }
    if (k < 5) {
      const head = defaultRfc822 && r(2) === 0 ? '' : 'Content-Type: message/rfc822\r\n';
      return `${head}\r\nFrom: n${depth}@example.com\r\nSubject: inner ${depth}\r\n${entity(depth + 1, false)}`;
    }
    return leaf(defaultRfc822);
  };
  return Buffer.from(`From: top@example.com\r\nSubject: random ${seed}\r\n${entity(0, false)}`);
}

/** A compact fingerprint of section bytes: `length:first 16 hex of sha256`. */
export function sectionDigest(b: Uint8Array): string {
  return `${b.length}:${createHash('sha256').update(b).digest('hex').slice(0, 16)}`;
}
