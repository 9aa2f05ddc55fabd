// The admin API's washer settings: PUT/GET/DELETE /v1/domains/:name/filter and /v1/users/:address/filter,
// validated by src/filter's schemas, and obeyed by the washer on the next message.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { buildAdmin } from '../../src/admin/server.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { message, replyLine, startWasherNode, type WasherNode } from './node.ts';

const tempDir = scratchDirs('stormo-washer-admin-');
const token = 'admin-test-token';

describe('admin routes for washer settings', { timeout: 60_000 }, () => {
  let node: WasherNode;
  let admin: Awaited<ReturnType<typeof buildAdmin>>;
  const call = async (method: 'GET' | 'PUT' | 'DELETE', url: string, payload?: unknown) => {
    const r = await admin.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: r.statusCode, body: r.body === '' ? null : (r.json() as Record<string, unknown>) };
  };

  before(async () => {
    // No daemons: the washer runs its policy on settings alone (no engine, no DNS checks).
    node = await startWasherNode(await tempDir(), {
      filter: { auth: { enabled: false }, client: { enabled: false } },
      domains: { 'example.test': undefined },
      users: { 'alice@example.test': undefined },
    });
    admin = await buildAdmin({ store: node.store, token, logger: pino({ level: 'silent' }) });
  });

  after(async () => {
    await admin?.close();
    await node?.stop();
  });

  test('domain settings: set, read back, refuse nonsense, remove', async () => {
    assert.deepEqual(await call('GET', '/v1/domains/example.test/filter'), { status: 200, body: { filter: null } });
    const put = await call('PUT', '/v1/domains/example.test/filter', { junkScore: 4, rejectScore: 12, dnsblAction: 'score', block: ['Spam.Example'] });
    assert.equal(put.status, 200);
    assert.deepEqual((await call('GET', '/v1/domains/example.test/filter')).body, { filter: { junkScore: 4, rejectScore: 12, dnsblAction: 'score', block: ['spam.example'] } });
    const bad = await call('PUT', '/v1/domains/example.test/filter', { junkScore: 9, rejectScore: 3 });
    assert.equal(bad.status, 400);
    assert.match(String((bad.body?.['error'] as { message: string }).message), /rejectScore must be >= junkScore/);
    assert.equal((await call('PUT', '/v1/domains/example.test/filter', { surprise: true })).status, 400);
    assert.equal((await call('GET', '/v1/domains/nowhere.test/filter')).status, 404);
    assert.equal((await call('DELETE', '/v1/domains/example.test/filter')).status, 204);
    assert.deepEqual((await call('GET', '/v1/domains/example.test/filter')).body, { filter: null });
  });

  test('a user block list set through the API refuses that sender at the next message; removing it lets mail in', async () => {
    assert.equal((await call('PUT', '/v1/users/alice@example.test/filter', { block: ['@pest.test'], junkScore: 3 })).status, 200);
    assert.deepEqual((await call('GET', '/v1/users/alice@example.test/filter')).body, { filter: { block: ['@pest.test'], junkScore: 3 } });
    const m = message({ from: 'x@pest.test', to: 'alice@example.test', subject: 'hi', body: 'hello' });
    const refused = await node.send('x@pest.test', ['alice@example.test'], m.text);
    assert.match(replyLine(refused.reply), /^554 5\.7\.1 Message refused: sender blocked by the recipient \[[0-9a-v]{16}\]$/);
    assert.equal((await call('DELETE', '/v1/users/alice@example.test/filter')).status, 204);
    const again = await node.send('x@pest.test', ['alice@example.test'], m.text);
    assert.equal(again.reply.code, 250, replyLine(again.reply));
    assert.equal((await node.landed('alice@example.test', m.token))[0]?.folder, 'INBOX');
    assert.equal((await call('GET', '/v1/users/nobody@example.test/filter')).status, 404);
  });
});
