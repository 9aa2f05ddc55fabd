// Unit tests of the SMTP front end's pure parts: replies, trace headers, data normalisation, admission, config.
// No sockets here; the listener tests are in the other files of this folder.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthFailureTracker, ByteBudget, ConnectionCounter } from '../../src/smtp/admission.ts';
import { validateSmtpConfig } from '../../src/smtp/config.ts';
import { SmtpConfigError } from '../../src/smtp/errors.ts';
import { defaultSmtpLimits } from '../../src/smtp/limits.ts';
import { DataNormalizer } from '../../src/smtp/message-data.ts';
import { printableHelo, rfc5322Date, traceHeaders } from '../../src/smtp/received.ts';
import { carriesEnhancedCode, customReply, deliveredReply, formatReply, replies } from '../../src/smtp/replies.ts';

describe('replies', () => {
  test('every named reply has an enhanced code of its own class (RFC 3463 §3.1)', () => {
    for (const [name, r] of Object.entries(replies)) {
      assert.equal(r.enhanced[0], String(r.code)[0], name);
      assert.ok(carriesEnhancedCode(`${r.enhanced} ${r.text}`), name);
    }
  });

  test('the issue-mandated codes', () => {
    assert.equal(formatReply(replies.unknownRecipient), '550 5.1.1 Recipient address rejected: user unknown');
    assert.equal(formatReply(replies.messageTooBig), '552 5.3.4 Message size exceeds fixed maximum message size');
    assert.equal(formatReply(replies.storageFull).slice(0, 9), '452 4.3.1');
    assert.equal(formatReply(replies.mailboxFull), '552 5.2.2 Mailbox full');
    assert.equal(formatReply(replies.senderNotOwned).slice(0, 9), '553 5.7.1');
    assert.equal(formatReply(replies.localError).slice(0, 9), '451 4.3.0');
    assert.equal(formatReply(deliveredReply('abc')), '250 2.0.0 Ok: stored as abc');
  });

  test('malformed replies are refused', () => {
    assert.throws(() => customReply(550, '4.1.1', 'class mismatch'));
    assert.throws(() => customReply(550, '5.1', 'short'));
    assert.throws(() => customReply(650, '5.1.1', 'code'));
    assert.throws(() => customReply(550, '5.1.1', 'two\r\nlines'));
    assert.equal(carriesEnhancedCode('Error: command not recognized'), false);
    assert.equal(carriesEnhancedCode('5.7.1 x'), true);
  });
});

describe('trace headers', () => {
  test('RFC 5322 date in UTC with a two-digit day', () => {
    assert.equal(rfc5322Date(Date.UTC(2024, 10, 5, 9, 3, 7)), 'Tue, 05 Nov 2024 09:03:07 +0000');
    assert.equal(rfc5322Date(Date.UTC(2000, 0, 31, 23, 59, 59)), 'Mon, 31 Jan 2000 23:59:59 +0000');
  });

  const base = {
    mailFrom: 'a@x.test',
    helo: 'client.x.test',
    clientHostname: 'mail.x.test',
    remoteAddress: '192.0.2.1',
    tls: null,
    byHostname: 'mx.y.test',
    protocol: 'ESMTP',
    tnx: 'cid.1',
    recipients: ['b@y.test'],
    dateMs: Date.UTC(2024, 10, 5, 9, 3, 7),
  };

  test('one recipient: the for clause, no TLS line', () => {
    assert.equal(
      traceHeaders(base),
      'Return-Path: <a@x.test>\r\n' +
        'Received: from client.x.test (mail.x.test [192.0.2.1])\r\n' +
        '\tby mx.y.test (stormo) with ESMTP id cid.1\r\n' +
        '\tfor <b@y.test>; Tue, 05 Nov 2024 09:03:07 +0000\r\n',
    );
  });

  test('several recipients: no for clause; TLS cipher; IPv6 literal; null sender; unknown rDNS', () => {
    const h = traceHeaders({
      ...base,
      mailFrom: '',
      clientHostname: null,
      remoteAddress: '2001:db8::1',
      tls: { version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
      protocol: 'ESMTPSA',
      recipients: ['b@y.test', 'c@y.test'],
    });
    assert.equal(
      h,
      'Return-Path: <>\r\n' +
        'Received: from client.x.test (unknown [IPv6:2001:db8::1])\r\n' +
        '\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256)\r\n' +
        '\tby mx.y.test (stormo) with ESMTPSA id cid.1; Tue, 05 Nov 2024 09:03:07 +0000\r\n',
    );
  });

  test('a hostile HELO cannot break the header', () => {
    assert.equal(printableHelo('evil)\r\nX-Injected: 1'), 'evil???X-Injected:?1');
    assert.equal(printableHelo('[192.0.2.1]'), '[192.0.2.1]');
    assert.equal(printableHelo(''), 'unknown');
  });
});

describe('DataNormalizer', () => {
  const run = (chunks: string[]): { out: string; n: DataNormalizer } => {
    const n = new DataNormalizer();
    const out = chunks.map((c) => Buffer.from(n.push(Buffer.from(c, 'latin1'))).toString('latin1')).join('');
    return { out, n };
  };

  test('CRLF passes untouched (the same buffer)', () => {
    const n = new DataNormalizer();
    const b = Buffer.from('a\r\nb\r\n');
    assert.equal(n.push(b), b);
    assert.equal(n.bareLfCount, 0);
  });

  test('bare LF becomes CRLF, also when CR and LF are split across chunks', () => {
    const { out, n } = run(['a\nb\r', '\nc\n', '\n']);
    assert.equal(out, 'a\r\nb\r\nc\r\n\r\n');
    assert.equal(n.bareLfCount, 3);
    assert.equal(n.outputBytes, out.length);
  });

  test('bare CR is content', () => {
    const { out, n } = run(['a\rb\r\n']);
    assert.equal(out, 'a\rb\r\n');
    assert.equal(n.longestLineBytes, 3);
  });

  test('longest line excludes the line ending, across chunks', () => {
    const { n } = run(['abc', 'defg\r', '\nxy\r\n']);
    assert.equal(n.longestLineBytes, 7);
    const { n: m } = run(['12345\n1\r\n']);
    assert.equal(m.longestLineBytes, 5);
  });
});

describe('admission', () => {
  test('connections per address', () => {
    const c = new ConnectionCounter();
    assert.ok(c.tryAcquire('a', 2));
    assert.ok(c.tryAcquire('a', 2));
    assert.equal(c.tryAcquire('a', 2), false);
    assert.ok(c.tryAcquire('b', 2));
    c.release('a');
    assert.ok(c.tryAcquire('a', 2));
    c.release('a');
    c.release('a');
    assert.equal(c.count('a'), 0);
  });

  test('auth failures: sliding window, bounded memory', () => {
    const t = new AuthFailureTracker({ windowMs: 1000, perAddressMax: 3, trackedMax: 2 });
    t.recordFailure('a', 0);
    t.recordFailure('a', 100);
    assert.equal(t.blocked('a', 200), false);
    t.recordFailure('a', 200);
    assert.ok(t.blocked('a', 300));
    assert.equal(t.blocked('a', 1050), false); // the first failure left the window
    t.recordFailure('b', 1100);
    t.recordFailure('c', 1100); // 'a' is the least recently failing: forgotten
    t.recordFailure('a', 1101);
    assert.equal(t.blocked('a', 1102), false);
  });

  test('byte budget', () => {
    const b = new ByteBudget(10);
    assert.ok(b.tryReserve(6));
    assert.equal(b.tryReserve(5), false);
    b.release(6);
    assert.ok(b.tryReserve(10));
    assert.throws(() => b.release(11));
  });
});

describe('config', () => {
  const ok = { hostname: 'mx.example.test', listeners: { mx: { port: 0 } } };

  test('defaults', () => {
    const c = validateSmtpConfig(ok);
    assert.equal(c.bindAddress, '127.0.0.1');
    assert.equal(c.reverseDns, true);
    assert.deepEqual(c.limits, defaultSmtpLimits);
    assert.deepEqual(c.listeners, [{ kind: 'mx', port: 0, trustedProxies: null }]);
  });

  test('impossible combinations are refused with a typed error', () => {
    const bad = [
      { ...ok, hostname: 'not a host' },
      { ...ok, bindAddress: 'localhost' },
      { ...ok, listeners: {} },
      { ...ok, listeners: { submission: { port: 587 } } }, // submission without TLS
      { ...ok, listeners: { mx: { port: 25 }, submissions: { port: 25 } }, tls: { key: 'k', cert: 'c' } },
      { ...ok, listeners: { mx: { port: 70000 } } },
      { ...ok, listeners: { mx: { port: 25, proxyProtocol: { trustedProxies: ['haproxy'] } } } },
      { ...ok, limits: { commandLineBytesMax: 100 } },
      { ...ok, limits: { dataLineBytesMax: 500 } },
      { ...ok, limits: { messageBytesMax: 1.5e6 + 0.5 } },
      { ...ok, limits: { messageBytesMax: 2048, bufferedMessageBytesMax: 1024 } },
    ];
    for (const c of bad) assert.throws(() => validateSmtpConfig(c), SmtpConfigError, JSON.stringify(c));
  });
});
