// Seeded fuzz of the IMAP front end: random and mutated command lines in the not-authenticated, authenticated
// and selected states. The server must answer every command with a tagged OK/NO/BAD (or BYE and close), never
// hang, never log an internal error, and a session opened before the fuzzing must keep working.
// Replay a failure with IMAP_FUZZ_SEED=<seed printed by the test>; IMAP_FUZZ_COMMANDS sets the count.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CaptureLogger } from '../pop3/helpers/harness.ts';
import { expectOk, RawImap } from './client.ts';
import { type ImapFixture, startImap } from './fixture.ts';

type State = 'notauth' | 'auth' | 'selected';

const commandsTotal = Number(process.env.IMAP_FUZZ_COMMANDS ?? 2_000);
const seed = Number(process.env.IMAP_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Quiet time after which a silent server is waiting (literal) or hung. */
const answerTimeoutMs = 3_000;
/** Silence after which a payload that may leave the server waiting (literal, IDLE) counts as waiting. */
const quietMs = 250;

let f: ImapFixture;
const logger = new CaptureLogger();

before(async () => {
  f = await startImap({ logger, config: { badCommandsMax: 1_000_000, authFailuresPerConnectionMax: 1_000_000, authFailuresPerIpMax: 1_000_000 } });
  for (let i = 0; i < 30; i++) await f.deliver(message(i));
});
after(async () => {
  await f?.close();
});

function message(i: number): string {
  if (i % 3 === 0) {
    return `From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: =?utf-8?q?f=C3=BCzz_${i}?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n`;
  }
  return `From: Carol <carol@example.org>\r\nTo: alice@example.com\r\nSubject: fuzz ${i}\r\nDate: Mon, 23 Nov 2026 01:00:00 +0000\r\n\r\nbody ${i} ${'x'.repeat(i * 37)}\r\n`;
}

/** mulberry32: small, seedable, good enough to pick mutations. */
function rng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const plainIr = Buffer.from('\0alice@example.com\0secret').toString('base64');
const corpus: Record<State, string[]> = {
  notauth: [
    'CAPABILITY', 'NOOP', 'ID ("name" "fuzz" "version" "1")', 'ID NIL', 'LOGIN alice@example.com wrong', 'LOGIN "alice@example.com" {5}\r\nwrong',
    `AUTHENTICATE PLAIN ${Buffer.from('\0alice@example.com\0nope').toString('base64')}`, 'ENABLE UTF8=ACCEPT', 'SELECT INBOX', 'LIST "" "*"', 'LOGIN {3+}\r\nabc x',
  ],
  auth: [
    'LIST "" "*"', 'LIST (SPECIAL-USE) "" ("*" "%") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))', 'LSUB "" "*"', 'STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE DELETED)',
    'NAMESPACE', 'CREATE fuzz/a', 'RENAME fuzz/a fuzz/b', 'DELETE fuzz/b', 'SUBSCRIBE INBOX', 'UNSUBSCRIBE "a b"', 'ENABLE CONDSTORE QRESYNC UTF8=ACCEPT',
    'GETQUOTAROOT INBOX', 'GETQUOTA ""', 'APPEND INBOX (\\Seen) "23-Nov-2026 01:00:00 +0000" {20+}\r\nSubject: a\r\n\r\nbody!!', 'APPEND INBOX {12}\r\nSubject: b\r\n',
    'STATUS "&AOk-t&AOk-" (MESSAGES)', 'ID NIL', 'CAPABILITY', 'EXAMINE Archive', 'LIST "" ~{3}\r\nI*N',
  ],
  selected: [
    'FETCH 1:* (FLAGS UID)', 'FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]<0.10>)', 'UID FETCH 1:* (ENVELOPE BODYSTRUCTURE RFC822.SIZE INTERNALDATE)',
    'FETCH 2,4:6 (BINARY.PEEK[1] BINARY.SIZE[1])', 'FETCH 1 BODY.PEEK[2.1.MIME]', 'FETCH 1:* (FLAGS) (CHANGEDSINCE 1)', 'FETCH 3 (BODY.PEEK[TEXT]<5.100> MODSEQ EMAILID THREADID)',
    'SEARCH CHARSET UTF-8 OR SUBJECT "f\u00fczz" (FROM "bob" NOT SEEN)', 'UID SEARCH RETURN (MIN MAX COUNT SAVE) ALL', 'SEARCH $', 'SEARCH TEXT {4}\r\nbody',
    'SEARCH SENTSINCE 1-Jan-2020 LARGER 10 UID 1:* NOT (DELETED OR ANSWERED FLAGGED)', 'SORT (REVERSE DATE SUBJECT) UTF-8 ALL', 'THREAD REFERENCES UTF-8 ALL',
    'THREAD ORDEREDSUBJECT US-ASCII SUBJECT fuzz', 'STORE 1 +FLAGS.SILENT (\\Flagged $Label1)', 'UID STORE 1:* (UNCHANGEDSINCE 5) -FLAGS (\\Flagged)',
    'COPY 1 Archive', 'UID COPY 1:3 Trash', 'UID MOVE 2 Junk', 'STORE 4 +FLAGS (\\Deleted)', 'EXPUNGE', 'UID EXPUNGE 1:3', 'NOOP', 'CHECK', 'IDLE',
    'FETCH * (UID)', 'UID FETCH 4294967295 FLAGS', 'SEARCH HEADER "Subject" ""', 'FETCH 1 (BINARY[1]<0.3>)',
  ],
};

const specialBytes = ['\0', '\r', '\n', '\r\n', ' ', '"', '\\', '(', ')', '{', '}', '[', ']', '<', '>', '*', '%', '~', '+', '\x80', '\xff', '\xc3\xa9', '\x7f', '\t'];

function mutate(r: () => number, text: string): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const at = (): number => Math.floor(r() * (text.length + 1));
  switch (Math.floor(r() * 12)) {
    case 0: return text.slice(0, at());
    case 1: { const i = at(); return text.slice(0, i) + pick(specialBytes) + text.slice(i); }
    case 2: { const i = at(); return text.slice(0, i) + text.slice(i + 1 + Math.floor(r() * 8)); }
    case 3: { const i = at(); const j = at(); return text.slice(0, Math.max(i, j)) + text.slice(Math.min(i, j)); }
    case 4: return text.slice(0, text.lastIndexOf(' ') + 1) + pick(['{999999999}', '{999999999+}', '{5+}\r\nab', '{3}', '{0}\r\n', '~{4}\r\nab\0d', '{-1}', '{18446744073709551616}']); // not a regex: /\S+$/ is quadratic on long lines
    case 5: { const n = 1 + Math.floor(r() * 300); return text.replace(/\(/, '('.repeat(n)) + ')'.repeat(Math.floor(r() * n)); }
    case 6: { const n = 1 + Math.floor(r() * 20_000); return text.replace(/\d+(:\*|:\d+)?/, Array.from({ length: n }, (_, k) => `${k * 2 + 1}:${k * 2 + 2}`).join(',')); }
    case 7: { const i = at(); return `${text.slice(0, i)}"${text.slice(i)}`; }
    case 8: return text.replace(/\S+/g, (w) => (r() < 0.3 ? w.toLowerCase() : w));
    case 9: return text.replace(/\d+/, pick(['0', '4294967296', '99999999999999999999', '*', '$', '-1', '1:0', '*:*']));
    case 10: { const i = at(); return text.slice(0, i) + 'A'.repeat(Math.floor(r() * 70_000)) + text.slice(i); }
    default: return text;
  }
}

function randomLine(r: () => number): string {
  const n = Math.floor(r() * 200);
  let s = '';
  for (let i = 0; i < n; i++) s += r() < 0.3 ? specialBytes[Math.floor(r() * specialBytes.length)] : String.fromCharCode(32 + Math.floor(r() * 95));
  return s;
}

/** One fuzzed connection per state; reopened (and brought back to its state) whenever it closes or leaves it. */
class FuzzSession {
  readonly state: State;
  c: RawImap | undefined;
  constructor(state: State) {
    this.state = state;
  }
  async open(): Promise<RawImap> {
    this.c?.close();
    const c = await RawImap.connect(f.port);
    if (this.state !== 'notauth') expectOk(await c.command(`AUTHENTICATE PLAIN ${plainIr}`));
    if (this.state === 'selected') expectOk(await c.command('SELECT INBOX'));
    this.c = c;
    return c;
  }
}

interface Outcome {
  readonly responses: string[];
  /** The server closed the connection (after a BYE). */
  readonly closed: boolean;
  /** The server stayed silent: it waits for literal bytes or for IDLE's DONE. */
  readonly waiting: boolean;
}

/**
 * Sends the payload and a probe (`<tag> NOOP`), and reads until the probe's answer, a close or silence.
 * `patientMs`: how long silence may last before the server counts as waiting; payloads that may leave
 * the server legitimately waiting (a literal announced, IDLE, a SASL exchange) get a short wait and one
 * retry with DONE and a fresh probe, since the first probe may have been eaten as literal octets.
 */
async function exchange(c: RawImap, payload: Buffer, probeTag: string, patientMs: number): Promise<Outcome> {
  const responses: string[] = [];
  // A literal announced at the very end gets its octets, so the probe is not eaten; a probe eaten by a
  // literal announced earlier is covered by a second one.
  const lit = /\{(\d{1,6})\+?\}$/.exec(payload.toString('latin1', Math.max(0, payload.length - 12)));
  const filler = lit ? `\r\n${'x'.repeat(Number(lit[1]))}` : '';
  c.write(Buffer.concat([payload, Buffer.from(`${filler}\r\n${probeTag}a NOOP\r\n${probeTag} NOOP\r\n`, 'latin1')]));
  let probe = probeTag;
  for (;;) {
    try {
      const r = await c.readResponse(patientMs);
      responses.push(r);
      if (r.startsWith(`${probe} `)) return { responses, closed: false, waiting: false };
    } catch {
      if (c.closed) return { responses, closed: true, waiting: false };
      if (probe === probeTag) {
        probe = `${probeTag}b`;
        c.write(`DONE\r\n${probe} NOOP\r\n`);
        continue;
      }
      return { responses, closed: false, waiting: true };
    }
  }
}

test(`fuzz: ${commandsTotal} random and mutated commands in every state (seed ${seed})`, { timeout: 120_000 }, async (t) => {
  t.diagnostic(`IMAP fuzz seed ${seed} (replay with IMAP_FUZZ_SEED=${seed})`);
  console.log(`IMAP fuzz seed ${seed}`);
  const r = rng(seed);
  const witness = await RawImap.connect(f.port);
  expectOk(await witness.command(`AUTHENTICATE PLAIN ${plainIr}`));
  expectOk(await witness.command('SELECT INBOX'));
  const sessions: Record<State, FuzzSession> = { notauth: new FuzzSession('notauth'), auth: new FuzzSession('auth'), selected: new FuzzSession('selected') };
  for (const s of Object.values(sessions)) await s.open();
  const problems: string[] = [];
  const stats = { ok: 0, no: 0, bad: 0, closed: 0, waiting: 0, reopened: 0 };
  const started = Date.now();
  for (let i = 0; i < commandsTotal && problems.length < 5; i++) {
    if (i % 100 === 99) await f.deliver(message(i));
    const state = (['notauth', 'auth', 'selected'] as const)[i % 3]!;
    const s = sessions[state];
    const tag = `F${i}`;
    const base = r() < 0.15 ? randomLine(r) : corpus[state][Math.floor(r() * corpus[state].length)]!;
    let text = base;
    for (let m = Math.floor(r() * 3); m >= 0; m--) text = mutate(r, text);
    const payload = Buffer.from(`${tag} ${text}`, 'latin1');
    const t0 = Date.now();
    const mayWait = /\{/.test(text) || /^\s*(IDLE|AUTHENTICATE)/i.test(text);
    const out = await exchange(s.c!, payload, `P${i}`, mayWait ? quietMs : answerTimeoutMs);
    const tookMs = Date.now() - t0;
    const show = JSON.stringify(payload.toString('latin1').slice(0, 200));
    for (const line of out.responses) {
      if (line.startsWith('*') || line.startsWith('+')) {
        if (/^\* (OK|NO|BAD) \[(UNAVAILABLE|SERVERBUG)\]/.test(line)) problems.push(`internal error ${line} for ${show}`);
        continue;
      }
      const m = /^(\S+) (OK|NO|BAD)(?: |$)/.exec(line);
      if (!m) problems.push(`not a valid response line ${JSON.stringify(line.slice(0, 200))} for ${show}`);
      else if (/\[(UNAVAILABLE|SERVERBUG)\]/.test(line)) problems.push(`internal error ${line} for ${show}`);
      else if (m[1] === tag) stats[m[2]!.toLowerCase() as 'ok' | 'no' | 'bad']++;
    }
    const simple = !/[\r\n{]/.test(text) && !/^(IDLE|AUTHENTICATE)/i.test(text.trimStart());
    if (out.closed) {
      stats.closed++;
      if (!out.responses.some((x) => x.startsWith('* BYE'))) problems.push(`closed without BYE after ${show}: ${out.responses.join(' | ')}`);
    } else if (out.waiting) {
      stats.waiting++;
      if (!mayWait) problems.push(`no answer within ${answerTimeoutMs} ms to ${show}: ${out.responses.join(' | ')}`);
    } else if (simple && !out.responses.some((x) => x.startsWith(`${tag} `) || x.startsWith('* BAD'))) {
      problems.push(`no tagged answer to ${show}: ${out.responses.join(' | ')}`);
    }
    if (process.env.IMAP_FUZZ_TRACE) console.log(i, tookMs, payload.length, state, out.closed ? 'closed' : out.waiting ? 'waiting' : 'answered', show.slice(0, 120), JSON.stringify(out.responses.slice(-3)).slice(0, 300));
    const leftState = out.responses.some((x) => x.startsWith(`${tag} OK`) && /LOGIN|AUTHENTICATE|SELECT|EXAMINE|CLOSE|UNSELECT|LOGOUT|STARTTLS|COMPRESS/i.test(text));
    if (out.closed || out.waiting || leftState) {
      stats.reopened++;
      await s.open();
    }
  }
  for (const s of Object.values(sessions)) s.c?.close();
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`${commandsTotal} commands in ${seconds.toFixed(1)} s: ${JSON.stringify(stats)}`);
  assert.deepEqual(problems, [], `seed ${seed}`);
  const errors = logger.entries.filter((e) => e.level === 'error');
  assert.deepEqual(errors.map((e) => ({ ...e.fields, msg: e.msg })), [], `seed ${seed}: internal errors logged`);
  expectOk(await witness.command('NOOP'));
  const fetched = expectOk(await witness.command('UID FETCH 1:* (FLAGS UID)'));
  assert.ok(fetched.untagged.some((l) => /FETCH \(/.test(l)), 'the witness session still fetches');
  expectOk(await witness.command('LOGOUT'));
  assert.ok(stats.bad > 0 && stats.ok > 0, 'the fuzz reached both valid and invalid commands');
});

// ---- Findings of the fuzz, kept as deterministic regressions ----

test('fuzz finding: a LIST pattern that would backtrack (many wildcards, long names) answers at once', async () => {
  const c = await RawImap.connect(f.port);
  try {
    expectOk(await c.command(`AUTHENTICATE PLAIN ${plainIr}`));
    expectOk(await c.command(`CREATE ${'a'.repeat(250)}`));
    const t0 = Date.now();
    const r = expectOk(await c.command('LIST "" "*a*a*a*b"', 10_000));
    assert.equal(r.untagged.length, 0);
    assert.ok(Date.now() - t0 < 1_000, `LIST took ${Date.now() - t0} ms`);
    expectOk(await c.command('LIST "" "*a%a*a*"'));
    const huge = await c.command(`LSUB "" "${'A'.repeat(60_000)}"`);
    assert.match(huge.tagged, /^\S+ (OK|BAD) /, 'a 60 KB pattern matches nothing or is refused, it is no internal error');
    for (const w of ['%', '*', '*%']) {
      const t1 = Date.now();
      assert.match((await c.command(`LIST "" "${w.repeat(60_000 / w.length)}"`, 30_000)).tagged, /^\S+ (OK|BAD) /);
      assert.ok(Date.now() - t1 < 1_000, `LIST "${w}..." (60 KB) took ${Date.now() - t1} ms`);
    }
    const found = expectOk(await c.command('LIST "" "%a*a"'));
    assert.equal(found.untagged.length, 1, 'wildcards still match: % and * across the name');
    expectOk(await c.command(`DELETE ${'a'.repeat(250)}`));
  } finally {
    c.close();
  }
});

test('fuzz finding: invalid tags (8-bit, specials) are never echoed, also when a literal is refused', async () => {
  const c = await RawImap.connect(f.port);
  try {
    c.write(Buffer.from('F\xff NOOP\r\n', 'latin1'));
    assert.match(await c.readResponse(), /^\* BAD/);
    c.write(Buffer.from('x(y\x80\t1 LOGIN {999999999}\r\n', 'latin1'));
    assert.match(await c.readResponse(), /^\* (NO|BAD) /);
    expectOk(await c.command('NOOP'));
  } finally {
    c.close();
  }
});

test('LIST finds folders whose names hold characters beyond the BMP (emoji), by name and by pattern', async () => {
  const c = await RawImap.connect(f.port);
  try {
    expectOk(await c.command(`AUTHENTICATE PLAIN ${plainIr}`));
    expectOk(await c.command('CREATE "&2D3eAA- party"')); // modified UTF-7 for U+1F600 (RFC 3501 §5.1.3)
    for (const pattern of ['"&2D3eAA- party"', '"&2D3eAA-*"', '"%party"']) {
      const r = expectOk(await c.command(`LIST "" ${pattern}`));
      assert.deepEqual(r.untagged, ['* LIST (\\HasNoChildren) "/" "&2D3eAA- party"'], `LIST "" ${pattern}`);
    }
    expectOk(await c.command('DELETE "&2D3eAA- party"'));
  } finally {
    c.close();
  }
});
