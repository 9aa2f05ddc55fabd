// The washer end to end with real daemons: spamd, clamd and dnsmasq on loopback, a node built as `stormo up` builds it.
// Proves the three outcomes (INBOX, Junk, 5xx with a tracking id), SPF/DKIM/DMARC, DNSBL, allow/block lists.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sealMessage } from 'mailauth';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { eicar, eicarSignature, missing, startClamd, startDnsmasq, startSpamd, type Daemon } from './daemons.ts';
import { dkimKey, message, replyLine, signed, startWasherNode, testZone, unfold, type WasherNode } from './node.ts';

const skip = missing('spamd', 'clamd', 'dnsmasq');
const tempDir = scratchDirs('stormo-washer-');
const gtube = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
/** A local SpamAssassin rule scoring 7: between the junk (5) and reject (15) thresholds. */
const junkMarker = 'stormo-probable-spam-marker';

describe('washer with spamd, clamd and dnsmasq', { skip, timeout: 120_000 }, () => {
  const daemons: Daemon[] = [];
  let node: WasherNode;
  let key: { privateKey: string; record: string };

  before(async () => {
    key = dkimKey();
    const dir = await tempDir();
    const dns = await startDnsmasq(`${dir}/dns`, testZone(key.record));
    daemons.push(dns);
    const [spamd, clamd] = await Promise.all([
      startSpamd(`${dir}/spamd`, { localCf: `body STORMO_PROBABLE /${junkMarker}/\nscore STORMO_PROBABLE 7.0\n` }),
      startClamd(`${dir}/clamd`),
    ]);
    daemons.push(spamd, clamd);
    console.log(`# startup: dnsmasq ${dns.startupMs} ms, spamd ${spamd.startupMs} ms, clamd ${clamd.startupMs} ms`);
    node = await startWasherNode(`${dir}/node`, {
      filter: {
        dnsServers: [`127.0.0.1:${dns.port}`],
        spam: { engine: 'spamd', spamd: { host: '127.0.0.1', port: spamd.port }, timeoutMs: 8000 },
        antivirus: { engine: 'clamd', clamd: { host: '127.0.0.1', port: clamd.port }, timeoutMs: 5000 },
        dnsbl: [{ zone: 'bl.test', weight: 3, action: 'reject' }],
      },
      domains: {
        'example.test': { dnsblAction: 'off' },
        'strict.test': undefined,
        'scored.test': { dnsblAction: 'score' },
      },
      users: {
        'alice@example.test': undefined,
        'bob@example.test': { allow: ['friend.test'], block: ['pest.test'] },
        'carol@scored.test': undefined,
        'dave@strict.test': undefined,
      },
    });
  });

  after(async () => {
    await node?.stop();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  test('GTUBE is refused with 554 5.7.1 and a tracking id, and stored nowhere', async () => {
    const m = message({ from: 'someone@sender.test', to: 'alice@example.test', subject: 'gtube', body: gtube });
    const r = await node.send('someone@sender.test', ['alice@example.test'], m.text);
    assert.equal(r.stage, 'data');
    assert.equal(`${r.reply.code} ${r.reply.enhanced}`, '554 5.7.1', replyLine(r.reply));
    const id = /\[([0-9a-v]{16})\]$/.exec(replyLine(r.reply))?.[1];
    assert.ok(id, `a tracking id in: ${replyLine(r.reply)}`);
    const refused = node.logger.events('message.refused').find((e) => e['id'] === id);
    assert.ok(refused, 'the refusal is logged under that id');
    const record = refused['filter'] as Record<string, unknown>;
    assert.equal(record['outcome'], 'reject');
    assert.ok((record['score'] as number) >= 15, `GTUBE scores past the reject threshold, got ${record['score']}`);
    assert.ok(((record['spam'] as { rules: string[] }).rules).includes('GTUBE'));
    assert.deepEqual(await node.landed('alice@example.test', m.token), []);
  });

  test('a message scoring between the thresholds lands in Junk with headers saying why', async () => {
    const m = message({ from: 'news@sender.test', to: 'alice@example.test', subject: 'probably spam', body: `Hello, ${junkMarker} inside.` });
    const r = await node.send('news@sender.test', ['alice@example.test'], await signed(m.text, key.privateKey));
    assert.equal(r.reply.code, 250, replyLine(r.reply));
    const [landed, ...more] = await node.landed('alice@example.test', m.token);
    assert.equal(more.length, 0);
    assert.equal(landed?.folder, 'Junk');
    assert.match(unfold(landed.body), /^X-Spam-Status: Yes, score=\d+\.\d required=5\.0 tests=[^\r]*STORMO_PROBABLE/m);
    assert.match(landed.body, /^X-Spam-Flag: YES\r$/m);
    assert.match(landed.body, /^X-Spam-Reason: score [\d.]+ >= 5\r$/m);
    assert.equal(landed.filter?.['outcome'], 'junk');
    const score = landed.filter?.['score'] as number;
    assert.ok(score >= 5 && score < 15, `score ${score} between the thresholds`);
  });

  test('an EICAR attachment is refused with 554 5.7.1 naming the virus', async () => {
    const boundary = 'b-stormo-1';
    const body = [
      `--${boundary}`,
      'Content-Type: text/plain',
      '',
      'See attached.',
      `--${boundary}`,
      'Content-Type: application/octet-stream; name="eicar.com"',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="eicar.com"',
      '',
      Buffer.from(eicar).toString('base64'),
      `--${boundary}--`,
    ].join('\r\n');
    const m = message({ from: 'x@sender.test', to: 'alice@example.test', subject: 'invoice', body, extraHeaders: `Content-Type: multipart/mixed; boundary="${boundary}"` });
    const text = m.text.replace('Content-Type: text/plain; charset=us-ascii\r\n', '');
    const r = await node.send('x@sender.test', ['alice@example.test'], text);
    assert.equal(`${r.reply.code} ${r.reply.enhanced}`, '554 5.7.1', replyLine(r.reply));
    assert.match(replyLine(r.reply), new RegExp(`virus found \\(${eicarSignature}[^)]*\\) \\[[0-9a-v]{16}\\]`));
    assert.deepEqual(await node.landed('alice@example.test', m.token), []);
  });

  test('clean DKIM-signed mail from an SPF+DKIM+DMARC domain lands in INBOX with dkim=pass spf=pass dmarc=pass', async () => {
    const m = message({ from: 'Ann <ann@sender.test>', to: 'alice@example.test', subject: 'Lunch on Thursday', body: 'Shall we meet at noon by the fountain?\r\nAnn' });
    const r = await node.send('ann@sender.test', ['alice@example.test'], await signed(m.text, key.privateKey));
    assert.equal(r.reply.code, 250, replyLine(r.reply));
    const [landed] = await node.landed('alice@example.test', m.token);
    assert.equal(landed?.folder, 'INBOX');
    const ar = /^Authentication-Results: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*/m.exec(landed.body)?.[0] ?? '';
    assert.match(ar, /^Authentication-Results: mx\.stormo\.test;/);
    for (const r of ['dkim=pass', 'spf=pass', 'dmarc=pass']) assert.ok(ar.includes(r), `${r} in ${ar}`);
    assert.match(landed.body, /^X-Spam-Status: No, score=/m);
    assert.match(landed.body, /^X-Virus-Scanned: clamd; clean\r$/m);
    // The washer's fields sit after Return-Path and above our Received (RFC 8601 §5).
    assert.ok(landed.body.startsWith('Return-Path: <ann@sender.test>\r\n'));
    assert.ok(landed.body.indexOf('Authentication-Results:') < landed.body.indexOf('Received: from'));
    const rec = landed.filter as Record<string, unknown>;
    assert.deepEqual(rec['auth'], { spf: 'pass', dkim: 'pass', dmarc: 'pass', dmarcPolicy: null, arc: 'none', fromDomain: 'sender.test' });
    assert.equal(rec['outcome'], 'inbox');
    assert.deepEqual((rec['client'] as Record<string, unknown>)['reasons'], []);
  });

  test('an ARC-sealed forwarded message is verified: arc=pass in Authentication-Results and the record', async () => {
    const m = message({ from: 'ann@sender.test', to: 'alice@example.test', subject: 'Forwarded note', body: 'Passed along by the list.' });
    const dkimSigned = await signed(m.text, key.privateKey);
    const seal = await sealMessage(dkimSigned, { signingDomain: 'sender.test', selector: 'sel', privateKey: key.privateKey, cv: 'none', authResults: 'list.sender.test; dkim=pass header.d=sender.test' });
    const r = await node.send('ann@sender.test', ['alice@example.test'], Buffer.concat([seal, dkimSigned]));
    assert.equal(r.reply.code, 250, replyLine(r.reply));
    const [landed] = await node.landed('alice@example.test', m.token);
    assert.match(unfold(landed?.body ?? ''), /^Authentication-Results: [^\r]*arc=pass/m);
    assert.equal((landed?.filter?.['auth'] as { arc: string }).arc, 'pass');
  });

  test('a spoofed From under DMARC p=reject is refused with 550 5.7.1', async () => {
    const m = message({ from: 'CEO <ceo@bank.test>', to: 'alice@example.test', subject: 'Urgent transfer', body: 'Please wire the money today.' });
    const r = await node.send('ceo@bank.test', ['alice@example.test'], m.text);
    assert.equal(`${r.reply.code} ${r.reply.enhanced}`, '550 5.7.1', replyLine(r.reply));
    assert.match(replyLine(r.reply), /DMARC policy of bank\.test is reject \[[0-9a-v]{16}\]$/);
    assert.deepEqual(await node.landed('alice@example.test', m.token), []);
  });

  test('DMARC p=quarantine failing mail goes to Junk', async () => {
    const m = message({ from: 'billing@soft.test', to: 'alice@example.test', subject: 'Your invoice', body: 'Attached is nothing.' });
    const r = await node.send('billing@soft.test', ['alice@example.test'], m.text);
    assert.equal(r.reply.code, 250, replyLine(r.reply));
    const [landed] = await node.landed('alice@example.test', m.token);
    assert.equal(landed?.folder, 'Junk');
    assert.equal(landed.filter?.['reason'], 'dmarc p=quarantine');
    assert.match(landed.body, /dmarc=fail/);
  });

  test('a DNSBL-listed client is refused 554 5.7.1 naming the list, or only scored where the domain says so', async () => {
    const m = message({ from: 'ann@sender.test', to: 'dave@strict.test', subject: 'hi', body: 'Hello Dave.' });
    const refused = await node.send('ann@sender.test', ['dave@strict.test'], await signed(m.text, key.privateKey));
    assert.equal(refused.stage, 'rcpt');
    assert.equal(`${refused.reply.code} ${refused.reply.enhanced}`, '554 5.7.1', replyLine(refused.reply));
    assert.match(replyLine(refused.reply), /client \[127\.0\.0\.1\] blocked using bl\.test/);

    const s = message({ from: 'ann@sender.test', to: 'carol@scored.test', subject: 'hi', body: 'Hello Carol.' });
    const scored = await node.send('ann@sender.test', ['carol@scored.test'], await signed(s.text, key.privateKey));
    assert.equal(scored.reply.code, 250, replyLine(scored.reply));
    const [landed] = await node.landed('carol@scored.test', s.token);
    assert.ok(landed);
    assert.deepEqual(landed.filter?.['dnsbl'], ['bl.test']);
    assert.match(unfold(landed.body), /^X-Spam-Status: [^\r]*DNSBL_bl\.test/m);
  });

  test("a user's allow list delivers to INBOX and block list refuses", async () => {
    const spammy = message({ from: 'pal@friend.test', to: 'bob@example.test', subject: 'hey', body: `${junkMarker} but from a friend` });
    const allowed = await node.send('pal@friend.test', ['bob@example.test'], spammy.text);
    assert.equal(allowed.reply.code, 250, replyLine(allowed.reply));
    assert.equal((await node.landed('bob@example.test', spammy.token))[0]?.folder, 'INBOX');

    const pest = message({ from: 'x@pest.test', to: 'bob@example.test', subject: 'hello', body: 'Nothing wrong here.' });
    const blocked = await node.send('x@pest.test', ['bob@example.test'], pest.text);
    assert.equal(`${blocked.reply.code} ${blocked.reply.enhanced}`, '554 5.7.1', replyLine(blocked.reply));
    assert.deepEqual(await node.landed('bob@example.test', pest.token), []);
  });

  test("one message to two recipients: each lands in the folder of that recipient's own policy", async () => {
    const m = message({ from: 'pal@friend.test', to: 'alice@example.test, bob@example.test', subject: 'both', body: `${junkMarker} to two people` });
    const sent = await node.send('pal@friend.test', ['alice@example.test', 'bob@example.test'], m.text);
    assert.equal(sent.reply.code, 250, replyLine(sent.reply));
    assert.equal((await node.landed('alice@example.test', m.token))[0]?.folder, 'Junk', 'alice has no allow list: junk by score');
    assert.equal((await node.landed('bob@example.test', m.token))[0]?.folder, 'INBOX', 'bob allows friend.test');
  });
});
