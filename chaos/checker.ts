// The chaos checker: from what clients were told (250s, OKs) and what every surviving node stores,
// count lost and duplicated messages, UID and UIDVALIDITY violations, lost flag changes. Pure.

/** One SMTP delivery attempt as the client saw it. */
export interface Delivery {
  /** Our id, carried in the message (X-Chaos-Id) so the checker can find it. */
  readonly id: string;
  readonly account: string;
  /** SHA-256 (hex) of the bytes the client sent (the node adds its trace headers in front). */
  readonly sha256: string;
  readonly startMs: number;
  /** When the 250 arrived; null when the client got no 250 (refused, cut off, timed out). */
  readonly ackMs: number | null;
}

/** A message as one node stores it, in one account's INBOX. */
export interface StoredMessage {
  readonly id: string | null;
  readonly uid: number;
  /** SHA-256 of the stored bytes after the node's own trace headers, or null if unreadable. */
  readonly sha256: string | null;
  readonly flags: readonly string[];
  /** The stored body's blob id (SHA-256 of the whole stored message), to check its copies. */
  readonly blobId?: string;
}

export interface AccountView {
  readonly uidValidity: number;
  readonly messages: readonly StoredMessage[];
}

/** What a node answered for each account, read at the end. */
export interface NodeView {
  readonly node: string;
  readonly accounts: ReadonlyMap<string, AccountView>;
}

/** A flag change acknowledged with OK: `keyword` set on message `id`, never removed by the workload. */
export interface FlagAck {
  readonly account: string;
  readonly id: string;
  readonly keyword: string;
}

/** A UIDVALIDITY or UID seen by a session during the run. */
export interface UidObservation {
  readonly account: string;
  readonly uidValidity: number;
  readonly id: string;
  readonly uid: number;
}

export interface CheckResult {
  readonly accepted: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly uidViolations: number;
  readonly flagsLost: number;
  /** Nodes whose view differs from the first survivor's (after healing, all must agree). */
  readonly divergentNodes: number;
  /** One line per problem found, for the report (bounded). */
  readonly problems: readonly string[];
}

const problemsMax = 50;

export function check(deliveries: readonly Delivery[], views: readonly NodeView[], flagAcks: readonly FlagAck[], observations: readonly UidObservation[]): CheckResult {
  const problems: string[] = [];
  const note = (p: string): void => {
    if (problems.length < problemsMax) problems.push(p);
  };
  const acked = deliveries.filter((d) => d.ackMs !== null);
  let lost = 0;
  let duplicated = 0;
  let uidViolations = 0;
  let flagsLost = 0;
  for (const view of views) {
    const byId = indexById(view);
    for (const d of acked) {
      const copies = byId.get(`${d.account}\u0000${d.id}`) ?? [];
      if (copies.length === 0 || copies.every((m) => m.sha256 !== d.sha256)) {
        lost++;
        note(`${view.node}: ${d.id} for ${d.account} acknowledged at ${d.ackMs} ms is ${copies.length === 0 ? 'missing' : 'different'}`);
      } else if (copies.length > 1) {
        duplicated++;
        note(`${view.node}: ${d.id} for ${d.account} is stored ${copies.length} times`);
      }
    }
    uidViolations += uidProblems(view, note);
    for (const f of flagAcks) {
      const m = (byId.get(`${f.account}\u0000${f.id}`) ?? [])[0];
      if (m && !m.flags.includes(f.keyword)) {
        flagsLost++;
        note(`${view.node}: ${f.keyword} on ${f.id} (${f.account}) was acknowledged but is gone`);
      }
    }
  }
  uidViolations += observationProblems(views, observations, note) + orderProblems(acked, views, note);
  const divergentNodes = views.slice(1).filter((v) => fingerprint(v) !== fingerprint(views[0]!)).length;
  if (divergentNodes > 0) note(`${divergentNodes} node(s) disagree with ${views[0]!.node}`);
  return { accepted: acked.length, lost, duplicated, uidViolations, flagsLost, divergentNodes, problems };
}

function indexById(view: NodeView): Map<string, StoredMessage[]> {
  const out = new Map<string, StoredMessage[]>();
  for (const [account, a] of view.accounts) {
    for (const m of a.messages) {
      if (m.id === null) continue;
      const k = `${account}\u0000${m.id}`;
      const list = out.get(k);
      if (list) list.push(m);
      else out.set(k, [m]);
    }
  }
  return out;
}

/** Within one node: UIDs are distinct and the listing ascends (G3). */
function uidProblems(view: NodeView, note: (p: string) => void): number {
  let n = 0;
  for (const [account, a] of view.accounts) {
    for (let i = 1; i < a.messages.length; i++) {
      if (a.messages[i]!.uid <= a.messages[i - 1]!.uid) {
        n++;
        note(`${view.node}: ${account} UID ${a.messages[i]!.uid} after ${a.messages[i - 1]!.uid}`);
      }
    }
  }
  return n;
}

/** Across nodes and sessions: one UIDVALIDITY per account, and a message keeps its UID everywhere. */
function observationProblems(views: readonly NodeView[], obs: readonly UidObservation[], note: (p: string) => void): number {
  let n = 0;
  const validity = new Map<string, number>();
  const uidOf = new Map<string, number>();
  const all: UidObservation[] = [...obs];
  for (const v of views) {
    for (const [account, a] of v.accounts) for (const m of a.messages) if (m.id !== null) all.push({ account, uidValidity: a.uidValidity, id: m.id, uid: m.uid });
  }
  for (const o of all) {
    const seen = validity.get(o.account);
    if (seen === undefined) validity.set(o.account, o.uidValidity);
    else if (seen !== o.uidValidity) {
      n++;
      note(`${o.account}: UIDVALIDITY ${o.uidValidity} after ${seen}`);
      validity.set(o.account, o.uidValidity);
    }
    const k = `${o.account}\u0000${o.id}`;
    const uid = uidOf.get(k);
    if (uid === undefined) uidOf.set(k, o.uid);
    else if (uid !== o.uid) {
      n++;
      note(`${o.account}: ${o.id} has UID ${o.uid} and ${uid}`);
    }
  }
  return n;
}

/** A message acknowledged before another's delivery started has the smaller UID (UIDs ascend in time). */
function orderProblems(acked: readonly Delivery[], views: readonly NodeView[], note: (p: string) => void): number {
  const first = views[0];
  if (!first) return 0;
  const byId = indexById(first);
  let n = 0;
  const byAccount = new Map<string, Delivery[]>();
  for (const d of acked) byAccount.set(d.account, [...(byAccount.get(d.account) ?? []), d]);
  for (const [account, list] of byAccount) {
    const uid = (d: Delivery): number | undefined => byId.get(`${account}\u0000${d.id}`)?.[0]?.uid;
    const byAck = [...list].sort((x, y) => x.ackMs! - y.ackMs!);
    const byStart = [...list].sort((x, y) => x.startMs - y.startMs);
    let maxUidAcked = 0;
    let maxId = '';
    let i = 0;
    for (const d of byStart) {
      while (i < byAck.length && byAck[i]!.ackMs! < d.startMs) {
        const u = uid(byAck[i]!);
        if (u !== undefined && u > maxUidAcked) [maxUidAcked, maxId] = [u, byAck[i]!.id];
        i++;
      }
      const u = uid(d);
      if (u !== undefined && u < maxUidAcked) {
        n++;
        note(`${account}: ${d.id} (UID ${u}) started after ${maxId} (UID ${maxUidAcked}) was acknowledged`);
      }
    }
  }
  return n;
}

function fingerprint(v: NodeView): string {
  const parts: string[] = [];
  for (const account of [...v.accounts.keys()].sort()) {
    const a = v.accounts.get(account)!;
    parts.push(`${account}:${a.uidValidity}:${a.messages.map((m) => `${m.uid}=${m.id}/${m.sha256}/${[...m.flags].sort().join(',')}`).join(';')}`);
  }
  return parts.join('|');
}

/** The longest stretch without a successful 250 while the workload ran (majority up throughout). */
export function maxUnavailableMs(deliveries: readonly Delivery[], fromMs: number, toMs: number): number {
  const g = longestGap(deliveries, fromMs, toMs);
  return g.toMs - g.fromMs;
}

/** Where that stretch was, to set beside the nemesis's log. */
export function longestGap(deliveries: readonly Delivery[], fromMs: number, toMs: number): { fromMs: number; toMs: number } {
  const acks = deliveries.flatMap((d) => (d.ackMs === null ? [] : [d.ackMs])).sort((a, b) => a - b);
  let prev = fromMs;
  let best = { fromMs, toMs: fromMs };
  for (const t of [...acks.filter((a) => a >= fromMs), toMs]) {
    if (t - prev > best.toMs - best.fromMs) best = { fromMs: prev, toMs: t };
    prev = t;
  }
  return best;
}
