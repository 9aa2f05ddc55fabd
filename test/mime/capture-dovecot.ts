// Records what Dovecot answers (ENVELOPE, BODYSTRUCTURE, BODY[section], BINARY[part] per fixture; THREAD
// and SEARCH over the thread/ and search/ mailboxes; 80 seeded random messages) into fixtures/*.json.
// A tool, run by hand as root where Dovecot is installed (recorded with Dovecot 2.3.19.1, Debian):
//   node_modules/.bin/node test/mime/capture-dovecot.ts
// It runs Dovecot's imap binary in PREAUTH mode on a scratch Maildir; the tests only read the JSON.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envelopeFromSexp, parseSexp, shapeFromSexp, type Shape } from './dovecot-shape.ts';
import { randomMessage, sectionDigest } from './messages.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const imapBinary = '/usr/lib/dovecot/imap';

/** Runs commands against a one-folder Maildir holding `emls` (in order, internal dates as given). */
function runDovecot(emls: string | string[], commands: string[], internalDatesMs: number[] = []): Buffer {
  const dir = mkdtempSync('/tmp/stormo-mime-dc-');
  try {
    for (const d of ['Maildir/cur', 'Maildir/new', 'Maildir/tmp', 'run']) mkdirSync(join(dir, d), { recursive: true });
    (typeof emls === 'string' ? [emls] : emls).forEach((eml, i) => {
      const to = join(dir, `Maildir/cur/${1000 + i}.fixture:2,`);
      copyFileSync(eml, to);
      const t = internalDatesMs[i];
      if (t !== undefined) utimesSync(to, t / 1000, t / 1000);
    });
    writeFileSync(join(dir, 'dovecot.conf'), `base_dir = ${dir}/run\nlog_path = /dev/null\nssl = no\nprotocols = imap\n`);
    spawnSync('chown', ['-R', 'nobody:nogroup', dir]);
    const script = ['s SELECT INBOX', ...commands.map((c, i) => `c${i} ${c}`), 'z LOGOUT'].join('\r\n') + '\r\n';
    const r = spawnSync('runuser', ['-u', 'nobody', '--', 'env', 'USER=nobody', `HOME=${dir}`, `MAIL=maildir:${dir}/Maildir`,
      imapBinary, '-c', join(dir, 'dovecot.conf')], { input: script, timeout: 10_000 });
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The value after `key ` in the FETCH response of command `tag`. */
function valueAfter(out: Buffer, key: string, from: number): { value: Buffer | null; sexp: unknown; next: number } {
  const at = out.indexOf(`${key} `, from);
  if (at < 0) return { value: null, sexp: null, next: from };
  const pos = { i: at + key.length + 1 };
  if (out[pos.i] === 0x7e) pos.i++; // literal8
  if (out[pos.i] === 0x7b) {
    const close = out.indexOf(0x7d, pos.i);
    const n = Number(out.subarray(pos.i + 1, close).toString());
    const start = close + 3;
    return { value: out.subarray(start, start + n), sexp: null, next: start + n };
  }
  const sexp = parseSexp(out, pos);
  return { value: typeof sexp === 'string' ? Buffer.from(sexp) : null, sexp, next: pos.i };
}

function partNumbers(s: Shape, prefix: string, out: { part: string; shape: Shape }[]): void {
  if (s.type === 'multipart') {
    s.children.forEach((c, i) => {
      const n = `${prefix}${i + 1}`;
      out.push({ part: n, shape: c });
      partNumbers(c, `${n}.`, out);
    });
  } else if (s.type === 'message' && s.subtype === 'rfc822') {
    const inner = s.children[0]!;
    if (inner.type === 'multipart') partNumbers(inner, prefix, out);
    else { out.push({ part: `${prefix}1`, shape: inner }); partNumbers(inner, `${prefix}1.`, out); }
  }
}

function capture(name: string): void {
  const eml = join(fixtures, name);
  const { imap: _, ...rec } = captureOne(eml);
  const json = { fixture: name, ...rec };
  writeFileSync(eml.replace(/\.eml$/, '.dovecot.json'), JSON.stringify(json, null, 1) + '\n');
  console.log(`captured ${name}: ${Object.keys(json.sections).length} sections`);
}

/** ENVELOPE, BODYSTRUCTURE and every section of one message file as Dovecot answers them. */
function captureOne(eml: string): {
  envelope: unknown; bodystructure: Shape; sections: Record<string, string | null>; imap: { envelope: string; bodystructure: string };
} {
  const first = runDovecot(eml, ['FETCH 1 (ENVELOPE BODYSTRUCTURE)']);
  const env = valueAfter(first, 'ENVELOPE', first.indexOf('* 1 FETCH'));
  const bs = valueAfter(first, 'BODYSTRUCTURE', first.indexOf('* 1 FETCH'));
  const shape = shapeFromSexp(bs.sexp as never);
  const parts: { part: string; shape: Shape }[] = [];
  if (shape.type === 'multipart') partNumbers(shape, '', parts);
  else { parts.push({ part: '1', shape }); partNumbers(shape, '1.', parts); }
  const sections = ['', 'HEADER', 'TEXT', 'HEADER.FIELDS (SUBJECT TO X-LONG)', 'HEADER.FIELDS.NOT (SUBJECT TO X-LONG)'];
  for (const { part, shape: s } of parts) {
    sections.push(part, `${part}.MIME`);
    if (s.type === 'message') sections.push(`${part}.HEADER`, `${part}.TEXT`, `${part}.HEADER.FIELDS (SUBJECT)`);
  }
  sections.push('9', '1.9');
  const binaries = parts.filter((p) => p.shape.type !== 'multipart' && p.shape.type !== 'message').map((p) => p.part);
  const cmds = [...sections.map((s) => `FETCH 1 (BODY.PEEK[${s}])`), ...binaries.map((p) => `FETCH 1 (BINARY.PEEK[${p}])`)];
  const out = runDovecot(eml, cmds);
  const result: Record<string, string | null> = {};
  let cursor = 0;
  cmds.forEach((c, i) => {
    // Pipelined: untagged answers come in command order, tagged completions may come later.
    const key = c.includes('BINARY') ? `BINARY[${binaries[i - sections.length]}]` : `BODY[${sections[i]}]`;
    if (out.includes(`\r\nc${i} NO`) || out.includes(`\r\nc${i} BAD`)) { result[key] = 'NO'; return; }
    const at = out.indexOf(`* 1 FETCH (${key} `, cursor);
    if (at < 0) throw new Error(`no answer for ${key}`);
    const v = valueAfter(out, key, at);
    cursor = v.next;
    // base64 of the bytes; null for NIL; 'NO' when Dovecot refused the command.
    result[key] = v.value?.toString('base64') ?? null;
  });
  const rawOf = (key: string) => {
    const at = first.indexOf(`${key} `) + key.length + 1;
    return first.subarray(at, valueAfter(first, key, at - key.length - 1).next).toString('utf8');
  };
  return { envelope: envelopeFromSexp(env.sexp as never), bodystructure: shape, sections: result,
    imap: { envelope: rawOf('ENVELOPE'), bodystructure: rawOf('BODYSTRUCTURE') } };
}

/** Random messages (messages.ts randomMessage, seeds 1..n) as one JSON file. */
function captureRandom(n: number): void {
  const dir = mkdtempSync('/tmp/stormo-mime-rnd-');
  try {
    const records = [];
    for (let seed = 1; seed <= n; seed++) {
      const eml = join(dir, `${seed}.eml`);
      writeFileSync(eml, randomMessage(seed));
      const rec = captureOne(eml);
      // Sections as length:sha256-prefix, to keep the file small (the test hashes ours the same way).
      const sections = Object.fromEntries(Object.entries(rec.sections).map(([k, v]) => [k, v === null || v === 'NO' ? v : sectionDigest(Buffer.from(v, 'base64'))]));
      // ENVELOPE and BODYSTRUCTURE as Dovecot wrote them (the test parses them with dovecot-shape.ts).
      records.push({ seed, envelope: rec.imap.envelope, bodystructure: rec.imap.bodystructure, sections });
    }
    writeFileSync(join(fixtures, 'random.dovecot.json'), JSON.stringify(records) + '\n');
    console.log(`captured ${n} random messages`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** THREAD answers for the fixtures/thread mailbox; internal dates an hour apart, two of them equal. */
function captureThreads(): void {
  const dir = join(fixtures, 'thread');
  const emls = readdirSync(dir).filter((f) => f.endsWith('.eml')).sort();
  const internalDates = emls.map((_, i) => Date.UTC(2023, 0, 1) + (i === 5 ? 4 : i) * 3_600_000);
  const out = runDovecot(emls.map((f) => join(dir, f)), ['THREAD REFERENCES UTF-8 ALL', 'THREAD ORDEREDSUBJECT UTF-8 ALL'], internalDates);
  const lines = out.toString('utf8').split('\r\n').filter((l) => l.startsWith('* THREAD '));
  if (lines.length !== 2) throw new Error(`THREAD answers missing: ${out.toString()}`);
  const json = { emls, internalDates, references: lines[0]!.slice(9), orderedSubject: lines[1]!.slice(9) };
  writeFileSync(join(dir, 'thread.dovecot.json'), JSON.stringify(json, null, 1) + '\n');
  console.log(`captured THREAD over ${emls.length} messages`);
}

/** SEARCH queries over fixtures/search (CHARSET UTF-8): [key, field?, needle]. */
export const searchQueries: [string, string | null, string][] = [
  ['BODY', null, 'café'], ['BODY', null, 'CAFÉ'], ['BODY', null, 'softbroken'], ['BODY', null, 'grüße'], ['BODY', null, 'KÖLN'],
  ['BODY', null, 'naïve'], ['BODY', null, '€'], ['BODY', null, 'secretword'], ['BODY', null, 'world</b>'],
  ['BODY', null, 'innerbody'], ['BODY', null, 'innersubject'], ['TEXT', null, 'innersubject'], ['TEXT', null, 'été'],
  ['BODY', null, 'σίσυφος'], ['BODY', null, 'ΣΊΣΥΦΟΣ'], ['BODY', null, 'strasse'], ['BODY', null, 'content-type'],
  ['TEXT', null, 'content-type'], ['TEXT', null, 'ann@example'], ['SUBJECT', null, 'grüße aus köln'], ['SUBJECT', null, 'GRÜSSE'],
  ['HEADER', 'X-Custom', ''], ['HEADER', 'X-Custom', 'some value'], ['HEADER', 'X-Missing', ''], ['FROM', null, 'hélène'],
  ['FROM', null, 'example.org'], ['TO', null, 'team'], ['CC', null, 'ivy'], ['BODY', null, ''], ['TEXT', null, 'body'],
];

function captureSearch(): void {
  const dir = join(fixtures, 'search');
  const emls = readdirSync(dir).filter((f) => f.endsWith('.eml')).sort();
  const lit = (s: string) => `{${Buffer.byteLength(s)}+}\r\n${s}`;
  const cmds = searchQueries.map(([key, field, needle]) => `SEARCH CHARSET UTF-8 ${key} ${field === null ? '' : `${field} `}${lit(needle)}`);
  const out = runDovecot(emls.map((f) => join(dir, f)), cmds).toString('utf8');
  const answers = out.split('\r\n').filter((l) => l.startsWith('* SEARCH')).map((l) => l.slice(8).trim().split(' ').filter((x) => x !== '').map(Number));
  if (answers.length !== cmds.length) throw new Error(`SEARCH answers missing: ${out}`);
  const json = { emls, results: searchQueries.map((q, i) => ({ query: q, matches: answers[i] })) };
  writeFileSync(join(dir, 'search.dovecot.json'), JSON.stringify(json, null, 1) + '\n');
  console.log(`captured ${cmds.length} SEARCH answers over ${emls.length} messages`);
}

if (import.meta.main) {
  for (const f of readdirSync(fixtures).filter((f) => f.endsWith('.eml')).sort()) capture(f);
  captureThreads();
  captureSearch();
  captureRandom(80);
}
