// The MX listener against a raw socket client: limits, malformed and pipelined input, bare LF, 8-bit data, PROXY.
// Every reply is asserted exactly; small limits keep the payloads small.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Fixture, RawClient, startFixture } from './helpers.ts';

const limits = {
  messageBytesMax: 4096,
  recipientsPerMessageMax: 3,
  commandLineBytesMax: 600,
  dataLineBytesMax: 1000,
  connectionsPerIpMax: 4,
  unrecognizedCommandsMax: 3,
};

let f: Fixture;
before(async () => {
  f = await startFixture({ limits });
});
after(async () => {
  await f.stop();
});

async function mx(): Promise<RawClient> {
  const { client, greeting } = await RawClient.open(f.ports.mx);
  assert.equal(greeting, '220 mx.example.test ESMTP stormo');
  assert.match(await client.command('EHLO client.example.net'), /^250-mx\.example\.test /);
  return client;
}

/** The stored copy for `account` of the message the 250 reply names, without our two trace headers. */
function storedData(reply: string, account: string): string {
  const id = /stored as (\S+)/.exec(reply)?.[1];
  const m = f.backend.messages.find((x) => x.id === id && x.accountId === account);
  assert.ok(m !== undefined, `nothing stored for ${reply}`);
  const s = m.content.toString('latin1');
  // Return-Path, then Received: its continuation lines start with a tab.
  const lines = s.split('\r\n');
  let i = 2;
  while (lines[i]?.startsWith('\t')) i++;
  assert.ok(lines[0]?.startsWith('Return-Path: <') && lines[1]?.startsWith('Received: from '));
  return lines.slice(i).join('\r\n');
}

describe('SIZE (RFC 1870)', () => {
  test('declared at MAIL FROM over the limit: 552 5.3.4', async () => {
    const c = await mx();
    assert.equal(await c.command('MAIL FROM:<a@remote.example> SIZE=4097'), '552 5.3.4 Error: message exceeds fixed maximum message size 4096');
    assert.equal(await c.command('MAIL FROM:<a@remote.example> SIZE=4096'), '250 2.1.0 Accepted');
    c.close();
  });

  test('over the limit during DATA: 552 5.3.4 after the final dot, nothing stored, the session goes on', async () => {
    const c = await mx();
    const before = f.backend.messages.length;
    const big = `Subject: big\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(80);
    assert.equal(await c.send('a@remote.example', ['alice@example.test'], big), '552 5.3.4 Message size exceeds fixed maximum message size');
    assert.equal(f.backend.messages.length, before);
    assert.match(await c.send('a@remote.example', ['alice@example.test'], 'Subject: small\r\n\r\nok\r\n'), /^250 2\.0\.0 Ok: stored as /);
    const refused = f.logger.events('message.refused').find((e) => e['reply'] === '552 5.3.4 Message size exceeds fixed maximum message size');
    assert.ok(refused !== undefined && typeof refused['cid'] === 'string' && typeof refused['tnx'] === 'string' && 'id' in refused);
    c.close();
  });
});

describe('recipients', () => {
  test('unknown user 550 5.1.1; foreign domain 550 5.7.1; case-insensitive; domainless postmaster', async () => {
    const c = await mx();
    assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '250 2.1.0 Accepted');
    assert.equal(await c.command('RCPT TO:<nobody@example.test>'), '550 5.1.1 Recipient address rejected: user unknown');
    assert.equal(await c.command('RCPT TO:<someone@gmail.example>'), '550 5.7.1 Relay access denied');
    assert.equal(await c.command('RCPT TO:<Alice@EXAMPLE.test>'), '250 2.1.5 Accepted');
    assert.equal(await c.command('RCPT TO:<postmaster>'), '250 2.1.5 Accepted');
    const refused = f.logger.events('rcpt.refused').filter((e) => e['rcpt'] === 'nobody@example.test');
    assert.equal(refused.length, 1);
    c.close();
  });

  test('too many recipients: 452 4.5.3, the accepted ones still get the message', async () => {
    const c = await mx();
    assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '250 2.1.0 Accepted');
    for (const r of ['alice@example.test', 'bob@example.test', 'carol@example.test']) assert.equal(await c.command(`RCPT TO:<${r}>`), '250 2.1.5 Accepted');
    assert.equal(await c.command('RCPT TO:<team@example.test>'), '452 4.5.3 Error: too many recipients');
    assert.equal(await c.command('DATA'), '354 End data with <CR><LF>.<CR><LF>');
    c.write('Subject: three\r\n\r\nhi\r\n.\r\n');
    const reply = await c.reply();
    for (const a of [f.alice, f.bob, f.carol]) assert.equal(storedData(reply, a), 'Subject: three\r\n\r\nhi\r\n');
    c.close();
  });
});

describe('malformed input', () => {
  test('each malformed command gets its reply and the session survives', async () => {
    const { client: c } = await RawClient.open(f.ports.mx);
    assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '503 5.5.1 Error: send HELO/EHLO first');
    assert.equal(await c.command('EHLO'), '501 Error: syntax: EHLO hostname');
    assert.match(await c.command('EHLO client.example.net'), /^250-/);
    assert.equal(await c.command('RCPT TO:<alice@example.test>'), '503 5.5.1 Error: need MAIL command');
    assert.equal(await c.command('DATA'), '503 5.5.1 Error: need RCPT command');
    assert.equal(await c.command('MAIL FROM:a@remote.example'), '501 5.1.7 Error: Bad sender address syntax');
    assert.equal(await c.command('MAIL FROM:<a@remote.example> SIZE=big'), '501 5.5.4 Error: Bad message size syntax');
    assert.equal(await c.command('MAIL FROM:<a@remote.example> BODY=BINARYMIME'), '501 5.5.4 Invalid BODY parameter value. Must be 7BIT or 8BITMIME');
    assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '250 2.1.0 Accepted');
    assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '503 5.5.1 Error: nested MAIL command');
    assert.equal(await c.command('RCPT TO:<>'), '501 5.1.3 Error: Bad recipient address syntax');
    assert.equal(await c.command('RCPT TO:<a..b@example.test>'), '501 5.1.3 Error: Bad recipient address syntax');
    assert.equal(await c.command('AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=='), '500 5.5.2 Error: command not recognized');
    assert.equal(await c.command('RSET'), '250 2.0.0 Flushed');
    assert.equal(await c.command('QUIT'), '221 2.0.0 Bye');
    assert.ok(await c.closedWithin(2000));
  });

  test('a command line over the limit: 421 4.7.0 and the connection is closed', async () => {
    const c = await mx();
    c.write(`RCPT TO:<${'a'.repeat(700)}@example.test>\r\n`);
    assert.equal(await c.reply(), '421 4.7.0 Line too long, closing connection');
    assert.ok(await c.closedWithin(2000));
  });

  test('unrecognized commands: 500 5.5.2 up to the limit, then 421 4.7.0 and close', async () => {
    const c = await mx();
    for (let i = 0; i < limits.unrecognizedCommandsMax; i++) assert.equal(await c.command(`XYZZY ${i}`), '500 5.5.2 Error: command not recognized');
    assert.equal(await c.command('XYZZY'), '421 4.7.0 Too many unrecognized commands, closing connection');
    assert.ok(await c.closedWithin(2000));
  });

  test('a data line over the limit: 554 5.6.0, nothing stored', async () => {
    const c = await mx();
    const before = f.backend.messages.length;
    assert.equal(await c.send('a@remote.example', ['alice@example.test'], `Subject: long\r\n\r\n${'y'.repeat(1001)}\r\n`), '554 5.6.0 Message contains a line too long (RFC 5322 2.1.1)');
    assert.match(await c.send('a@remote.example', ['alice@example.test'], `Subject: long\r\n\r\n${'y'.repeat(1000)}\r\n`), /^250 /);
    assert.equal(f.backend.messages.length, before + 1);
    c.close();
  });
});

describe('message data', () => {
  test('bare LF is stored as CRLF (Postfix "normalize"); only CRLF.CRLF ends DATA (no smuggling)', async () => {
    const c = await mx();
    const data = 'Subject: bare\n\nline one\nline two\r\nbefore\n.\nMAIL FROM:<evil@remote.example>\r\nafter\r\n';
    const reply = await c.send('a@remote.example', ['alice@example.test'], data);
    assert.match(reply, /^250 2\.0\.0 Ok: stored as /);
    assert.equal(storedData(reply, f.alice), 'Subject: bare\r\n\r\nline one\r\nline two\r\nbefore\r\n.\r\nMAIL FROM:<evil@remote.example>\r\nafter\r\n');
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK'); // nothing smuggled is waiting for a reply
    const logged = f.logger.events('message.accepted').find((e) => reply.endsWith(String(e['id'])));
    assert.equal(logged?.['bareLf'], 5);
    c.close();
  });

  test('a message of headers only, and an empty one, are accepted', async () => {
    const c = await mx();
    const headersOnly = await c.send('a@remote.example', ['alice@example.test'], 'Subject: only headers\r\nFrom: a@remote.example\r\n');
    assert.equal(storedData(headersOnly, f.alice), 'Subject: only headers\r\nFrom: a@remote.example\r\n');
    const empty = await c.send('', ['alice@example.test'], '');
    assert.equal(storedData(empty, f.alice), '');
    c.close();
  });

  test('8-bit data without BODY=8BITMIME is accepted and stored unchanged (as Postfix does)', async () => {
    const c = await mx();
    const body = Buffer.concat([Buffer.from('Subject: latin\r\n\r\n'), Buffer.from([0xe8, 0xe9, 0xff, 0x80]), Buffer.from('\r\n')]);
    const reply = await c.send('a@remote.example', ['bob@example.test'], body);
    assert.equal(storedData(reply, f.bob), body.toString('latin1'));
    c.close();
  });

  test('pipelining: many commands in one write, replies in order', async () => {
    const c = await mx();
    c.write('RSET\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n');
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await c.reply());
    assert.deepEqual(replies, [
      '250 2.0.0 Flushed',
      '250 2.1.0 Accepted',
      '250 2.1.5 Accepted',
      '550 5.1.1 Recipient address rejected: user unknown',
      '250 2.1.5 Accepted',
      '354 End data with <CR><LF>.<CR><LF>',
    ]);
    c.write('Subject: piped\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n');
    const done = await c.reply();
    assert.match(done, /^250 2\.0\.0 Ok: stored as /);
    assert.equal(await c.reply(), '250 2.0.0 OK');
    assert.equal(await c.reply(), '221 2.0.0 Bye');
    assert.equal(storedData(done, f.bob), 'Subject: piped\r\n\r\nbody\r\n');
  });
});

describe('connections', () => {
  test('per-address limit: 421 4.7.0 past it, admitted again once one closes', async () => {
    const open: RawClient[] = [];
    for (let i = 0; i < limits.connectionsPerIpMax; i++) open.push((await RawClient.open(f.ports.mx)).client);
    const { client: extra, greeting } = await RawClient.open(f.ports.mx);
    assert.equal(greeting, '421 4.7.0 Too many connections from your address, try again later');
    assert.ok(await extra.closedWithin(2000));
    assert.equal(await open.pop()?.command('QUIT'), '221 2.0.0 Bye');
    let admitted = '';
    for (let i = 0; i < 50 && !admitted.startsWith('220'); i++) {
      const { client, greeting: g } = await RawClient.open(f.ports.mx);
      admitted = g;
      client.close();
      if (!g.startsWith('220')) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(admitted, '220 mx.example.test ESMTP stormo');
    for (const c of open) c.close();
  });
});

describe('PROXY protocol v1 (HAProxy send-proxy)', () => {
  test('the client address from the header is used for Received and logs', async () => {
    const p = await startFixture({ config: { listeners: { mx: { port: 0, proxyProtocol: { trustedProxies: ['127.0.0.1'] } } } } });
    try {
      const { client, greeting } = await RawClient.open(p.ports.mx, { preamble: 'PROXY TCP4 203.0.113.9 127.0.0.1 40000 25\r\n' });
      assert.equal(greeting, '220 mx.example.test ESMTP stormo');
      await client.command('EHLO relay.example.net');
      const reply = await client.send('a@remote.example', ['alice@example.test'], 'Subject: proxied\r\n\r\nhi\r\n');
      const id = /stored as (\S+)/.exec(reply)?.[1];
      const stored = p.backend.messages.find((m) => m.id === id)?.content.toString('latin1') ?? '';
      assert.match(stored, /^Return-Path: <a@remote\.example>\r\nReceived: from relay\.example\.net \(unknown \[203\.0\.113\.9\]\)\r\n/);
      assert.equal(p.logger.events('connect').at(-1)?.['remoteAddress'], '203.0.113.9');
      client.close();
    } finally {
      await p.stop();
    }
  });
});

test('the greeting comes at once, not after smtp-server\'s fixed 100 ms pause (greetingDelayMs 0)', async () => {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const { client, greeting } = await RawClient.open(f.ports.mx);
    times.push(performance.now() - t0);
    assert.match(greeting, /^220 /);
    client.close();
  }
  times.sort((a, b) => a - b);
  assert.ok(times[2]! < 50, `median connect-to-220 ${times[2]!.toFixed(1)} ms`);
});
