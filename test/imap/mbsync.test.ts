// mbsync (isync 1.4) against the real server over implicit TLS: an initial pull compared byte for byte,
// local flag changes, a local new message and a local deletion pushed, then server-side changes pulled.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ImapFlow } from 'imapflow';
import { testTls } from '../pop3/helpers/harness.ts';
import { type ImapFixture, startImap } from './fixture.ts';

let f: ImapFixture;
let dir: string;

before(async () => {
  f = await startImap();
  dir = await mkdtemp(join(tmpdir(), 'stormo-mbsync-'));
  await mkdir(join(dir, 'mail'), { recursive: true });
  const rc = [
    'IMAPAccount stormo',
    'Host localhost', // the certificate names localhost; isync does not match IP addresses
    `Port ${f.tlsPort}`,
    `User ${f.user}`,
    `Pass ${f.password}`,
    'SSLType IMAPS',
    `CertificateFile ${testTls().certPath}`,
    'PipelineDepth 5',
    '',
    'IMAPStore remote',
    'Account stormo',
    '',
    'MaildirStore local',
    `Path ${join(dir, 'mail')}/`,
    `Inbox ${join(dir, 'mail', 'INBOX')}`,
    'SubFolders Verbatim',
    '',
    'Channel sync',
    'Far :remote:',
    'Near :local:',
    'Patterns INBOX Archive',
    'Sync All',
    'Create Both',
    'Expunge Both',
    'SyncState *',
    '',
  ].join('\n');
  await writeFile(join(dir, 'mbsyncrc'), rc);
});
after(async () => {
  await f?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function mbsync(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('mbsync', ['-c', join(dir, 'mbsyncrc'), '-a'], { timeout: 30_000, env: { ...process.env, HOME: dir } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`mbsync failed (${err.message}):\n${stdout}\n${stderr}`));
      else if (/warning|error/i.test(`${stdout}${stderr}`)) reject(new Error(`mbsync complained:\n${stdout}\n${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

interface LocalMessage {
  readonly path: string;
  readonly name: string;
  readonly flags: string;
  readonly bytes: Buffer;
}

/** Messages of a Maildir folder (cur and new), with the flags of their `:2,` info suffix. */
async function maildir(folder: string): Promise<LocalMessage[]> {
  const out: LocalMessage[] = [];
  for (const sub of ['cur', 'new']) {
    const d = join(dir, 'mail', folder, sub);
    for (const name of await readdir(d).catch(() => [] as string[])) {
      const path = join(d, name);
      // isync writes an X-TUID header into every message it stores (its own tracking, not from the server).
      const bytes = Buffer.from((await readFile(path)).toString('latin1').replace(/^X-TUID: \S+\n/m, ''), 'latin1');
      out.push({ path, name, flags: /:2,([A-Z]*)$/.exec(name)?.[1] ?? '', bytes });
    }
  }
  return out;
}

const findBySubject = (list: LocalMessage[], subject: string): LocalMessage | undefined => list.find((m) => m.bytes.includes(`Subject: ${subject}\n`));

const lf = (s: string): string => s.replace(/\r\n/g, '\n');

async function withServer<T>(fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  const c = new ImapFlow({ host: '127.0.0.1', port: f.port, secure: false, doSTARTTLS: false, auth: { user: f.user, pass: f.password }, logger: false });
  await c.connect();
  try {
    await c.mailboxOpen('INBOX');
    return await fn(c);
  } finally {
    await c.logout();
  }
}

interface ServerMessage {
  readonly uid: number;
  readonly flags: string[];
  readonly source: string;
}

async function serverMessages(): Promise<ServerMessage[]> {
  return withServer(async (c) => {
    const out: ServerMessage[] = [];
    if (c.mailbox && c.mailbox.exists === 0) return out;
    for await (const m of c.fetch('1:*', { uid: true, flags: true, source: true })) {
      out.push({ uid: m.uid, flags: [...(m.flags ?? [])].sort(), source: m.source?.toString('latin1') ?? '' });
    }
    return out;
  });
}

const msg = (subject: string, body: string, extra = ''): string =>
  `From: Bob <bob@example.org>\r\nTo: Alice <alice@example.com>\r\nSubject: ${subject}\r\nDate: Mon, 23 Nov 2026 01:00:00 +0000\r\nMessage-ID: <${subject}@example.org>\r\n${extra}\r\n${body}`;

const delivered = [
  msg('one', 'plain body\r\n'),
  msg('two', 'line 1\r\nline 2\r\n.\r\n..dots\r\n', 'X-Note: kept\r\n'),
  msg('three', `${'long line '.repeat(200)}\r\n`),
  msg('four', '=?utf-8?q?caf=C3=A9?= body\r\n', 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n')
    .replace('body\r\n', 'body\r\n--b1\r\nContent-Type: text/plain\r\n\r\npart one\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--b1--\r\n'),
  msg('five', 'no final newline'),
];

test('mbsync: initial pull gives byte-identical Maildir files (LF line ends), then a no-op resync', async () => {
  for (const [i, m] of delivered.entries()) await f.deliver(Buffer.from(m), i === 1 ? { flags: ['\\Seen'] } : {});
  await mbsync();
  const local = await maildir('INBOX');
  assert.equal(local.length, delivered.length);
  for (const m of delivered) {
    const subject = /Subject: (\w+)/.exec(m)?.[1] ?? '';
    const l = findBySubject(local, subject);
    assert.ok(l, `message ${subject} pulled`);
    assert.equal(l.bytes.toString('latin1'), lf(m), `bytes of ${subject}`);
  }
  assert.equal(findBySubject(local, 'two')?.flags, 'S', '\\Seen becomes S');
  assert.equal(findBySubject(local, 'one')?.flags, '');
  await mbsync();
  assert.equal((await maildir('INBOX')).length, delivered.length, 'second run changes nothing');
  assert.equal((await serverMessages()).length, delivered.length);
});

test('mbsync: local flags, a new local message and a local deletion are pushed to the server', async () => {
  const local = await maildir('INBOX');
  const one = findBySubject(local, 'one');
  const three = findBySubject(local, 'three');
  assert.ok(one && three);
  await rename(one.path, join(dir, 'mail', 'INBOX', 'cur', `${one.name.replace(/:2,.*$/, '')}:2,FRS`));
  await rename(three.path, join(dir, 'mail', 'INBOX', 'cur', `${three.name.replace(/:2,.*$/, '')}:2,ST`));
  const added = 'From: Alice <alice@example.com>\nTo: Bob <bob@example.org>\nSubject: local\nMessage-ID: <local@example.com>\n\nwritten on the client\n';
  await writeFile(join(dir, 'mail', 'INBOX', 'new', `1700000000.1_1.client`), added);
  await mbsync();
  const server = await serverMessages();
  const bySubject = (s: string): ServerMessage | undefined => server.find((m) => m.source.includes(`Subject: ${s}\r\n`));
  assert.deepEqual(bySubject('one')?.flags, ['\\Answered', '\\Flagged', '\\Seen']);
  assert.equal(bySubject('three'), undefined, 'the message trashed locally is expunged on the server');
  const up = bySubject('local');
  assert.ok(up, 'the local message was appended');
  assert.equal(up.source.replace(/X-TUID: \S+\r\n/, ''), added.replace(/\n/g, '\r\n'));
  assert.equal(server.length, delivered.length);
  assert.equal((await maildir('INBOX')).length, delivered.length, 'the local deletion was expunged locally too');
});

test('mbsync: a delivery, a flag change and an expunge on the server are pulled on the next run', async () => {
  await f.deliver(msg('six', 'arrived later\r\n'));
  await withServer(async (c) => {
    const list = await c.search({ header: { subject: 'two' } }, { uid: true });
    assert.ok(list && list.length === 1);
    await c.messageFlagsAdd({ uid: list[0] }, ['\\Flagged'], { uid: true });
    const five = await c.search({ header: { subject: 'five' } }, { uid: true });
    assert.ok(five && five.length === 1);
    await c.messageDelete({ uid: five[0] }, { uid: true });
  });
  await mbsync();
  const local = await maildir('INBOX');
  assert.equal(findBySubject(local, 'six')?.bytes.toString('latin1'), lf(msg('six', 'arrived later\r\n')));
  assert.equal(findBySubject(local, 'two')?.flags, 'FS');
  assert.equal(findBySubject(local, 'five'), undefined, 'expunged on the server, gone locally');
  const server = await serverMessages();
  assert.deepEqual(server.map((m) => /Subject: (\w+)/.exec(m.source)?.[1]).sort(), local.map((m) => /Subject: (\w+)/.exec(m.bytes.toString())?.[1]).sort());
});

test('mbsync: a folder created locally is created on the server and synced', async () => {
  const box = join(dir, 'mail', 'Archive');
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(box, sub), { recursive: true });
  await writeFile(join(box, 'cur', '1700000001.1_1.client:2,S'), 'Subject: kept\nFrom: a@example.org\n\narchived\n');
  await mbsync();
  const st = await withServer((c) => c.status('Archive', { messages: true, unseen: true }));
  assert.ok(st, 'STATUS Archive answered');
  assert.equal(st.messages, 1);
  assert.equal(st.unseen, 0);
});
