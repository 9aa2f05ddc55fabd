// Python's imaplib against the real server: a script logs in (STARTTLS and implicit TLS), lists, selects,
// searches (charset UTF-8 too), fetches, stores, copies, UID EXPUNGEs, appends and IDLEs, and prints JSON.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { testTls } from '../pop3/helpers/harness.ts';
import { type ImapFixture, startImap } from './fixture.ts';

let f: ImapFixture;
let dir: string;

// Raw IDLE (imaplib has no idle() before Python 3.14): a second connection APPENDs while the first idles.
const script = String.raw`
import imaplib, json, ssl, sys, time
port, tls_port, cafile, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
def s(x):
    if isinstance(x, bytes): return x.decode('latin1')
    if isinstance(x, (list, tuple)): return [s(i) for i in x]
    return x

M = imaplib.IMAP4('127.0.0.1', port)
out['caps_before_tls'] = list(M.capabilities)
M.starttls(ssl_context=ctx)
out['login'] = s(M.login(user, password))
out['caps'] = s(M.capability()[1])
out['list'] = s(M.list()[1])
out['list_pattern'] = s(M.list('""', 'Ar*')[1])
out['select'] = s(M.select('INBOX'))
out['search_all'] = s(M.search(None, 'ALL')[1])
out['search_from'] = s(M.search(None, 'FROM', '"carol"')[1])
out['search_or'] = s(M.search(None, 'OR', 'SUBJECT', 'multi', 'SUBJECT', 'plain')[1])
out['search_not_larger'] = s(M.search(None, 'NOT', 'LARGER', '100000', 'UNSEEN')[1])
out['search_header'] = s(M.search(None, 'HEADER', 'X-Tag', 'blue')[1])
out['search_body'] = s(M.search(None, 'BODY', 'attachment-text')[1])
out['uid_search_since'] = s(M.uid('SEARCH', 'SINCE', '1-Jan-2020')[1])
M.literal = 'café'.encode('utf-8')
out['search_utf8'] = s(M.search('UTF-8', 'SUBJECT')[1])
out['fetch_body'] = s(M.fetch('1', '(BODY[])')[1])
out['fetch_bs'] = s(M.fetch('3', '(BODYSTRUCTURE)')[1])
out['fetch_env'] = s(M.fetch('2', '(ENVELOPE)')[1])
out['fetch_fields'] = s(M.fetch('1:3', '(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[1])
out['store'] = s(M.store('1', '+FLAGS', '(\\Flagged)')[1])
out['fetch_flags'] = s(M.fetch('1:*', '(FLAGS)')[1])
out['copy'] = s(M.copy('1:2', 'Archive'))
out['status_archive'] = s(M.status('Archive', '(MESSAGES UIDNEXT)')[1])
out['store_deleted'] = s(M.uid('STORE', '2', '+FLAGS.SILENT', '(\\Deleted)'))
out['uid_expunge'] = s(M.uid('EXPUNGE', '2'))
out['expunge_resp'] = s(M.response('EXPUNGE'))
out['after_expunge'] = s(M.search(None, 'ALL')[1])
msg = b'From: Py <py@example.org>\r\nSubject: appended by python\r\n\r\nliteral body\r\n'
out['append'] = s(M.append('INBOX', '(\\Seen)', imaplib.Time2Internaldate(time.time()), msg))
out['noop'] = s(M.noop())
out['appended'] = s(M.fetch('3', '(FLAGS BODY.PEEK[])')[1])

tag = M._new_tag()
M.send(tag + b' IDLE\r\n')
out['idle_cont'] = s(M.readline().strip())
N = imaplib.IMAP4_SSL('127.0.0.1', tls_port, ssl_context=ctx)
N.login(user, password)
N.append('INBOX', None, None, b'Subject: during idle\r\n\r\nx\r\n')
N.logout()
deadline = time.time() + 5
M.sock.settimeout(5)
idle_lines = []
while time.time() < deadline:
    line = M.readline().strip()
    idle_lines.append(s(line))
    if line.endswith(b'EXISTS'): break
M.send(b'DONE\r\n')
while True:
    line = M.readline().strip()
    idle_lines.append(s(line))
    if line.startswith(tag): break
out['idle'] = idle_lines
out['close'] = s(M.close())
out['logout'] = s(M.logout())[0]
print(json.dumps(out))
`;

before(async () => {
  f = await startImap();
  dir = await mkdtemp(join(tmpdir(), 'stormo-imaplib-'));
  await writeFile(join(dir, 'drive.py'), script);
});
after(async () => {
  await f?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function runScript(): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile('python3', [join(dir, 'drive.py'), String(f.port), String(f.tlsPort), testTls().certPath, f.user, f.password], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`python failed (${err.message}):\n${stdout}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Record<string, unknown>);
    });
  });
}

const plain = 'From: Bob <bob@example.org>\r\nTo: Alice <alice@example.com>\r\nSubject: plain one\r\nX-Tag: blue\r\nDate: Mon, 23 Nov 2026 01:00:00 +0000\r\n\r\nHello from Bob\r\n';
const utf8 = 'From: =?utf-8?q?Carol_D=C3=BCrr?= <carol@example.org>\r\nTo: alice@example.com\r\nSubject: =?utf-8?q?caf=C3=A9_time?=\r\nDate: Mon, 23 Nov 2026 02:00:00 +0000\r\nMessage-ID: <c1@example.org>\r\n\r\nsee you\r\n';
const multi = 'From: Dan <dan@example.org>\r\nTo: alice@example.com\r\nSubject: multi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nmain text\r\n--zz\r\nContent-Type: text/plain; name="a.txt"\r\nContent-Disposition: attachment; filename="a.txt"\r\n\r\nattachment-text\r\n--zz--\r\n';

test('imaplib: the whole session a Python client drives', async () => {
  await f.deliver(plain);
  await f.deliver(utf8);
  await f.deliver(multi, { flags: ['\\Seen'] });
  const o = await runScript();
  const caps = (o.caps as string[]).join(' ');
  assert.ok((o.caps_before_tls as string[]).includes('STARTTLS'));
  assert.match(caps, /IMAP4rev1/);
  assert.equal((o.login as string[])[0], 'OK');
  const list = (o.list as string[]).join('\n');
  for (const name of ['INBOX', 'Archive', 'Sent', 'Trash']) assert.match(list, new RegExp(`"?${name}"?$`, 'm'));
  assert.equal((o.list_pattern as string[]).length, 1);
  assert.deepEqual(o.select, ['OK', ['3']]);
  assert.deepEqual(o.search_all, ['1 2 3']);
  assert.deepEqual(o.search_from, ['2']);
  assert.deepEqual(o.search_or, ['1 3']);
  assert.deepEqual(o.search_not_larger, ['1 2']);
  assert.deepEqual(o.search_header, ['1']);
  assert.deepEqual(o.search_body, ['3']);
  assert.deepEqual(o.uid_search_since, ['1 2 3']);
  assert.deepEqual(o.search_utf8, ['2'], 'SEARCH CHARSET UTF-8 SUBJECT café matches the encoded-word subject');
  const body = o.fetch_body as [string, string][];
  assert.match(body[0]![0], /^1 \(BODY\[\] \{\d+\}$/);
  assert.equal(body[0]![1], plain);
  const bs = (o.fetch_bs as string[]).join('');
  assert.match(bs, /BODYSTRUCTURE \(\("TEXT" "PLAIN" \("CHARSET" "us-ascii"\).*"MIXED"/i);
  assert.match(bs, /"attachment" \("filename" "a.txt"\)/i);
  const env = (o.fetch_env as string[]).join('');
  assert.match(env, /ENVELOPE \("Mon, 23 Nov 2026 02:00:00 \+0000" "=\?utf-8\?q\?caf=C3=A9_time\?="/);
  assert.match(env, /"<c1@example.org>"\)\)$/);
  assert.match(JSON.stringify(o.fetch_fields), /Subject: multi/);
  assert.match((o.store as string[])[0]!, /FLAGS \(.*\\Flagged/);
  const flags = (o.fetch_flags as string[]).join('\n');
  assert.match(flags, /^1 \(FLAGS \(\\Flagged \\Seen\)\)$/m, 'FETCH BODY[] set \\Seen, STORE added \\Flagged');
  assert.match(flags, /^2 \(FLAGS \(\)\)$/m, 'ENVELOPE and BODY.PEEK leave \\Seen alone');
  assert.equal((o.copy as string[])[0], 'OK');
  assert.match((o.status_archive as string[])[0]!, /MESSAGES 2/);
  assert.equal((o.uid_expunge as [string, string[]])[0], 'OK');
  assert.deepEqual(o.expunge_resp, ['EXPUNGE', ['2']]);
  assert.deepEqual(o.after_expunge, ['1 2']);
  assert.equal((o.append as string[])[0], 'OK');
  const appended = o.appended as [string, string][];
  assert.match(appended[0]![0], /FLAGS \(\\Seen\)/);
  assert.equal(appended[0]![1], 'From: Py <py@example.org>\r\nSubject: appended by python\r\n\r\nliteral body\r\n');
  assert.match(o.idle_cont as string, /^\+/);
  const idle = o.idle as string[];
  assert.ok(idle.includes('* 4 EXISTS'), `IDLE reported the append: ${idle.join(' | ')}`);
  assert.match(idle.at(-1)!, /OK/);
  assert.equal(o.logout, 'BYE');
});
