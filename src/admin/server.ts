// The admin HTTP API (fastify): domains, users and aliases, behind a bearer token; health endpoints.
// Talks to the store through its commands and queries only; never to LevelDB or Raft directly.

import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ClusterNode } from '../cluster/node-cluster.ts';
import { ClusterError } from '../cluster/node-cluster.ts';
import { JoinError } from '../cluster/join.ts';
import { type Store, StoreError, type StoreErrorCode, defaultTenant } from '../store/index.ts';
import { hashPassword, passwordBytesMax } from '../store/password.ts';
import { domainFilterSettingsSchema, filterSettingKey, userFilterSettingsSchema } from '../filter/index.ts';

export interface AdminOptions {
  store: Store;
  /** The bearer token; only its SHA-256 is kept in memory. */
  token: string;
  logger: Logger;
  /** Request body bytes. */
  bodyBytesMax?: number;
  /** Entries returned by a list call. */
  listMax?: number;
  /** True while the node drains before a stop: /health/ready answers 503 so the balancer moves clients away. */
  draining?: () => boolean;
  /** In a cluster: status, join tokens, member removal (/v1/cluster/...). */
  cluster?: Pick<ClusterNode, 'status' | 'issueJoinToken' | 'removeMember'>;
}

// Route registration works for any fastify instance flavour (logger, server types).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFastify = FastifyInstance<any, any, any, any>;

const statusOf: Record<StoreErrorCode, number> = {
  EXISTS: 409,
  NOT_FOUND: 404,
  NOT_EMPTY: 409,
  INVALID: 400,
  QUOTA_EXCEEDED: 409,
  MODIFIED: 409,
  UNAVAILABLE: 503,
  STORAGE: 507,
};

const address = { type: 'string', minLength: 3, maxLength: 320 } as const;
const password = { type: 'string', minLength: 1, maxLength: passwordBytesMax } as const;

export async function buildAdmin(o: AdminOptions): Promise<FastifyInstance<any, any, any, any>> {
  const listMax = o.listMax ?? 10_000;
  const app = Fastify({ loggerInstance: o.logger.child({ subsystem: 'admin' }), bodyLimit: o.bodyBytesMax ?? 64 * 1024 });
  const tokenDigest = createHash('sha256').update(o.token).digest();

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof ClusterError || err instanceof JoinError) {
      return reply.code(err.code === 'INVALID' ? 400 : 409).send({ error: { code: err.code, message: err.message } });
    }
    if (err instanceof StoreError) {
      return reply.code(statusOf[err.code]).send({ error: { code: err.code, message: err.message } });
    }
    const e = err as { validation?: unknown; statusCode?: number; message?: string };
    if (e.validation || (e.statusCode !== undefined && e.statusCode < 500)) {
      return reply.code(e.statusCode ?? 400).send({ error: { code: 'INVALID', message: e.message ?? 'bad request' } });
    }
    req.log.error({ err }, 'admin request failed');
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error, logged' } });
  });

  // Health endpoints stay open for balancers; everything under /v1 needs the token.
  app.get('/health/live', async () => ({ ok: true }));
  app.get('/health/ready', async (_req, reply) => {
    const st = o.store.status();
    // Ready: a leader is known, this node is caught up (not installing a snapshot, not far behind
    // the commit index, a recent ReadIndex succeeded) and it is not draining for a stop.
    const ready = st.state === 'running' && o.store.ready() && !(o.draining?.() ?? false);
    return reply.code(ready ? 200 : 503).send({ ok: ready, role: st.raft.role, term: st.raft.term, applied: st.applied });
  });

  const authorize = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const h = req.headers.authorization ?? '';
    const given = createHash('sha256').update(h.startsWith('Bearer ') ? h.slice(7) : '').digest();
    if (!timingSafeEqual(given, tokenDigest)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'UNAUTHORIZED', message: 'a valid admin token is required' } });
    }
  };

  await app.register(async (v1) => {
    v1.addHook('onRequest', authorize);
    registerDomains(v1, o.store, listMax);
    registerUsers(v1, o.store, listMax);
    registerAliases(v1, o.store, listMax);
    registerCluster(v1, o.store, o.cluster);
    registerFilterSettings(v1, o.store);
  }, { prefix: '/v1' });
  return app;
}

function registerDomains(app: AnyFastify, store: Store, listMax: number): void {
  // Tenants: the resellers whose customers' domains are grouped under them.
  app.post<{ Body: { id: string; name: string } }>(
    '/tenants',
    { schema: { body: { type: 'object', required: ['id', 'name'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 63 }, name: { type: 'string', minLength: 1, maxLength: 200 } } } } },
    async (req, reply) => {
      await store.execute({ type: 'createTenant', id: req.body.id, name: req.body.name });
      return reply.code(201).send({ id: req.body.id });
    },
  );
  app.get('/domains', async () => ({ domains: (await store.queries.domains(listMax)).map((d) => ({ name: d.name, tenant: d.tenant })) }));
  app.post<{ Body: { name: string; tenant?: string } }>(
    '/domains',
    { schema: { body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 253 }, tenant: { type: 'string', maxLength: 63 } } } } },
    async (req, reply) => {
      await store.execute({ type: 'createDomain', name: req.body.name, tenant: req.body.tenant ?? defaultTenant });
      return reply.code(201).send({ name: req.body.name.toLowerCase() });
    },
  );
  app.delete<{ Params: { name: string } }>('/domains/:name', async (req, reply) => {
    await store.execute({ type: 'deleteDomain', name: req.params.name });
    return reply.code(204).send();
  });
}

function registerUsers(app: AnyFastify, store: Store, listMax: number): void {
  app.get<{ Querystring: { domain?: string } }>('/users', async (req) => {
    const domains = req.query.domain ? [req.query.domain] : (await store.queries.domains(listMax)).map((d) => d.name);
    const users: { address: string; quotaBytes: number; usedBytes: number; messages: number }[] = [];
    for (const d of domains) {
      for (const { entry } of await store.queries.addresses(d, listMax)) {
        if (entry.kind !== 'account' || users.length >= listMax) continue;
        const a = await store.queries.account(entry.accountId);
        if (a) users.push({ address: a.address, quotaBytes: a.quotaBytes, usedBytes: a.usedBytes, messages: a.messages });
      }
    }
    return { users };
  });
  app.post<{ Body: { address: string; password: string; quotaBytes?: number } }>(
    '/users',
    { schema: { body: { type: 'object', required: ['address', 'password'], additionalProperties: false, properties: { address, password, quotaBytes: { type: 'integer', minimum: 0 } } } } },
    async (req, reply) => {
      const passwordHash = await hashPassword(req.body.password);
      await store.execute({ type: 'createAccount', address: req.body.address, passwordHash, quotaBytes: req.body.quotaBytes ?? 0 });
      return reply.code(201).send({ address: req.body.address.toLowerCase() });
    },
  );
  app.put<{ Params: { address: string }; Body: { password: string } }>(
    '/users/:address/password',
    { schema: { body: { type: 'object', required: ['password'], additionalProperties: false, properties: { password } } } },
    async (req, reply) => {
      await store.execute({ type: 'setPassword', address: req.params.address, passwordHash: await hashPassword(req.body.password) });
      return reply.code(204).send();
    },
  );
  app.delete<{ Params: { address: string } }>('/users/:address', async (req, reply) => {
    await store.execute({ type: 'deleteAccount', address: req.params.address });
    return reply.code(204).send();
  });
}

function registerAliases(app: AnyFastify, store: Store, listMax: number): void {
  app.get<{ Querystring: { domain?: string } }>('/aliases', async (req) => {
    const domains = req.query.domain ? [req.query.domain] : (await store.queries.domains(listMax)).map((d) => d.name);
    const aliases: { address: string; targets: readonly string[] }[] = [];
    for (const d of domains) {
      for (const { address: a, entry } of await store.queries.addresses(d, listMax)) {
        if (entry.kind === 'alias' && aliases.length < listMax) aliases.push({ address: a, targets: entry.targets });
      }
    }
    return { aliases };
  });
  app.post<{ Body: { address: string; targets: string[] } }>(
    '/aliases',
    { schema: { body: { type: 'object', required: ['address', 'targets'], additionalProperties: false, properties: { address: { type: 'string', minLength: 3, maxLength: 320 }, targets: { type: 'array', minItems: 1, maxItems: 1000, items: address } } } } },
    async (req, reply) => {
      await store.execute({ type: 'addAlias', address: req.body.address, targets: req.body.targets });
      return reply.code(201).send({ address: req.body.address.toLowerCase() });
    },
  );
  app.delete<{ Params: { address: string } }>('/aliases/:address', async (req, reply) => {
    await store.execute({ type: 'removeAlias', address: req.params.address });
    return reply.code(204).send();
  });
}

function registerCluster(app: AnyFastify, store: Store, cluster: AdminOptions['cluster']): void {
  // Single-node: the same shape with this node alone, so `stormo status` works everywhere.
  app.get('/cluster/status', async () => {
    if (cluster) return cluster.status();
    const st = store.status();
    return { nodeId: st.raft.id, replicationFactor: 1, members: null, nodes: null, addresses: {}, transport: null, missingBlobCopies: null, single: { role: st.raft.role, term: st.raft.term, commit: st.raft.commit, applied: st.applied } };
  });
  app.post<{ Body: { ttlSeconds?: number } }>(
    '/cluster/tokens',
    { schema: { body: { type: 'object', additionalProperties: false, properties: { ttlSeconds: { type: 'integer', minimum: 1, maximum: 7 * 24 * 3600 } } } } },
    async (req, reply) => {
      if (!cluster) throw new ClusterError('NOT_MEMBER', 'this node is not in a cluster (no cluster section in its config)');
      const ttl = req.body?.ttlSeconds;
      return reply.code(201).send(cluster.issueJoinToken(ttl === undefined ? undefined : ttl * 1000));
    },
  );
  app.delete<{ Params: { id: string } }>('/cluster/members/:id', async (req, reply) => {
    if (!cluster) throw new ClusterError('NOT_MEMBER', 'this node is not in a cluster (no cluster section in its config)');
    await cluster.removeMember(req.params.id);
    return reply.code(204).send();
  });
}

/** The washer's per-domain and per-user settings (thresholds, allow/block lists), validated by src/filter's schemas. */
function registerFilterSettings(app: AnyFastify, store: Store): void {
  const invalid = (reply: FastifyReply, issues: readonly { path: PropertyKey[]; message: string }[]) => {
    const i = issues[0];
    return reply.code(400).send({ error: { code: 'INVALID', message: `${i?.path.map(String).join('.') || 'filter'}: ${i?.message ?? 'invalid'}` } });
  };
  const notFound = (reply: FastifyReply, what: string) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: `${what} not found` } });

  app.get<{ Params: { name: string } }>('/domains/:name/filter', async (req, reply) => {
    if (!(await store.queries.domain(req.params.name))) return notFound(reply, `domain ${req.params.name}`);
    return { filter: (await store.queries.domainSetting(req.params.name, filterSettingKey)) ?? null };
  });
  app.put<{ Params: { name: string }; Body: unknown }>('/domains/:name/filter', async (req, reply) => {
    const r = domainFilterSettingsSchema.safeParse(req.body);
    if (!r.success) return invalid(reply, r.error.issues);
    await store.execute({ type: 'setDomainSetting', name: req.params.name, key: filterSettingKey, value: r.data });
    return { filter: r.data };
  });
  app.delete<{ Params: { name: string } }>('/domains/:name/filter', async (req, reply) => {
    await store.execute({ type: 'setDomainSetting', name: req.params.name, key: filterSettingKey, value: null });
    return reply.code(204).send();
  });

  app.get<{ Params: { address: string } }>('/users/:address/filter', async (req, reply) => {
    const a = await store.queries.accountByAddress(req.params.address);
    if (!a) return notFound(reply, `user ${req.params.address}`);
    return { filter: (await store.queries.accountSetting(a.id, filterSettingKey)) ?? null };
  });
  app.put<{ Params: { address: string }; Body: unknown }>('/users/:address/filter', async (req, reply) => {
    const r = userFilterSettingsSchema.safeParse(req.body);
    if (!r.success) return invalid(reply, r.error.issues);
    await store.execute({ type: 'setAccountSetting', address: req.params.address, key: filterSettingKey, value: r.data });
    return { filter: r.data };
  });
  app.delete<{ Params: { address: string } }>('/users/:address/filter', async (req, reply) => {
    await store.execute({ type: 'setAccountSetting', address: req.params.address, key: filterSettingKey, value: null });
    return reply.code(204).send();
  });
}
