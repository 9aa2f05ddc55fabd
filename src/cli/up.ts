// `stormo up`: start a node (store, admin API, and the mail front ends) and print its endpoints.
// The composition root: the only place that wires subsystems together.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pino, { type Logger } from 'pino';
import { buildAdmin } from '../admin/server.ts';
import { type Blobs, BlobStore, collectGarbage } from '../blob/index.ts';
import { createJunkLearner, createWasher, type JunkLearner, parseFilterConfig } from '../filter/index.ts';
import { type ImapHooks, ImapServer, summaryExtras } from '../imap/index.ts';
import { Pop3Server } from '../pop3/server.ts';
import { storePop3Backend } from '../pop3/store-backend.ts';
import { SmtpFrontEnd, defaultSmtpLimits } from '../smtp/index.ts';
import { storeSmtpBackend } from '../smtp/store-backend.ts';
import { Store } from '../store/index.ts';
import { startClusterBlobs, startClusterGossip, startClusterNode, storeClusterOptions } from './cluster-wiring.ts';
import type { Config } from './config.ts';

export interface Endpoints {
  nodeId: string;
  admin: string;
  smtp?: string;
  submission?: string;
  submissions?: string;
  pop3?: string;
  pop3s?: string;
  imap?: string;
  imaps?: string;
  /** Inter-node (mutual TLS) and join service addresses, in a cluster. */
  cluster?: string;
  join?: string;
}

export interface RunningNode {
  endpoints: Endpoints;
  store: Store;
  logger: Logger;
  stop(): Promise<void>;
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** The admin credential: generated once per install, readable by its owner only. */
export async function adminToken(dataDir: string): Promise<string> {
  const file = join(dataDir, 'admin.token');
  if (await exists(file)) return (await readFile(file, 'utf8')).trim();
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return token;
}

/** A self-signed certificate for local use, made once with openssl. */
export async function localTls(dataDir: string, hostname: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dataDir, 'tls', 'cert.pem');
  const keyFile = join(dataDir, 'tls', 'key.pem');
  if ((await exists(certFile)) && (await exists(keyFile))) return { certFile, keyFile };
  await mkdir(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '825', '-subj', `/CN=${hostname}`,
    '-addext', `subjectAltName=DNS:${hostname},DNS:localhost,IP:127.0.0.1`, '-keyout', keyFile, '-out', certFile,
  ]);
  await chmod(keyFile, 0o600);
  return { certFile, keyFile };
}

export interface UpOptions {
  /**
   * The store stopped on a disk failure and takes no more writes. The CLI exits (status 70) so a
   * supervisor restarts the node, which recovers from its log; tests observe it instead.
   */
  onFatal?: (error: Error) => void;
}

export async function up(cfg: Config, opts: UpOptions = {}): Promise<RunningNode> {
  const dataDir = resolve(cfg.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const logger = pino({ level: cfg.logLevel, base: { nodeId: cfg.nodeId } });
  const token = await adminToken(dataDir);
  const tls = cfg.tls ?? (await localTls(dataDir, cfg.hostname));
  // In a cluster: identity checked and the mutual-TLS transport listening before the store opens on it.
  const cluster = await startClusterNode(cfg, dataDir, logger);
  const store = await Store.open({ dir: dataDir, nodeId: cfg.nodeId, ...(cluster ? { cluster: storeClusterOptions(cfg, cluster) } : {}) }).catch(async (e: unknown) => {
    await cluster?.close();
    throw e;
  });
  cluster?.attach(store);
  store.onFatal((err) => {
    logger.fatal({ subsystem: 'node', event: 'storeFailed', err }, 'the store stopped on a disk failure: restart the node once the disk is fixed');
    opts.onFatal?.(err);
  });
  const localBlobs = await BlobStore.open(join(dataDir, 'blobs'), { blobBytesMax: cfg.messageBytesMax + 64 * 1024 });
  // In a cluster the front ends write N copies and read any; GC still sweeps this node's own copies.
  const replication = cluster ? startClusterBlobs(cfg, cluster, store, localBlobs, dataDir, logger) : undefined;
  const blobs: Blobs = replication?.blobs ?? localBlobs;
  const host = cfg.listen.host;
  const smtp = new SmtpFrontEnd(
    {
      hostname: cfg.hostname,
      bindAddress: host,
      tls: { keyPath: tls.keyFile, certPath: tls.certFile },
      listeners: {
        mx: { port: cfg.listen.smtp, proxyProtocol: cfg.proxy },
        submission: { port: cfg.listen.submission, proxyProtocol: cfg.proxy },
        submissions: { port: cfg.listen.submissions, proxyProtocol: cfg.proxy },
      },
      limits: { messageBytesMax: cfg.messageBytesMax, ...(cfg.smtpConnectionsPerIpMax === undefined ? {} : { connectionsPerIpMax: cfg.smtpConnectionsPerIpMax }) },
    },
    {
      backend: storeSmtpBackend(store, blobs, { diskReserveBytes: cfg.diskReserveBytes, summarize: summarizeBody }),
      logger,
      ...(cfg.filter
        ? { hooks: createWasher(cfg.filter, { settings: store.queries, logger, hostname: cfg.hostname, smtpBackendCallTimeoutMs: defaultSmtpLimits.backendCallTimeoutMs }) }
        : {}),
    },
  );
  const smtpBound = await smtp.start();
  const pop3 = new Pop3Server({
    config: {
      serverName: cfg.hostname,
      plain: { host, port: cfg.listen.pop3 },
      implicitTls: { host, port: cfg.listen.pop3s },
      tls: { key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile), minVersion: 'TLSv1.2' },
      proxyProtocol: cfg.proxy ? 'required' : 'off',
      ...(cfg.proxy ? { trustedProxies: cfg.proxy.trustedProxies } : {}),
    },
    backend: storePop3Backend(store, blobs),
    logger,
  });
  const pop3Bound = await pop3.listen();
  const imap = new ImapServer({
    config: {
      serverName: cfg.hostname,
      plain: { host, port: cfg.listen.imap },
      implicitTls: { host, port: cfg.listen.imaps },
      tls: { key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile), minVersion: 'TLSv1.2' },
      proxyProtocol: cfg.proxy ? 'required' : 'off',
      ...(cfg.proxy ? { trustedProxies: cfg.proxy.trustedProxies } : {}),
      appendLimitBytes: cfg.imapAppendLimitBytes ?? cfg.messageBytesMax,
    },
    store,
    blobs,
    logger,
    hooks: junkLearning(cfg.filter ? createJunkLearner(parseFilterConfig(cfg.filter)) : null, blobs, logger),
  });
  const imapBound = await imap.listen();
  // Soft state (liveness, load, repair hints) with the other members over libp2p; in `stormo status`.
  const connections = (): Record<string, number> => ({ pop3: pop3.connectionCount, imap: imap.connectionCount });
  const gossip = cluster && replication ? await startClusterGossip(cluster, store, replication.blobs, { connections }, logger) : undefined;
  let draining = false;
  const admin = await buildAdmin({ store, token, logger, draining: () => draining, ...(cluster ? { cluster } : {}) });
  await admin.listen({ host, port: cfg.listen.admin });
  const adminPort = (admin.server.address() as { port: number }).port;
  const endpoints: Endpoints = { nodeId: cfg.nodeId, admin: `http://${host}:${adminPort}` };
  for (const l of smtpBound) endpoints[l.kind === 'mx' ? 'smtp' : l.kind] = `${l.host}:${l.port}`;
  if (pop3Bound.plain) endpoints.pop3 = `${host}:${pop3Bound.plain.port}`;
  if (pop3Bound.implicitTls) endpoints.pop3s = `${host}:${pop3Bound.implicitTls.port}`;
  if (imapBound.plain) endpoints.imap = `${host}:${imapBound.plain.port}`;
  if (imapBound.implicitTls) endpoints.imaps = `${host}:${imapBound.implicitTls.port}`;
  if (cluster) {
    const c = cluster.advertise;
    endpoints.cluster = `${c.host}:${c.port}`;
    const j = cluster.joinAddress();
    if (j) endpoints.join = `${j.host}:${j.port}`;
  }
  const gc = startBlobGc(store, localBlobs, logger);
  await writeFile(join(dataDir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
  logger.info({ subsystem: 'node', event: 'up', endpoints }, 'node is up');
  return {
    endpoints,
    store,
    logger,
    stop: async () => {
      // Drain first: /health/ready turns 503 so the balancer sends new clients elsewhere, and a leader
      // hands over (thesis §3.10) so writes do not wait for an election: a rolling upgrade loses nothing.
      draining = true;
      if (cluster) handOverLeadership(store, cfg.nodeId);
      await sleep(cfg.drainMs ?? (cluster ? defaultClusterDrainMs : 0));
      gc.stop();
      await smtp.stop();
      await pop3.close();
      await imap.close();
      await gossip?.stop();
      await replication?.stop();
      await admin.close();
      await store.close();
      await cluster?.close();
    },
  };
}

/** The MIME summary (ENVELOPE, BODYSTRUCTURE, offsets) computed once at delivery and kept with the message. */
async function summarizeBody(body: AsyncIterable<Uint8Array>, sizeBytes: number): Promise<Uint8Array> {
  const bytes = Buffer.allocUnsafe(sizeBytes);
  let off = 0;
  for await (const chunk of body) {
    const n = Math.min(chunk.length, sizeBytes - off);
    if (n <= 0) break;
    bytes.set(chunk.subarray(0, n), off);
    off += n;
  }
  // Empty when the summary would not fit the store's extras limit: readers then compute it on the fly.
  return summaryExtras(bytes.subarray(0, off))?.summary ?? new Uint8Array(0);
}

/** Bodies learned per IMAP COPY/MOVE into or out of Junk; a larger move teaches the first ones only. */
export const junkLearnPerMoveMax = 100;

/** A move into Junk teaches the engine spam, out of Junk ham (spamd TELL or rspamd learn), in the background. */
function junkLearning(learner: JunkLearner | null, blobs: Blobs, logger: Logger): ImapHooks {
  if (learner === null) return {};
  return {
    onMessagesMoved(e) {
      const as = e.to === '\\Junk' ? 'spam' : e.from === '\\Junk' ? 'ham' : null;
      if (as === null) return;
      void (async () => {
        for (const id of e.blobIds.slice(0, junkLearnPerMoveMax)) {
          try {
            await learner.learn(await blobs.get(id), as);
          } catch (err) {
            logger.warn({ subsystem: 'filter', event: 'learnFailed', accountId: e.accountId, blobId: id, as, err: String(err) }, 'the spam engine did not learn a moved message');
          }
        }
      })();
    },
  };
}

/** How long a cluster node stays up, not ready, before it stops: two of HAProxy's check intervals and more. */
export const defaultClusterDrainMs = 1_500;

function handOverLeadership(store: Store, self: string): void {
  const st = store.status();
  if (st.raft.role !== 'leader') return;
  const to = store.members().voters.find((v) => v !== self);
  if (to !== undefined) store.transferLeadership(to);
}

/** Minutes between blob GC sweeps. */
export const blobGcIntervalMs = 10 * 60 * 1000;

/** Sweep unreferenced bodies now and then; one sweep at a time, errors logged, never fatal. */
function startBlobGc(store: Store, blobs: BlobStore, logger: Logger): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    collectGarbage(blobs, { isReferenced: async (id) => (await store.queries.blobRefs(id)) > 0, nowMs: () => Date.now() })
      .then((r) => {
        if (r.deleted > 0) logger.info({ subsystem: 'blob', event: 'gc', ...r }, 'unreferenced bodies collected');
      })
      .catch((err: unknown) => logger.error({ subsystem: 'blob', event: 'gcFailed', err }, 'blob GC sweep failed'))
      .finally(() => {
        running = false;
      });
  }, blobGcIntervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
