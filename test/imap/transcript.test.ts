// Transcript tests against the real server over TCP: the RFC 9051 example flow, literals mid-command,
// nested MIME with message/rfc822, 8-bit and encoded-word headers, empty mailboxes, UID ranges, bad input.

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

async function login(): Promise<RawImap> {
  const c = await RawImap.connect(f.port);
  expectOk(await c.command('LOGIN alice@example.com secret'));
  return c;
}

const nested = [
  'From: Carol <carol@example.org>',
  'To: alice@example.com',
  'Subject: nested',
  'Message-ID: <nested@example.org>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  '--outer',
  'Content-Type: multipart/mixed; boundary="inner"',
  '',
  '--inner',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'first text part',
  '--inner',
  'Content-Type: message/rfc822',
  '',
  'From: Dave <dave@example.net>',
  'Subject: inner message',
  '',
  'inner body line',
  '--inner--',
  '--outer',
  'Content-Type: application/octet-stream; name="blob.bin"',
  'Content-Transfer-Encoding: base64',
  'Content-Disposition: attachment; filename="blob.bin"',
  '',
  'AAECAwQ=',
  '--outer--',
  '',
].join('\r\n');

test('RFC 9051 flow: greeting, CAPABILITY, LOGIN, SELECT, FETCH, STORE, EXPUNGE, LOGOUT', async () => {
  const c = await RawImap.connect(f.port);
  assert.match(c.greeting, /^\* OK \[CAPABILITY [^\]]*IMAP4rev2[^\]]*IMAP4rev1/);
  const cap = expectOk(await c.command('CAPABILITY'));
  assert.match(cap.untagged[0]!, /AUTH=PLAIN/);
  assert.match((await c.command('SELECT INBOX')).tagged, /^a2 BAD/, 'SELECT before login is a state error');
  expectOk(await c.command('LOGIN alice@example.com secret'));
  const d = await f.deliver('From: a@example.org\r\nSubject: flow\r\n\r\nbody\r\n');
  const sel = expectOk(await c.command('SELECT INBOX'));
  assert.match(sel.tagged, /\[READ-WRITE\]/);
  assert.ok(sel.untagged.includes('* 1 EXISTS'));
  assert.ok(sel.untagged.some((l) => l.startsWith('* OK [UIDVALIDITY ')));
  assert.ok(sel.untagged.includes(`* OK [UIDNEXT ${d.uid + 1}] Predicted next UID`));
  const fetch = expectOk(await c.command('FETCH 1 (FLAGS UID RFC822.SIZE)'));
  assert.deepEqual(fetch.untagged, [`* 1 FETCH (FLAGS () UID ${d.uid} RFC822.SIZE 44)`]);
  const st = expectOk(await c.command('STORE 1 +FLAGS (\\Deleted)'));
  assert.deepEqual(st.untagged, ['* 1 FETCH (FLAGS (\\Deleted))']);
  const ex = expectOk(await c.command('EXPUNGE'));
  assert.deepEqual(ex.untagged, ['* 1 EXPUNGE']);
  const out = expectOk(await c.command('LOGOUT'));
  assert.deepEqual(out.untagged, ['* BYE Logging out']);
  await c.waitClosed();
});

test('literals in the middle of a command: synchronizing gets "+", LITERAL+ does not', async () => {
  const c = await RawImap.connect(f.port);
  c.write('a1 LOGIN {17}\r\n');
  assert.match(await c.readResponse(), /^\+ /);
  c.write('alice@example.com {6+}\r\nsecret\r\n');
  expectOk(await c.readTagged('a1'));
  // A literal inside SEARCH, then the rest of the command after it.
  expectOk(await c.command('SELECT INBOX'));
  await f.deliver('From: x@example.org\r\nSubject: literal needle\r\n\r\nbody\r\n');
  expectOk(await c.command('NOOP'));
  c.write('a9 SEARCH SUBJECT {6+}\r\nneedle UNDELETED\r\n');
  const r = expectOk(await c.readTagged('a9'));
  assert.match(r.untagged.find((l) => l.startsWith('* SEARCH'))!, /^\* SEARCH \d+$/);
  c.close();
});

test('nested multipart with message/rfc822: BODYSTRUCTURE, BODY[1.2.HEADER], partials, BINARY', async () => {
  await f.deliver(nested, { folder: 'Archive' });
  const c = await login();
  expectOk(await c.command('EXAMINE Archive'));
  const bs = expectOk(await c.command('FETCH 1 BODYSTRUCTURE')).untagged[0]!;
  assert.match(bs, /^\* 1 FETCH \(BODYSTRUCTURE \(\(\("text" "plain" \("charset" "us-ascii"\) NIL NIL "7bit" 15 0 /);
  assert.match(bs, /\("message" "rfc822" NIL NIL NIL "7bit" \d+ \(NIL "inner message" \(\("Dave" NIL "dave" "example.net"\)\)/);
  assert.match(bs, /"mixed" \("boundary" "outer"\) NIL NIL NIL\)\)$/);
  const body = expectOk(await c.command('FETCH 1 BODY')).untagged[0]!;
  assert.ok(!body.includes('"boundary"'), 'BODY has no extension data');
  const hdr = expectOk(await c.command('FETCH 1 BODY.PEEK[1.2.HEADER]')).untagged[0]!;
  assert.match(hdr, /BODY\[1\.2\.HEADER\] \{\d+\}\r\nFrom: Dave <dave@example.net>\r\nSubject: inner message\r\n\r\n\)$/);
  const text = expectOk(await c.command('FETCH 1 BODY.PEEK[1.2.TEXT]')).untagged[0]!;
  assert.match(text, /BODY\[1\.2\.TEXT\] \{15\}\r\ninner body line\)$/);
  const part = expectOk(await c.command('FETCH 1 BODY.PEEK[1.1]<6.4>')).untagged[0]!;
  assert.match(part, /BODY\[1\.1\]<6> \{4\}\r\ntext\)$/);
  const fields = expectOk(await c.command('FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]')).untagged[0]!;
  assert.match(fields, /BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{\d+\}\r\nSubject: nested\r\n\r\n\)$/);
  const bin = expectOk(await c.command('FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])')).untagged[0]!;
  assert.equal(bin, '* 1 FETCH (BINARY.SIZE[2] 5 BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04)');
  const mime = expectOk(await c.command('FETCH 1 BODY.PEEK[2.MIME]')).untagged[0]!;
  assert.match(mime, /Content-Disposition: attachment/);
  const flags = expectOk(await c.command('FETCH 1 FLAGS')).untagged[0]!;
  assert.equal(flags, '* 1 FETCH (FLAGS ())', 'PEEK and EXAMINE do not set \\Seen');
  c.close();
});

test('8-bit and encoded-word headers: raw in ENVELOPE, literal for IMAP4rev1, quoted UTF-8 after ENABLE IMAP4rev2; SEARCH decodes', async () => {
  await f.deliver('From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\r\nSubject: =?UTF-8?B?w5xiZXJ3ZWlzdW5n?=\r\n\r\nGr\u00fc\u00dfe\r\n', { folder: 'Trash' });
  await f.deliver(Buffer.from('From: k@example.de\r\nSubject: Gr\u00fc\u00dfe aus K\u00f6ln\r\n\r\nx\r\n', 'utf8'), { folder: 'Trash' });
  const c = await login();
  expectOk(await c.command('SELECT Trash'));
  const env = expectOk(await c.command('FETCH 1:2 ENVELOPE')).untagged;
  assert.match(env[0]!, /"=\?UTF-8\?B\?w5xiZXJ3ZWlzdW5n\?=" \(\("=\?UTF-8\?Q\?J=C3=BCrgen\?=" NIL "j" "example.de"\)\)/);
  assert.match(env[1]!, /NIL \{\d+\}\r\nGr\u00c3\u00bc\u00c3\u009fe aus K\u00c3\u00b6ln /, '8-bit subject as a literal for rev1');
  expectOk(await c.command('ENABLE IMAP4rev2'));
  const env2 = expectOk(await c.command('FETCH 2 ENVELOPE')).untagged[0]!;
  assert.match(env2, /NIL "Gr\u00c3\u00bc\u00c3\u009fe aus K\u00c3\u00b6ln"/, 'quoted UTF-8 under IMAP4rev2');
  const s1 = expectOk(await c.command('SEARCH CHARSET UTF-8 SUBJECT {11+}\r\n\u00dcberweis'.replace('{11+}', `{${Buffer.byteLength('\u00dcberweis')}+}`)));
  assert.ok(s1.untagged.some((l) => /^\* ESEARCH \(TAG "a\d+"\) ALL 1$/.test(l)), s1.untagged.join('|'));
  const s2 = expectOk(await c.command('SEARCH FROM "J\u00fcrgen"'));
  assert.ok(s2.untagged.some((l) => /ALL 1$/.test(l)), s2.untagged.join('|'));
  assert.match((await c.command('SEARCH CHARSET KOI8-R ALL')).tagged, /NO \[BADCHARSET/);
  c.close();
});

test('empty mailbox: * and 1:* are empty, a number is BAD, SEARCH is empty', async () => {
  const c = await login();
  const sel = expectOk(await c.command('SELECT Drafts'));
  assert.ok(sel.untagged.includes('* 0 EXISTS'));
  assert.deepEqual(expectOk(await c.command('FETCH 1:* FLAGS')).untagged, []);
  assert.deepEqual(expectOk(await c.command('FETCH * FLAGS')).untagged, []);
  assert.deepEqual(expectOk(await c.command('UID FETCH 1:* FLAGS')).untagged, []);
  assert.match((await c.command('FETCH 1 FLAGS')).tagged, /^a\d+ BAD/);
  assert.deepEqual(expectOk(await c.command('SEARCH ALL')).untagged, ['* SEARCH']);
  assert.deepEqual(expectOk(await c.command('UID STORE 1:* +FLAGS (\\Seen)')).untagged, []);
  c.close();
});

test('UID ranges beyond UIDNEXT: empty, but n:* still names the last message', async () => {
  const c = await login();
  expectOk(await c.command('SELECT INBOX'));
  const all = expectOk(await c.command('UID FETCH 1:* UID')).untagged;
  const last = Number(/UID (\d+)/.exec(all.at(-1)!)![1]);
  assert.deepEqual(expectOk(await c.command(`UID FETCH ${last + 100}:${last + 200} UID`)).untagged, []);
  const star = expectOk(await c.command(`UID FETCH ${last + 100}:* UID`)).untagged;
  assert.equal(star.length, 1);
  assert.match(star[0]!, new RegExp(`UID ${last}\\)$`));
  const rev = expectOk(await c.command(`UID FETCH *:1 UID`)).untagged;
  assert.equal(rev.length, all.length, 'ranges in either order');
  c.close();
});

test('bad input never crashes: garbage, unknown commands, overlong lines, huge literals; the session goes on', async () => {
  const c = await login();
  for (const junk of ['', 'x', '* NOOP', 'a1', 'a1 FOO', 'a1 FETCH', 'a1 UID NOOP', 'a1 SELECT "unterminated', 'a1 SEARCH ((((((', 'a1 FETCH 1:x FLAGS', 'a1 LIST ( "" *']) {
    c.write(`${junk}\r\n`);
    if (junk === '') continue;
    const r = await c.readResponse();
    assert.match(r, /^\S+ BAD /, `${junk} -> ${r}`);
  }
  c.write(`a2 NOOP ${'x'.repeat(70_000)}\r\n`);
  assert.match(await c.readResponse(), /^\* BAD \[TOOBIG\]/);
  c.write('a3 APPEND INBOX {999999999}\r\n');
  assert.match(await c.readResponse(), /^a3 NO \[TOOBIG\]/);
  c.write(`a4 SEARCH ${'NOT '.repeat(2000)}ALL\r\n`);
  assert.match(await c.readResponse(), /^a4 (OK|BAD)/);
  expectOk(await c.command('NOOP'));
  c.close();
});

test('AUTHENTICATE PLAIN with SASL-IR and with a continuation; wrong password is NO [AUTHENTICATIONFAILED]', async () => {
  const c = await RawImap.connect(f.port);
  const bad = Buffer.from('\0alice@example.com\0wrong').toString('base64');
  assert.match((await c.command(`AUTHENTICATE PLAIN ${bad}`)).tagged, /NO \[AUTHENTICATIONFAILED\]/);
  c.write('a9 AUTHENTICATE PLAIN\r\n');
  assert.equal(await c.readResponse(), '+ ');
  c.write(`${Buffer.from('\0alice@example.com\0secret').toString('base64')}\r\n`);
  assert.match((await c.readTagged('a9')).tagged, /^a9 OK \[CAPABILITY /);
  c.close();
});

test('LOGINDISABLED without TLS; STARTTLS then LOGIN works', async () => {
  const g = await startImap({ config: { allowPlaintextAuth: false } });
  try {
    const c = await RawImap.connect(g.port);
    assert.match(c.greeting, /LOGINDISABLED/);
    assert.ok(!c.greeting.includes('AUTH=PLAIN'));
    assert.match((await c.command('LOGIN alice@example.com secret')).tagged, /NO \[PRIVACYREQUIRED\]/);
    expectOk(await c.command('STARTTLS'));
    await c.startTls();
    const cap = expectOk(await c.command('CAPABILITY')).untagged[0]!;
    assert.ok(cap.includes('AUTH=PLAIN') && !cap.includes('STARTTLS'));
    expectOk(await c.command('LOGIN alice@example.com secret'));
    c.close();
  } finally {
    await g.close();
  }
});

test('COMPRESS=DEFLATE: commands and responses flow compressed', async () => {
  const c = await login();
  expectOk(await c.command('COMPRESS DEFLATE'));
  c.startCompress();
  const r = expectOk(await c.command('LIST "" "*"'));
  assert.ok(r.untagged.includes('* LIST (\\HasNoChildren) "/" INBOX'));
  expectOk(await c.command('SELECT INBOX'));
  expectOk(await c.command('FETCH 1:* (FLAGS BODY.PEEK[])'));
  c.close();
});

test('mailboxes: CREATE with parents, LIST-EXTENDED, LIST-STATUS, RENAME with children, DELETE, LSUB, NAMESPACE, QUOTA', async () => {
  const c = await login();
  expectOk(await c.command('CREATE Work/Projects/2026'));
  const l = expectOk(await c.command('LIST "" Work/%')).untagged;
  assert.deepEqual(l, ['* LIST (\\HasChildren) "/" Work/Projects']);
  const ext = expectOk(await c.command('LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES UIDNEXT))')).untagged;
  assert.ok(ext.includes('* LIST (\\HasNoChildren \\Drafts) "/" Drafts'));
  assert.ok(ext.some((x) => /^\* STATUS Drafts \(MESSAGES 0 UIDNEXT 1\)$/.test(x)));
  expectOk(await c.command('RENAME Work Play'));
  const after = expectOk(await c.command('LIST "" "Play*"')).untagged;
  assert.deepEqual(after.sort(), ['* LIST (\\HasChildren) "/" Play', '* LIST (\\HasChildren) "/" Play/Projects', '* LIST (\\HasNoChildren) "/" Play/Projects/2026']);
  assert.match((await c.command('CREATE Play')).tagged, /NO \[ALREADYEXISTS\]/);
  expectOk(await c.command('DELETE Play/Projects/2026'));
  assert.match((await c.command('SELECT Play/Projects/2026')).tagged, /NO \[NONEXISTENT\]/);
  expectOk(await c.command('UNSUBSCRIBE Play'));
  const rec = expectOk(await c.command('LIST (SUBSCRIBED RECURSIVEMATCH) "" "Pl%"')).untagged;
  assert.deepEqual(rec, ['* LIST (\\HasChildren) "/" Play ("CHILDINFO" ("SUBSCRIBED"))']);
  const lsub = expectOk(await c.command('LSUB "" "*"')).untagged;
  assert.ok(!lsub.includes('* LSUB () "/" Play') && lsub.includes('* LSUB () "/" INBOX'));
  assert.deepEqual(expectOk(await c.command('NAMESPACE')).untagged, ['* NAMESPACE (("" "/")) NIL NIL']);
  assert.deepEqual(expectOk(await c.command('GETQUOTAROOT INBOX')).untagged, ['* QUOTAROOT INBOX ""', '* QUOTA "" ()']);
  assert.deepEqual(expectOk(await c.command('LIST "" ""')).untagged, ['* LIST (\\Noselect) "/" ""']);
  // RFC 9051 §6.3.5: deleting a parent keeps its children; the parent name becomes \Noselect.
  expectOk(await c.command('DELETE Play'));
  assert.deepEqual(expectOk(await c.command('LIST "" Play')).untagged, ['* LIST (\\Noselect \\HasChildren) "/" Play']);
  assert.deepEqual(expectOk(await c.command('LIST () "" Play')).untagged, ['* LIST (\\NonExistent \\HasChildren) "/" Play']);
  assert.match((await c.command('DELETE Play')).tagged, /NO \[NONEXISTENT\]/);
  c.close();
});

test('RENAME INBOX moves its messages and leaves INBOX empty (RFC 9051 §6.3.6)', async () => {
  const g = await startImap();
  try {
    await g.deliver('From: a@example.org\r\nSubject: one\r\n\r\n1\r\n');
    await g.deliver('From: a@example.org\r\nSubject: two\r\n\r\n2\r\n');
    const c = await RawImap.connect(g.port);
    expectOk(await c.command('LOGIN alice@example.com secret'));
    const watcher = await RawImap.connect(g.port);
    expectOk(await watcher.command('LOGIN alice@example.com secret'));
    expectOk(await watcher.command('SELECT INBOX'));
    expectOk(await c.command('RENAME INBOX "Old Mail"'));
    assert.deepEqual(expectOk(await c.command('STATUS INBOX (MESSAGES)')).untagged, ['* STATUS INBOX (MESSAGES 0)']);
    assert.deepEqual(expectOk(await c.command('STATUS "Old Mail" (MESSAGES UIDNEXT)')).untagged, ['* STATUS "Old Mail" (MESSAGES 2 UIDNEXT 3)']);
    assert.deepEqual(expectOk(await watcher.command('NOOP')).untagged, ['* 2 EXPUNGE', '* 1 EXPUNGE']);
    c.close();
    watcher.close();
  } finally {
    await g.close();
  }
});

test('non-ASCII mailbox names: modified UTF-7 for IMAP4rev1, UTF-8 after ENABLE IMAP4rev2', async () => {
  const c = await login();
  expectOk(await c.command('CREATE Entw&APw-rfe'));
  assert.ok((await f.store.queries.folderByName(f.accountId, 'Entw\u00fcrfe')) !== undefined, 'stored as UTF-8');
  assert.deepEqual(expectOk(await c.command('LIST "" Entw*')).untagged, ['* LIST (\\HasNoChildren) "/" Entw&APw-rfe']);
  expectOk(await c.command('ENABLE IMAP4rev2'));
  assert.deepEqual(expectOk(await c.command('LIST "" Entw*')).untagged, [`* LIST (\\HasNoChildren) "/" "${Buffer.from('Entw\u00fcrfe').toString('latin1')}"`], 'UTF-8 on the wire');
  expectOk(await c.command('SELECT "Entw\u00fcrfe"'));
  c.close();
});

test('a message over 1 MiB is streamed from the blob store: whole, partial, and RFC822', async () => {
  const body = Array.from({ length: 30_000 }, (_, i) => `line ${i} ${'x'.repeat(40)}`).join('\r\n');
  const big = Buffer.from(`From: big@example.org\r\nSubject: big\r\n\r\n${body}\r\n`);
  await f.store.execute({ type: 'createFolder', accountId: f.accountId, name: 'Big', specialUse: null });
  await f.deliver(big, { folder: 'Big' });
  const c = await login();
  expectOk(await c.command('SELECT Big'));
  const whole = expectOk(await c.command('FETCH 1 (UID BODY[])')).untagged[0]!;
  assert.equal(whole, `* 1 FETCH (UID 1 BODY[] {${big.length}}\r\n${big.toString('latin1')} FLAGS (\\Seen))`);
  const part = expectOk(await c.command('FETCH 1 BODY.PEEK[]<1000000.20>')).untagged[0]!;
  assert.equal(part, `* 1 FETCH (BODY[]<1000000> {20}\r\n${big.subarray(1_000_000, 1_000_020).toString('latin1')})`);
  const rfc822 = expectOk(await c.command('FETCH 1 RFC822')).untagged[0]!;
  assert.ok(rfc822.startsWith(`* 1 FETCH (RFC822 {${big.length}}\r\nFrom: big@example.org`));
  c.close();
});

test('SORT and THREAD over summaries', async () => {
  await f.deliver('From: z@example.org\r\nSubject: Re: topic\r\nMessage-ID: <t2@x>\r\nReferences: <t1@x>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nb\r\n', { folder: 'Sent' });
  await f.deliver('From: a@example.org\r\nSubject: topic\r\nMessage-ID: <t1@x>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\na\r\n', { folder: 'Sent' });
  await f.deliver('From: m@example.org\r\nSubject: other\r\nMessage-ID: <o1@x>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nc\r\n', { folder: 'Sent' });
  const c = await login();
  expectOk(await c.command('SELECT Sent'));
  assert.deepEqual(expectOk(await c.command('SORT (DATE) UTF-8 ALL')).untagged, ['* SORT 2 1 3']);
  assert.deepEqual(expectOk(await c.command('SORT (REVERSE FROM) UTF-8 ALL')).untagged, ['* SORT 1 3 2']);
  assert.deepEqual(expectOk(await c.command('SORT (SUBJECT DATE) UTF-8 ALL')).untagged, ['* SORT 3 2 1']);
  assert.deepEqual(expectOk(await c.command('THREAD REFERENCES UTF-8 ALL')).untagged, ['* THREAD (2 1)(3)']);
  assert.deepEqual(expectOk(await c.command('THREAD ORDEREDSUBJECT UTF-8 ALL')).untagged, ['* THREAD (2 1)(3)']);
  c.close();
});
