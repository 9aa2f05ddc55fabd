// Real client: curl's POP3 (libcurl) against the server: LIST, RETR, STLS with --ssl-reqd, implicit TLS
// with pop3s://, SASL PLAIN with and without an initial response, and a refused login.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { type Harness, messageOfSize, startHarness, testTls } from './helpers/harness.ts';

function curlProtocols(): string[] {
  try {
    const v = execFileSync('curl', ['--version'], { encoding: 'utf8', timeout: 5_000 });
    return /^Protocols: (.*)$/m.exec(v)?.[1]?.split(' ') ?? [];
  } catch {
    return [];
  }
}

const protocols = curlProtocols();
const skip = protocols.includes('pop3') && protocols.includes('pop3s') ? false : 'curl with pop3 and pop3s is not installed';

interface CurlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function curl(args: readonly string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '8', ...args], { encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const first = messageOfSize(150, 'curl one');
const second = messageOfSize(180, 'curl two');
let h: Harness;

before(async () => {
  if (skip !== false) return;
  h = await startHarness({ implicitTls: true });
  h.backend.addAccount('alice', 's3cret pass', [first, second]);
});
after(() => h?.close());

test('curl --version lists pop3 and pop3s', { skip }, () => {
  assert.ok(protocols.includes('pop3'));
  assert.ok(protocols.includes('pop3s'));
});

test('curl pop3:// without TLS: plaintext login refused before TLS (RFC 2595), nothing listed', { skip, timeout: 10_000 }, async () => {
  const r = await curl([`pop3://127.0.0.1:${h.port}/`, '-u', 'alice:s3cret pass']);
  assert.notEqual(r.code, 0, r.stdout);
  assert.equal(r.stdout, '');
});

test('curl --ssl-reqd: STLS, CAPA again, SASL PLAIN, LIST', { skip, timeout: 10_000 }, async () => {
  const r = await curl([`pop3://127.0.0.1:${h.port}/`, '--ssl-reqd', '--cacert', testTls().certPath, '-u', 'alice:s3cret pass']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '1 150\r\n2 180\r\n');
  const sessions = h.backend.sessions.filter((s) => s.secure);
  assert.equal(sessions.at(-1)?.mechanism, 'PLAIN');
});

test('curl --ssl-reqd pop3://.../2 retrieves message 2 byte for byte', { skip, timeout: 10_000 }, async () => {
  const r = await curl([`pop3://127.0.0.1:${h.port}/2`, '--ssl-reqd', '--cacert', testTls().certPath, '-u', 'alice:s3cret pass']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, second);
});

test('curl pop3s:// (implicit TLS, -k) with SASL initial response retrieves message 1', { skip, timeout: 10_000 }, async () => {
  const r = await curl([`pop3s://127.0.0.1:${h.tlsPort}/1`, '-k', '--sasl-ir', '-u', 'alice:s3cret pass']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, first);
});

test('curl with a wrong password fails with a login error and changes nothing', { skip, timeout: 10_000 }, async () => {
  const r = await curl([`pop3s://127.0.0.1:${h.tlsPort}/`, '-k', '-u', 'alice:wrong']);
  assert.equal(r.code, 67, `curl exit 67 is "login denied": ${r.stderr}`);
  assert.equal(h.backend.inbox('alice').length, 2);
});

test('curl -X DELE then QUIT removes the message', { skip, timeout: 10_000 }, async () => {
  h.backend.deliver('alice', messageOfSize(130, 'to delete'));
  const r = await curl([`pop3s://127.0.0.1:${h.tlsPort}/3`, '-k', '-u', 'alice:s3cret pass', '-X', 'DELE', '--no-progress-meter', '-I']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(h.backend.inbox('alice').length, 2);
  assert.deepEqual(h.backend.violations, []);
});
