// Scripted transcripts (testdata/*.txt): "C:" lines are sent, "S:" lines are regular expressions the
// server's responses must match in order. Starts from the RFC 9051 §8 sample session.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RawImap } from './client.ts';
import { startImap } from './fixture.ts';

const rfcMessage = [
  'Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)',
  'From: Terry Gray <gray@cac.washington.edu>',
  'Subject: IMAP4rev2 WG mtg summary and minutes',
  'To: imap@cac.washington.edu',
  'cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>',
  'Message-Id: <B27397-0100000@cac.washington.edu>',
  'MIME-Version: 1.0',
  'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII',
  '',
  'Minutes of the meeting.',
  '',
].join('\r\n');

async function play(file: string): Promise<void> {
  const f = await startImap();
  try {
    for (let i = 1; i < 12; i++) await f.deliver(`From: x@example.org\r\nSubject: filler ${i}\r\n\r\nfiller\r\n`);
    await f.deliver(rfcMessage, { flags: ['\\Seen'], internalDate: Date.UTC(1996, 6, 17, 9, 44, 25) });
    const lines = readFileSync(join(import.meta.dirname, 'testdata', file), 'utf8').split('\n').filter((l) => /^[CS]: /.test(l));
    const c = await RawImap.connect(f.port);
    const seen: string[] = [c.greeting];
    for (const line of lines) {
      const text = line.slice(3);
      if (line.startsWith('C: ')) {
        c.write(`${text}\r\n`);
        continue;
      }
      const re = new RegExp(text);
      for (;;) {
        const got = seen.shift() ?? (await c.readResponse());
        if (re.test(got)) break;
        assert.ok(got.startsWith('* '), `expected ${text}\ngot ${JSON.stringify(got)}`);
      }
    }
    c.close();
  } finally {
    await f.close();
  }
}

test('RFC 9051 §8 sample session', async () => {
  await play('rfc9051-section8.txt');
});
