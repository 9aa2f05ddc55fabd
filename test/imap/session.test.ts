// Session semantics with several real sessions: unsolicited EXISTS/EXPUNGE/FETCH only where RFC 9051 §7.5.1
// allows, IDLE told of deliveries within a second, CONDSTORE and QRESYNC (RFC 7162), COPY/MOVE replies.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ImapFixture, startImap } from './fixture.ts';
import { RawImap, expectOk } from './client.ts';

let f: ImapFixture;
before(async () => {
  f = await startImap();
});
after(async () => {
  await f.close();
});

async function session(folder: string, setup: string[] = []): Promise<RawImap> {
  const c = await RawImap.connect(f.port);
  expectOk(await c.command('LOGIN alice@example.com secret'));
  for (const cmd of setup) expectOk(await c.command(cmd));
  expectOk(await c.command(`SELECT ${folder}`));
  return c;
}

const msg = (n: number): string => `From: s@example.org\r\nSubject: message ${n}\r\nMessage-ID: <m${n}@x>\r\n\r\nbody ${n}\r\n`;

test('no EXPUNGE during FETCH, STORE or SEARCH; it comes at NOOP, and UID FETCH may carry it', async () => {
  await f.store.execute({ type: 'createFolder', accountId: f.accountId, name: 'Two', specialUse: null });
  for (let i = 1; i <= 4; i++) await f.deliver(msg(i), { folder: 'Two' });
  const a = await session('Two');
  const b = await session('Two');
  expectOk(await b.command('STORE 2 +FLAGS.SILENT (\\Deleted)'));
  expectOk(await b.command('EXPUNGE'));
  const fetch = expectOk(await a.command('FETCH 1:4 (UID FLAGS)'));
  assert.ok(!fetch.untagged.some((l) => /EXPUNGE/.test(l)), fetch.untagged.join('|'));
  assert.match(fetch.tagged, /OK \[EXPUNGEISSUED\]/, 'the client is told a message went away');
  assert.equal(fetch.untagged.filter((l) => / FETCH /.test(l)).length, 4, 'sequence numbers stay');
  assert.ok(fetch.untagged.some((l) => l.startsWith('* 2 FETCH (UID 2 FLAGS (')), 'the gone message: what the session knew (UID, flags)');
  assert.ok(fetch.untagged.includes('* 4 FETCH (UID 4 FLAGS ())'), 'message 4 keeps its number while the expunge is pending');
  const store = expectOk(await a.command('STORE 4 +FLAGS (\\Seen)'));
  assert.ok(!store.untagged.some((l) => /EXPUNGE/.test(l)));
  const search = expectOk(await a.command('SEARCH ALL'));
  assert.ok(!search.untagged.some((l) => /EXPUNGE/.test(l)));
  const noop = expectOk(await a.command('NOOP'));
  assert.deepEqual(noop.untagged, ['* 2 EXPUNGE']);
  // Now a UID command may report expunges.
  expectOk(await b.command('STORE 1 +FLAGS.SILENT (\\Deleted)'));
  expectOk(await b.command('EXPUNGE'));
  const uidFetch = expectOk(await a.command('UID FETCH 1:* FLAGS'));
  assert.ok(uidFetch.untagged.includes('* 1 EXPUNGE'), uidFetch.untagged.join('|'));
  a.close();
  b.close();
});

test('another session\'s flag change and a delivery show up at the next command, with MODSEQ under CONDSTORE', async () => {
  const a = await session('INBOX', ['ENABLE CONDSTORE']);
  const b = await session('INBOX');
  const d = await f.deliver(msg(10));
  const n = expectOk(await a.command('NOOP')).untagged;
  assert.ok(n.some((l) => /^\* \d+ EXISTS$/.test(l)), n.join('|'));
  const seq = Number(/^\* (\d+) EXISTS$/.exec(n.find((l) => /EXISTS$/.test(l))!)![1]);
  expectOk(await b.command('NOOP'));
  expectOk(await b.command(`UID STORE ${d.uid} +FLAGS (\\Flagged)`));
  const r = expectOk(await a.command('NOOP')).untagged;
  assert.equal(r.length, 1);
  assert.match(r[0]!, new RegExp(`^\\* ${seq} FETCH \\(UID ${d.uid} FLAGS \\(\\\\Flagged\\) MODSEQ \\(\\d+\\)\\)$`));
  // Our own STORE is told once, by its own reply, not again at the next NOOP.
  const own = expectOk(await a.command(`UID STORE ${d.uid} +FLAGS (\\Seen)`)).untagged;
  assert.match(own[0]!, /FLAGS \(\\Flagged \\Seen\) MODSEQ/);
  assert.deepEqual(expectOk(await a.command('NOOP')).untagged, []);
  a.close();
  b.close();
});

test('IDLE: a delivery through the store is told within a second; DONE ends it', async () => {
  const a = await session('INBOX');
  a.write('i1 IDLE\r\n');
  assert.match(await a.readResponse(), /^\+ /);
  const t0 = Date.now();
  await f.deliver(msg(20));
  await a.waitFor(/^\* \d+ EXISTS$/, 1_000);
  assert.ok(Date.now() - t0 < 1_000);
  // Flag changes and expunges by another session arrive too.
  const b = await session('INBOX');
  expectOk(await b.command('STORE 1 +FLAGS.SILENT (\\Deleted)'));
  expectOk(await b.command('EXPUNGE'));
  await a.waitFor(/^\* 1 EXPUNGE$/, 1_000);
  a.write('DONE\r\n');
  expectOk(await a.readTagged('i1'));
  a.close();
  b.close();
});

test('CONDSTORE: UNCHANGEDSINCE refuses modified messages with [MODIFIED]; CHANGEDSINCE lists changes', async () => {
  await f.store.execute({ type: 'createFolder', accountId: f.accountId, name: 'Cond', specialUse: null });
  for (let i = 1; i <= 3; i++) await f.deliver(msg(30 + i), { folder: 'Cond' });
  const a = await session('Cond (CONDSTORE)');
  const fetch = expectOk(await a.command('FETCH 1:3 (MODSEQ)')).untagged;
  const ms = fetch.map((l) => BigInt(/MODSEQ \((\d+)\)/.exec(l)![1]!));
  expectOk(await a.command('STORE 2 +FLAGS (\\Answered)'));
  const r = await a.command(`STORE 1:3 (UNCHANGEDSINCE ${ms[2]}) +FLAGS (\\Flagged)`);
  assert.match(r.tagged, /OK \[MODIFIED 2\]/);
  assert.equal(r.untagged.filter((l) => /Flagged/.test(l)).length, 2);
  const changed = expectOk(await a.command(`FETCH 1:3 (FLAGS) (CHANGEDSINCE ${ms[2]})`)).untagged;
  assert.equal(changed.length, 3, changed.join('|'));
  assert.ok(changed.every((l) => /MODSEQ \(\d+\)/.test(l)));
  const hms = expectOk(await a.command('STATUS Cond (HIGHESTMODSEQ)')).untagged[0]!;
  assert.match(hms, /HIGHESTMODSEQ \d+/);
  a.close();
});

test('QRESYNC: SELECT with known state gets VANISHED (EARLIER) and changed flags; EXPUNGE becomes VANISHED', async () => {
  await f.store.execute({ type: 'createFolder', accountId: f.accountId, name: 'Q', specialUse: null });
  for (let i = 1; i <= 5; i++) await f.deliver(msg(40 + i), { folder: 'Q' });
  const a = await session('Q', ['ENABLE QRESYNC']);
  const sel = expectOk(await a.command('EXAMINE Q'));
  const uidValidity = /UIDVALIDITY (\d+)/.exec(sel.untagged.join('\n'))![1];
  const modseq = /HIGHESTMODSEQ (\d+)/.exec(sel.untagged.join('\n'))![1];
  const b = await session('Q');
  expectOk(await b.command('UID STORE 2,4 +FLAGS.SILENT (\\Deleted)'));
  expectOk(await b.command('UID EXPUNGE 2'));
  expectOk(await b.command('UID STORE 5 +FLAGS (\\Seen)'));
  const re = expectOk(await a.command(`SELECT Q (QRESYNC (${uidValidity} ${modseq} 1:5))`));
  assert.ok(re.untagged.includes('* OK [CLOSED] Previous mailbox closed'));
  assert.ok(re.untagged.includes('* VANISHED (EARLIER) 2'), re.untagged.join('|'));
  assert.ok(re.untagged.some((l) => /^\* 4 FETCH \(UID 5 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$/.test(l)), re.untagged.join('|'));
  assert.ok(re.untagged.some((l) => /^\* 3 FETCH \(UID 4 FLAGS \(\\Deleted\) MODSEQ/.test(l)));
  const ex = expectOk(await a.command('EXPUNGE'));
  assert.deepEqual(ex.untagged, ['* VANISHED 4']);
  const vf = expectOk(await a.command(`UID FETCH 1:5 (FLAGS) (CHANGEDSINCE 1 VANISHED)`));
  assert.equal(vf.untagged[0], '* VANISHED (EARLIER) 2,4');
  a.close();
  b.close();
});

test('COPY gives COPYUID; MOVE gives an untagged COPYUID and the expunges; UID MOVE too', async () => {
  await f.store.execute({ type: 'createFolder', accountId: f.accountId, name: 'Src', specialUse: null });
  await f.store.execute({ type: 'createFolder', accountId: f.accountId, name: 'Dst', specialUse: null });
  for (let i = 1; i <= 3; i++) await f.deliver(msg(50 + i), { folder: 'Src' });
  const a = await session('Src');
  const cp = expectOk(await a.command('COPY 1:2 Dst'));
  assert.match(cp.tagged, /OK \[COPYUID \d+ 1:2 1:2\] COPY completed/);
  const mv = expectOk(await a.command('MOVE 2 Dst'));
  assert.match(mv.untagged[0]!, /^\* OK \[COPYUID \d+ 2 3\]/);
  assert.equal(mv.untagged[1], '* 2 EXPUNGE');
  const umv = expectOk(await a.command('UID MOVE 3 Dst'));
  assert.equal(umv.untagged[1], '* 2 EXPUNGE');
  assert.match((await a.command('COPY 1 Nowhere')).tagged, /NO \[TRYCREATE\]/);
  const st = expectOk(await a.command('STATUS Dst (MESSAGES UIDNEXT)')).untagged[0];
  assert.equal(st, '* STATUS Dst (MESSAGES 4 UIDNEXT 5)');
  a.close();
});

test('APPEND: flags and date, MULTIAPPEND with APPENDUID, TRYCREATE, and EXISTS for the selected folder', async () => {
  const a = await session('INBOX');
  const body = 'From: me@example.com\r\nSubject: appended\r\n\r\nhello\r\n';
  a.write(`x1 APPEND Drafts (\\Draft \\Seen) "01-Jan-2026 10:00:00 +0100" {${body.length}+}\r\n${body} {${body.length}+}\r\n${body}\r\n`);
  const r = expectOk(await a.readTagged('x1'));
  assert.match(r.tagged, /OK \[APPENDUID \d+ 1:2\]/);
  expectOk(await a.command('EXAMINE Drafts'));
  const fl = expectOk(await a.command('FETCH 1:2 (FLAGS INTERNALDATE)')).untagged;
  assert.equal(fl[0], '* 1 FETCH (FLAGS (\\Draft \\Seen) INTERNALDATE "01-Jan-2026 09:00:00 +0000")');
  assert.match(fl[1]!, /FLAGS \(\)/);
  assert.match((await a.command(`APPEND Nope {${body.length}+}\r\n${body}`)).tagged, /NO \[TRYCREATE\]/);
  expectOk(await a.command('SELECT INBOX'));
  const ap = expectOk(await a.command(`APPEND INBOX {${body.length}+}\r\n${body}`));
  assert.ok(ap.untagged.some((l) => /^\* \d+ EXISTS$/.test(l)), 'EXISTS for an APPEND into the selected folder');
  a.close();
});

test('limits: connections per user, and BYE after too many bad commands', async () => {
  const g = await startImap({ config: { connectionsPerUserMax: 1, badCommandsMax: 3 } });
  try {
    const a = await RawImap.connect(g.port);
    expectOk(await a.command('LOGIN alice@example.com secret'));
    const b = await RawImap.connect(g.port);
    assert.match((await b.command('LOGIN alice@example.com secret')).tagged, /NO \[LIMIT\]/);
    a.write('z1 FOO\r\nz2 FOO\r\nz3 FOO\r\n');
    await a.waitFor(/^\* BYE Too many invalid commands/);
    await a.waitClosed();
    expectOk(await b.command('LOGIN alice@example.com secret'));
    b.close();
  } finally {
    await g.close();
  }
});

test('PROXY protocol: the header\'s source address becomes the client address; no header, no session', async () => {
  const logged: Record<string, unknown>[] = [];
  const logger = { info: (o: Record<string, unknown>) => logged.push(o), warn: (o: Record<string, unknown>) => logged.push(o), error: (o: Record<string, unknown>) => logged.push(o) };
  const g = await startImap({ config: { proxyProtocol: 'required', proxyHeaderTimeoutMs: 300 }, logger });
  try {
    const net = await import('node:net');
    const s = net.connect(g.port, '127.0.0.1');
    await new Promise((resolve) => s.once('connect', resolve));
    s.write('PROXY TCP4 203.0.113.7 127.0.0.1 5555 143\r\na1 CAPABILITY\r\n');
    const got = await new Promise<string>((resolve) => {
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('a1 OK')) resolve(buf);
      });
    });
    assert.match(got, /^\* OK \[CAPABILITY /);
    assert.ok(logged.some((e) => e.event === 'connect' && e.ip === '203.0.113.7'), 'logged with the proxied address');
    s.destroy();
    const bare = await RawImap.connect(g.port).catch((e: unknown) => e);
    assert.ok(bare instanceof Error, 'a connection without the header gets no greeting');
  } finally {
    await g.close();
  }
});

test('a message stored without a summary (older data) is summarized on the fly', async () => {
  const { id: blobId } = await f.blobs.put(Buffer.from('From: old@example.org\r\nSubject: legacy\r\n\r\nold\r\n'));
  await f.store.execute({ type: 'createFolder', accountId: f.accountId, name: 'Legacy', specialUse: null });
  await f.store.execute({ type: 'append', accountId: f.accountId, folder: 'Legacy', blobId, size: 46, internalDate: 0, flags: [] });
  const a = await session('Legacy');
  const r = expectOk(await a.command('FETCH 1 (ENVELOPE BODYSTRUCTURE)')).untagged[0]!;
  assert.match(r, /"legacy" \(\(NIL NIL "old" "example.org"\)\)/);
  assert.match(r, /BODYSTRUCTURE \("text" "plain"/);
  a.close();
});

/** Timers that fire only when the test moves the clock. */
class FakeTimers {
  private t = 0;
  private pending: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const entry = { at: this.t + ms, fn, live: true };
    this.pending.push(entry);
    return { cancel: () => void (entry.live = false) };
  }
  advance(ms: number): void {
    this.t += ms;
    const due = this.pending.filter((e) => e.live && e.at <= this.t);
    this.pending = this.pending.filter((e) => e.live && e.at > this.t);
    for (const e of due) e.fn();
  }
}

test('autologout after 30 minutes without a command, and a BYE when IDLE lasts too long', async () => {
  const timers = new FakeTimers();
  const g = await startImap({ timers });
  try {
    const quiet = await RawImap.connect(g.port);
    expectOk(await quiet.command('LOGIN alice@example.com secret'));
    const idler = await RawImap.connect(g.port);
    expectOk(await idler.command('LOGIN alice@example.com secret'));
    expectOk(await idler.command('SELECT INBOX'));
    idler.write('i1 IDLE\r\n');
    assert.match(await idler.readResponse(), /^\+ /);
    timers.advance(29 * 60_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!quiet.closed, 'RFC 9051 §5.4: not before 30 minutes');
    timers.advance(2 * 60_000);
    assert.match(await quiet.readResponse(), /^\* BYE Autologout/);
    await quiet.waitClosed();
    assert.ok(!idler.closed, 'IDLE is not idleness');
    for (let i = 0; i < 12 && !idler.closed; i++) {
      timers.advance(5 * 60_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    await idler.waitFor(/^\* BYE IDLE for too long/);
  } finally {
    await g.close();
  }
});

test('SEARCHRES: RETURN (SAVE) keeps the result for $; with MIN/MAX only those; ESEARCH otherwise', async () => {
  await f.store.execute({ type: 'createFolder', accountId: f.accountId, name: 'Res', specialUse: null });
  for (let i = 1; i <= 5; i++) await f.deliver(msg(60 + i), { folder: 'Res', flags: i % 2 ? ['\\Seen'] : [] });
  const a = await session('Res');
  assert.deepEqual(expectOk(await a.command('UID SEARCH RETURN (SAVE) SEEN')).untagged, []);
  assert.deepEqual(expectOk(await a.command('FETCH $ (UID)')).untagged, ['* 1 FETCH (UID 1)', '* 3 FETCH (UID 3)', '* 5 FETCH (UID 5)']);
  const es = expectOk(await a.command('SEARCH RETURN (MIN MAX SAVE) SEEN')).untagged;
  assert.match(es[0]!, /^\* ESEARCH \(TAG "a\d+"\) MIN 1 MAX 5$/);
  assert.deepEqual(expectOk(await a.command('UID SEARCH $')).untagged, ['* SEARCH 1 5']);
  assert.match(expectOk(await a.command('UID SEARCH RETURN (COUNT ALL) UNSEEN')).untagged[0]!, /^\* ESEARCH \(TAG "a\d+"\) UID ALL 2,4 COUNT 2$/);
  a.close();
});
