// imapflow (the maintained Node IMAP client) against the real server: login, list, select, fetch envelope,
// bodystructure and source, store flags, move, append, search, idle (seeing a delivery), over TLS and plain.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ImapFlow } from 'imapflow';
import { testTls } from '../pop3/helpers/harness.ts';
import { type ImapFixture, startImap } from './fixture.ts';

let f: ImapFixture;
const moved: { from: string | null; to: string | null; n: number }[] = [];

before(async () => {
  f = await startImap({ hooks: { onMessagesMoved: (e) => moved.push({ from: e.from, to: e.to, n: e.blobIds.length }) } });
});
after(async () => {
  await f.close();
});

function client(o: { tls?: boolean } = {}): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port: o.tls ? f.tlsPort : f.port,
    secure: o.tls === true,
    tls: { ca: testTls().cert, servername: 'localhost' },
    auth: { user: f.user, pass: f.password },
    logger: false,
  });
}

const message = (subject: string, body = 'Hello body'): string =>
  `From: Bob <bob@example.org>\r\nTo: Alice <alice@example.com>\r\nSubject: ${subject}\r\nDate: Mon, 23 Nov 2026 01:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n\r\n${body}\r\n`;

test('imapflow: login over implicit TLS, list, select, fetch envelope, bodystructure and source', async () => {
  await f.deliver(message('first'));
  const c = client({ tls: true });
  await c.connect();
  try {
    const boxes = await c.list();
    assert.deepEqual(boxes.map((b) => b.path).sort(), ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
    assert.equal(boxes.find((b) => b.path === 'Junk')?.specialUse, '\\Junk');
    const lock = await c.getMailboxLock('INBOX');
    try {
      assert.ok(c.mailbox && c.mailbox.exists >= 1);
      const msg = await c.fetchOne('1', { envelope: true, bodyStructure: true, source: true, flags: true, uid: true, size: true });
      assert.ok(msg);
      assert.equal(msg.envelope?.subject, 'first');
      assert.equal(msg.envelope?.from?.[0]?.address, 'bob@example.org');
      assert.equal(msg.bodyStructure?.type, 'text/plain');
      assert.match(msg.source?.toString() ?? '', /Hello body/);
      assert.equal(msg.size, Buffer.byteLength(message('first')));
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
});

test('imapflow: store flags, search, append, move (the Junk hook fires), status', async () => {
  const c = client();
  await c.connect();
  try {
    await c.mailboxOpen('INBOX');
    const appended = await c.append('INBOX', message('appended', 'needle in a haystack'), ['\\Draft']);
    assert.ok(appended && typeof appended.uid === 'number', 'APPENDUID gives the new UID');
    assert.ok(await c.messageFlagsAdd({ uid: appended.uid }, ['\\Flagged'], { uid: true }));
    const flagged = await c.search({ flagged: true }, { uid: true });
    assert.deepEqual(flagged, [appended.uid]);
    const byText = await c.search({ body: 'needle' }, { uid: true });
    assert.deepEqual(byText, [appended.uid]);
    const bySubject = await c.search({ subject: 'first' });
    assert.equal(bySubject && bySubject.length, 1);
    const res = await c.messageMove({ uid: appended.uid }, 'Junk', { uid: true });
    assert.ok(res && res.uidMap && res.uidMap.size === 1, 'COPYUID reported');
    assert.deepEqual(moved.at(-1), { from: null, to: '\\Junk', n: 1 });
    const st = await c.status('Junk', { messages: true, uidNext: true, unseen: true });
    assert.ok(st);
    assert.equal(st.messages, 1);
    assert.equal(st.unseen, 1);
  } finally {
    await c.logout();
  }
});

test('imapflow: IDLE sees a delivery within a second', async () => {
  const c = client();
  await c.connect();
  try {
    await c.mailboxOpen('INBOX');
    const before = c.mailbox ? c.mailbox.exists : 0;
    const seen = new Promise<number>((resolve) => c.on('exists', (d: { count: number }) => resolve(d.count)));
    const idling = c.idle();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await f.deliver(message('while idling'));
    const count = await Promise.race([seen, new Promise<number>((_, rej) => setTimeout(() => rej(new Error('no EXISTS within 1 s')), 1_000))]);
    assert.ok(Date.now() - t0 < 1_000);
    assert.equal(count, before + 1);
    void idling;
  } finally {
    await c.logout();
  }
});
