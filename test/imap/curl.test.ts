// curl's IMAP client against the real server: list mailboxes, fetch a message and a section by UID, search,
// a custom command, over implicit TLS (-k) and over STARTTLS (--ssl-reqd, certificate checked).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { testTls } from '../pop3/helpers/harness.ts';
import { type ImapFixture, startImap } from './fixture.ts';

let f: ImapFixture;

before(async () => {
  f = await startImap({ config: { allowPlaintextAuth: false } });
});
after(async () => {
  await f?.close();
});

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '15', '-u', `${f.user}:${f.password}`, ...args], { timeout: 20_000, encoding: 'latin1' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`curl failed (${err.message}):\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const imaps = (path = ''): string => `imaps://127.0.0.1:${f.tlsPort}/${path}`;
const starttls = (path = ''): string => `imap://127.0.0.1:${f.port}/${path}`;

const first = 'From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: curl me\r\n\r\nfirst body\r\n';
const second = 'From: Carol <carol@example.org>\r\nTo: alice@example.com\r\nSubject: another\r\n\r\nsecond body, curl\r\n';

test('curl over implicit TLS: list, fetch by UID, a section, search, a custom EXAMINE', async () => {
  await f.deliver(first);
  await f.deliver(second);
  const list = await curl(['-k', imaps()]);
  for (const name of ['INBOX', 'Archive', 'Drafts', 'Junk', 'Sent', 'Trash']) assert.match(list, new RegExp(`^\\* LIST \\([^)]*\\) "/" "?${name}"?\\r?$`, 'm'));
  assert.equal(await curl(['-k', imaps('INBOX;UID=1')]), first);
  assert.equal(await curl(['-k', imaps('INBOX;UID=2;SECTION=TEXT')]), 'second body, curl\r\n');
  assert.equal(await curl(['-k', imaps('INBOX;UID=2;SECTION=HEADER.FIELDS%20(SUBJECT)')]), 'Subject: another\r\n\r\n');
  assert.match(await curl(['-k', `${imaps('INBOX')}?SUBJECT%20curl`]), /^\* SEARCH 1\r?$/m);
  assert.match(await curl(['-k', `${imaps('INBOX')}?BODY%20curl`]), /^\* SEARCH 2\r?$/m);
  assert.match(await curl(['-k', `${imaps('INBOX')}?TEXT%20curl`]), /^\* SEARCH 1 2\r?$/m);
  assert.match(await curl(['-k', `${imaps('INBOX')}?SEEN`]), /^\* SEARCH 1 2\r?$/m, 'curl fetches BODY[...] without PEEK: both are \\Seen now');
  const examine = await curl(['-k', imaps('INBOX'), '-X', 'EXAMINE INBOX']);
  assert.match(examine, /^\* 2 EXISTS\r?$/m);
  assert.match(examine, /UIDVALIDITY \d+/);
});

test('curl over STARTTLS with --ssl-reqd and the certificate verified; a wrong password fails', async () => {
  const ca = ['--ssl-reqd', '--cacert', testTls().certPath];
  assert.match(await curl([...ca, starttls()]), /^\* LIST .*INBOX/m);
  assert.equal(await curl([...ca, starttls('INBOX;UID=2')]), second);
  assert.match(await curl([...ca, `${starttls('INBOX')}?FROM%20carol`]), /^\* SEARCH 2\r?$/m);
  await assert.rejects(
    new Promise((resolve, reject) =>
      execFile('curl', ['-sS', '--max-time', '15', ...ca, '-u', `${f.user}:wrong`, starttls()], { timeout: 20_000 }, (err, out) => (err ? reject(err) : resolve(out))),
    ),
    /Login denied|exit code 67|Command failed/,
  );
});
