// Deployment files: `stormo init-cluster` writes founding members that validate and share one CA;
// cluster/haproxy.cfg is a configuration HAProxy accepts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/cli/config.ts';

const root = join(import.meta.dirname, '..', '..');
const stormo = (args: string[]) => spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'stormo.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
const exists = (p: string) => access(p).then(() => true, () => false);

test('init-cluster: three founders with one CA, the CA key on the first only, configs that validate', async () => {
  const out = await mkdtemp(join(tmpdir(), 'stormo-founders-'));
  try {
    const r = stormo(['init-cluster', '--nodes', 'n1=mail1.example.net,n2=mail2.example.net,n3=mail3.example.net', '--out', out, '--balancer-address', '10.0.0.10', '--container-data', '/cluster']);
    assert.equal(r.status, 0, r.stderr);
    const ca = await readFile(join(out, 'n1', 'cluster', 'ca.pem'), 'utf8');
    for (const id of ['n1', 'n2', 'n3']) {
      const raw = JSON.parse(await readFile(join(out, id, 'config.json'), 'utf8')) as Record<string, unknown>;
      const cfg = parseConfig(raw, id);
      assert.equal(cfg.nodeId, id);
      assert.equal(cfg.dataDir, `/cluster/${id}`);
      assert.deepEqual(cfg.proxy?.trustedProxies, ['10.0.0.10']);
      assert.deepEqual(cfg.cluster?.voters, ['n1', 'n2', 'n3']);
      assert.equal(Object.keys(cfg.cluster?.peers ?? {}).length, 2);
      assert.equal(await readFile(join(out, id, 'cluster', 'ca.pem'), 'utf8'), ca, 'one CA');
      assert.equal(await exists(join(out, id, 'cluster', 'ca-key.pem')), id === 'n1', `CA key on n1 only (${id})`);
    }
    const again = stormo(['init-cluster', '--nodes', 'n1=a,n2=b,n3=c', '--out', out]);
    assert.notEqual(again.status, 0, 'never overwrites a cluster');
    assert.match(again.stderr, /exists/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('cluster/haproxy.cfg is valid for HAProxy', { skip: spawnSync('haproxy', ['-v']).status === 0 ? false : 'haproxy is not installed' }, () => {
  const r = spawnSync('haproxy', ['-c', '-q', '-f', join(root, 'cluster', 'haproxy.cfg')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
