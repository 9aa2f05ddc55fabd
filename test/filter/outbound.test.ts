// The washer on authenticated submission (outbound): content is still checked (a virus is refused with 554 5.7.1),
// while the MX-only checks (DNSBL, reverse DNS, SPF/DKIM/DMARC) do not apply to our own users. Real clamd, nodemailer.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { eicar, missing, startClamd, type Daemon } from './daemons.ts';
import { message, startWasherNode, userPassword, type WasherNode } from './node.ts';

const skip = missing('clamd');
const tempDir = scratchDirs('stormo-washer-outbound-');

describe('washer on submission', { skip, timeout: 60_000 }, () => {
  let clamd: Daemon;
  let node: WasherNode;
  const transport = () =>
    nodemailer.createTransport({
      host: '127.0.0.1', port: node.submissionPort ?? 0, secure: false, requireTLS: true, tls: { rejectUnauthorized: false },
      auth: { user: 'alice@example.test', pass: userPassword }, connectionTimeout: 5000, name: 'laptop.example.test',
    });

  before(async () => {
    const dir = await tempDir();
    clamd = await startClamd(`${dir}/clamd`);
    node = await startWasherNode(`${dir}/node`, {
      // A blocklist that would list everyone, and DMARC: neither may touch authenticated mail.
      filter: { dnsServers: ['127.0.0.1:9'], dnsbl: [{ zone: 'bl.test', weight: 100, action: 'reject' }], antivirus: { engine: 'clamd', clamd: { host: '127.0.0.1', port: clamd.port }, timeoutMs: 5000 } },
      domains: { 'example.test': undefined },
      users: { 'alice@example.test': undefined, 'bob@example.test': undefined },
      submission: true,
    });
  });

  after(async () => {
    await node?.stop();
    await clamd?.stop();
  });

  test('a virus from an authenticated user is refused with 554 5.7.1 and a tracking id', async () => {
    const m = message({ from: 'alice@example.test', to: 'bob@example.test', subject: 'oops', body: eicar });
    await assert.rejects(
      transport().sendMail({ envelope: { from: 'alice@example.test', to: ['bob@example.test'] }, raw: m.text }),
      (e: { responseCode?: number; response?: string }) => e.responseCode === 554 && /5\.7\.1 Message refused: virus found \(.+\) \[[0-9a-v]{16}\]/.test(e.response ?? ''),
    );
    assert.deepEqual(await node.landed('bob@example.test', m.token), []);
  });

  test('clean mail from an authenticated user is scanned for viruses only, and delivered', async () => {
    const m = message({ from: 'alice@example.test', to: 'bob@example.test', subject: 'agenda', body: 'Agenda for Monday attached.' });
    const info = await transport().sendMail({ envelope: { from: 'alice@example.test', to: ['bob@example.test'] }, raw: m.text });
    assert.match(info.response, /^250 /);
    const [landed] = await node.landed('bob@example.test', m.token);
    assert.equal(landed?.folder, 'INBOX');
    assert.match(landed.body, /^X-Virus-Scanned: clamd; clean\r$/m);
    assert.doesNotMatch(landed.body, /^Authentication-Results:/m);
    assert.deepEqual(landed.filter?.['dnsbl'], []);
    assert.equal(landed.filter?.['auth'], null);
  });
});
