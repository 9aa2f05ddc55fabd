// Failures behind the front end: full disk, quota, an unavailable or crashing store, internal errors, AUTH abuse.
// Each asserts the exact reply, that nothing is lost or half-stored, and that the server keeps serving.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { customReply } from '../../src/smtp/replies.ts';
import { certDirEnv, type Fixture, RawClient, startFixture, testCert } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await startFixture({ limits: { messageBytesMax: 8192, bufferedMessageBytesMax: 8192, deliverTimeoutMs: 1500 } });
});
after(async () => {
  await f.stop();
});

async function mx(port = f.ports.mx): Promise<RawClient> {
  const { client } = await RawClient.open(port);
  await client.command('EHLO client.example.net');
  return client;
}

const small = 'Subject: hello\r\n\r\nhi\r\n';

describe('full disk', () => {
  test('STORAGE_FULL: 452 4.3.1, nothing stored, and the next transaction on another connection succeeds', async () => {
    const before = f.backend.messages.length;
    f.backend.storageFullCalls = 1;
    const c1 = await mx();
    assert.equal(await c1.send('a@remote.example', ['alice@example.test'], small), '452 4.3.1 Insufficient system storage, try again later');
    assert.equal(f.backend.messages.length, before);
    const refused = f.logger.events('message.refused').at(-1);
    assert.equal(refused?.['reply'], '452 4.3.1 Insufficient system storage, try again later');
    assert.ok(typeof refused?.['id'] === 'string' && typeof refused['cid'] === 'string' && typeof refused['tnx'] === 'string');
    const c2 = await mx();
    assert.match(await c2.send('a@remote.example', ['alice@example.test'], small), /^250 2\.0\.0 Ok: stored as /);
    assert.equal(f.backend.messages.length, before + 1);
    // The first session is still usable too.
    assert.match(await c1.send('a@remote.example', ['alice@example.test'], small), /^250 /);
    c1.close();
    c2.close();
  });

  test('the in-memory budget spent: 452 4.3.1 for the message that would exceed it', async () => {
    let release = (): void => {};
    f.backend.deliverGate = new Promise<void>((r) => (release = r));
    const started = new Promise<void>((r) => (f.backend.onDeliverStart = r));
    const first = await mx();
    const held = `Subject: held\r\n\r\n${'h'.repeat(5000)}\r\n`;
    const firstReply = first.send('a@remote.example', ['alice@example.test'], held);
    await started; // its 5 kB stay reserved until the store answers
    f.backend.onDeliverStart = null;
    const second = await mx();
    assert.equal(await second.send('a@remote.example', ['bob@example.test'], `Subject: second\r\n\r\n${'s'.repeat(4000)}\r\n`), '452 4.3.1 Insufficient system storage, try again later');
    f.backend.deliverGate = null;
    release();
    assert.match(await firstReply, /^250 /);
    assert.match(await second.send('a@remote.example', ['bob@example.test'], small), /^250 /); // budget released
    first.close();
    second.close();
  });
});

describe('quota', () => {
  test('already over quota at RCPT: 552 5.2.2 for that recipient only', async () => {
    const carol = f.backend.accounts.get(f.carol);
    assert.ok(carol !== undefined);
    carol.usedBytes = 2000;
    const c = await mx();
    assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '250 2.1.0 Accepted');
    assert.equal(await c.command('RCPT TO:<carol@example.test>'), '552 5.2.2 Mailbox full');
    assert.equal(await c.command('RCPT TO:<alice@example.test>'), '250 2.1.5 Accepted');
    carol.usedBytes = 0;
    assert.equal(await c.command('RSET'), '250 2.0.0 Flushed');
    // The declared size would not fit: refused at RCPT as well (RFC 1870).
    assert.equal(await c.command('MAIL FROM:<a@remote.example> SIZE=2000'), '250 2.1.0 Accepted');
    assert.equal(await c.command('RCPT TO:<carol@example.test>'), '552 5.2.2 Mailbox full');
    c.close();
  });

  const bigger = `Subject: quota\r\n\r\n${'q'.repeat(1200)}\r\n`;

  test('the only recipient would go over at DATA: 552 5.2.2, nothing stored', async () => {
    const c = await mx();
    const before = f.backend.messagesFor(f.carol).length;
    assert.equal(await c.send('a@remote.example', ['carol@example.test'], bigger), '552 5.2.2 Mailbox full');
    assert.equal(f.backend.messagesFor(f.carol).length, before);
    c.close();
  });

  test('some recipients would go over at DATA: stored for all, quota exceeded once, logged', async () => {
    const c = await mx();
    const reply = await c.send('a@remote.example', ['carol@example.test', 'alice@example.test'], bigger);
    assert.match(reply, /^250 2\.0\.0 Ok: stored as /);
    const id = /stored as (\S+)/.exec(reply)?.[1];
    assert.equal(f.backend.messages.filter((m) => m.id === id).length, 2);
    const grace = f.logger.events('quota.grace').at(-1);
    assert.deepEqual(grace?.['overQuota'], [f.carol]);
    // From now on carol is refused at RCPT.
    assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '250 2.1.0 Accepted');
    assert.equal(await c.command('RCPT TO:<carol@example.test>'), '552 5.2.2 Mailbox full');
    c.close();
    const carol = f.backend.accounts.get(f.carol);
    if (carol !== undefined) carol.usedBytes = 0;
  });
});

describe('backend failures', () => {
  test('store unavailable: 451 4.3.0 at RCPT, logged as a warning, nothing internal echoed', async () => {
    const c = await mx();
    assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '250 2.1.0 Accepted');
    f.backend.unavailable = true;
    try {
      assert.equal(await c.command('RCPT TO:<alice@example.test>'), '451 4.3.0 Local error in processing, try again later');
    } finally {
      f.backend.unavailable = false;
    }
    assert.equal(f.logger.events('backend.unavailable').at(-1)?.['event'], 'backend.unavailable');
    assert.equal(await c.command('RCPT TO:<alice@example.test>'), '250 2.1.5 Accepted');
    c.close();
  });

  test('a delivery slower than deliverTimeoutMs: 451 4.3.0, and the session goes on', async () => {
    let release = (): void => {};
    f.backend.deliverGate = new Promise<void>((r) => (release = r));
    const c = await mx();
    try {
      assert.equal(await c.send('a@remote.example', ['bob@example.test'], small), '451 4.3.0 Local error in processing, try again later');
    } finally {
      f.backend.deliverGate = null;
      release();
    }
    assert.match(await c.send('a@remote.example', ['bob@example.test'], small), /^250 /);
    c.close();
  });

  test('no reply before the store is durable: a node dying mid-delivery leaves the client without one', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'crash-server.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, [certDirEnv]: testCert().dir },
    });
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const first = await lines.next();
      const port = Number(/^port (\d+)$/.exec(String(first.value))?.[1]);
      const c = await mx(port);
      for (const cmd of ['MAIL FROM:<a@remote.example>', 'RCPT TO:<alice@example.test>']) assert.match(await c.command(cmd), /^250 /);
      assert.equal(await c.command('DATA'), '354 End data with <CR><LF>.<CR><LF>');
      c.write(`${small}.\r\n`);
      assert.equal((await lines.next()).value, 'deliver');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(c.unread, ''); // the store has not answered: neither have we
      child.kill('SIGKILL');
      assert.ok(await c.closedWithin(5000));
      assert.equal(c.unread, ''); // no 250 ever arrived: the client keeps the message and retries
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
  });

  test('a hook that throws: 451 4.3.0, logged once with its cause, the text never echoed', async () => {
    const h = await startFixture({
      hooks: {
        onRcptTo: async () => {
          throw new Error('secret internal detail');
        },
      },
    });
    try {
      const c = await mx(h.ports.mx);
      assert.equal(await c.command('MAIL FROM:<a@remote.example>'), '250 2.1.0 Accepted');
      const reply = await c.command('RCPT TO:<alice@example.test>');
      assert.equal(reply, '451 4.3.0 Local error in processing, try again later');
      const errors = h.logger.entries.filter((e) => e.level === 'error');
      assert.equal(errors.length, 1);
      assert.equal((errors[0]?.fields['err'] as Error).message, 'secret internal detail');
      c.close();
    } finally {
      await h.stop();
    }
  });
});

describe('policy hooks', () => {
  test('onData rejects with its own 5xx, or files into Junk', async () => {
    const h = await startFixture({
      hooks: {
        onData: async (facts) => {
          const chunks: Buffer[] = [];
          for await (const c of facts.message) chunks.push(Buffer.from(c));
          const text = Buffer.concat(chunks).toString();
          if (text.includes('GTUBE')) return { action: 'reject', reply: customReply(554, '5.7.1', 'Message refused as spam') };
          return { action: 'accept', disposition: text.includes('probably') ? 'junk' : 'inbox' };
        },
      },
    });
    try {
      const c = await mx(h.ports.mx);
      assert.equal(await c.send('a@remote.example', ['alice@example.test'], 'Subject: GTUBE\r\n\r\nx\r\n'), '554 5.7.1 Message refused as spam');
      assert.equal(h.logger.events('message.refused').at(-1)?.['by'], 'policy');
      const junk = await c.send('a@remote.example', ['alice@example.test'], 'Subject: probably spam\r\n\r\nx\r\n');
      assert.equal(h.backend.messages.find((m) => junk.endsWith(m.id))?.disposition, 'junk');
      c.close();
    } finally {
      await h.stop();
    }
  });
});

describe('connect hook', () => {
  test('a refusal replaces the greeting; a failure becomes 421 4.3.0; both close the session', async () => {
    let mode: 'reject' | 'throw' = 'reject';
    const h = await startFixture({
      hooks: {
        onConnect: async () => {
          if (mode === 'throw') throw new Error('dnsbl resolver down');
          return { action: 'reject', reply: customReply(554, '5.7.1', 'Client host blocked using a DNS blocklist') };
        },
      },
    });
    try {
      const a = await RawClient.open(h.ports.mx);
      assert.equal(a.greeting, '554 5.7.1 Client host blocked using a DNS blocklist');
      assert.ok(await a.client.closedWithin(2000));
      mode = 'throw';
      const b = await RawClient.open(h.ports.mx);
      assert.equal(b.greeting, '421 4.3.0 Service temporarily unavailable, closing connection');
      assert.ok(await b.client.closedWithin(2000));
    } finally {
      await h.stop();
    }
  });
});

describe('AUTH abuse', () => {
  test('wrong passwords are delayed; past the per-address limit AUTH is refused with 421 4.7.0, even a right one', async () => {
    const h = await startFixture({ limits: { authFailureDelayMs: 150, authFailuresPerIpMax: 3 } });
    try {
      const { client: c } = await RawClient.open(h.ports.submissions, { tls: true });
      await c.command('EHLO client.example.net');
      const wrong = Buffer.from('\0alice\0wrong').toString('base64');
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        assert.equal(await c.command(`AUTH PLAIN ${wrong}`), '535 5.7.8 Authentication credentials invalid');
        assert.ok(performance.now() - t0 >= 140, 'failure answered without the delay');
      }
      const right = Buffer.from('\0alice\0alice-secret').toString('base64');
      assert.equal(await c.command(`AUTH PLAIN ${right}`), '421 4.7.0 Too many failed authentications from your address, try again later');
      assert.ok(await c.closedWithin(2000));
      const { client: d } = await RawClient.open(h.ports.submissions, { tls: true });
      await d.command('EHLO client.example.net');
      assert.equal(await d.command(`AUTH PLAIN ${right}`), '421 4.7.0 Too many failed authentications from your address, try again later');
      assert.equal(h.logger.events('auth.failed').length, 3);
      assert.ok(!JSON.stringify(h.logger.entries).includes('alice-secret'));
    } finally {
      await h.stop();
    }
  });

  test('PLAIN asking to act as another identity (authzid) is refused', async () => {
    const { client: c } = await RawClient.open(f.ports.submissions, { tls: true });
    await c.command('EHLO client.example.net');
    const token = Buffer.from('bob@example.test\0alice\0alice-secret').toString('base64');
    assert.equal(await c.command(`AUTH PLAIN ${token}`), '535 5.7.8 Authentication credentials invalid');
    c.close();
  });

  test('submission: commands before AUTH are limited (421 4.7.0)', async () => {
    const { client: c } = await RawClient.open(f.ports.submissions, { tls: true });
    for (let i = 0; i < 10; i++) assert.match(await c.command('NOOP'), /^250 /);
    assert.equal(await c.command('NOOP'), '421 4.7.0 Too many commands before authentication, closing connection');
    assert.ok(await c.closedWithin(2000));
  });

  test('submissions 465: AUTH offered at once, no STARTTLS', async () => {
    const { client: c, greeting } = await RawClient.open(f.ports.submissions, { tls: true });
    assert.equal(greeting, '220 mx.example.test ESMTP stormo');
    const ehlo = (await c.command('EHLO client.example.net')).split('\r\n');
    assert.ok(ehlo.includes('250-AUTH PLAIN LOGIN'), ehlo.join(' | '));
    assert.ok(!ehlo.some((l) => l.includes('STARTTLS')));
    c.close();
  });

  test('submission: MAIL before AUTH (after STARTTLS) is 530 5.7.0', async () => {
    const { client: c } = await RawClient.open(f.ports.submission);
    await c.command('EHLO client.example.net');
    assert.equal(await c.startTls(), '220 2.0.0 Ready to start TLS');
    assert.match(await c.command('EHLO client.example.net'), /250-AUTH PLAIN LOGIN/);
    assert.equal(await c.command('MAIL FROM:<alice@example.test>'), '530 5.7.0 Authentication required');
    c.close();
  });
});
