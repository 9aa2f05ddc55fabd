// Test support: one store member as its own process over the mutual-TLS transport, driven line by line on stdin.
// Test support only. Protocol: argv = dataDir identity.json voters(csv); prints `port N`, then answers commands.
//   peer ID PORT      -> (no answer) a member's address
//   setup             -> `setup ACCOUNT` (domain and account created through this member)
//   write TAG ACCOUNT -> `ok TAG UID` or `err TAG CODE` (append with a fresh request id, retried by the store)
//   list ACCOUNT      -> `list BLOB,BLOB,...` after a read barrier
//   digest            -> `digest APPLIED SHA256`
//   status            -> `status ROLE LEADER READY`

import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { NodeIdentity } from '../../src/cluster/identity.ts';
import { TlsTransport } from '../../src/cluster/tls-transport.ts';
import { type AccountId, type AppendResult, Store } from '../../src/store/index.ts';

const [dataDir, identityFile, votersCsv] = process.argv.slice(2) as [string, string, string];
const identity = JSON.parse(await readFile(identityFile, 'utf8')) as NodeIdentity;
const quiet = { warn: () => {}, error: (f: Record<string, unknown>, m: string) => process.stderr.write(`${m} ${JSON.stringify(f)}\n`) };
const transport = await TlsTransport.listen({ identity, listen: { host: '127.0.0.1', port: 0 }, peers: [], logger: quiet });
const store = await Store.open({
  dir: dataDir,
  nodeId: identity.nodeId,
  tickMs: 50,
  snapshotEntries: 200,
  snapshotKeepEntries: 20,
  logger: quiet,
  cluster: { transport, peers: transport, voters: votersCsv.split(',') },
});
const out = (line: string): void => void process.stdout.write(`${line}\n`);
out(`port ${transport.address().port}`);

async function handle(words: string[]): Promise<void> {
  const [cmd, a, b] = words;
  if (cmd === 'peer') return transport.setPeer(a!, { host: '127.0.0.1', port: Number(b) });
  if (cmd === 'setup') {
    await store.execute({ type: 'createDomain', name: 'example.com', tenant: 'default' });
    const { accountId } = await store.execute<{ accountId: AccountId }>({ type: 'createAccount', address: 'a@example.com', passwordHash: 'h', quotaBytes: 0 });
    return out(`setup ${accountId}`);
  }
  if (cmd === 'write') {
    try {
      const r = await store.execute<AppendResult>({ type: 'append', accountId: b as AccountId, folder: 'INBOX', blobId: a!, size: 10, internalDate: 1, flags: [] });
      return out(`ok ${a} ${r.uid}`);
    } catch (e) {
      return out(`err ${a} ${(e as { code?: string }).code ?? 'ERR'}`);
    }
  }
  if (cmd === 'list') {
    await store.readBarrier();
    const inbox = (await store.queries.folders(a as AccountId, 100)).find((f) => f.name === 'INBOX')!;
    const msgs = await store.queries.messages(a as AccountId, inbox.id, 100_000);
    return out(`list ${msgs.map((m) => `${m.uid}=${m.blobId}`).join(',')}`);
  }
  if (cmd === 'digest') {
    const d = await store.stateDigest();
    return out(`digest ${d.appliedIndex} ${d.sha256}`);
  }
  if (cmd === 'status') {
    const s = store.status();
    return out(`status ${s.role} ${s.leader || '-'} ${store.ready()}`);
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  void handle(line.trim().split(' ')).catch((e: unknown) => process.stderr.write(`${String(e)}\n`));
}
await store.close();
await transport.close().catch(() => undefined);
