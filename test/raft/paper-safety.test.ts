// The safety rules of the Raft paper (§5.4): the election restriction, committing only entries of the
// current term by counting replicas (Figure 8), and the Figure 3 properties under seeded random faults.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Message, type NodeId, RaftError, seededRandom } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import { allEntries, n1, n2, n3, n4, n5 } from './helpers.ts';

const paperRules = { preVote: false, checkQuorum: false };

/** The term of entry i in node id's log, or undefined. */
function termAt(net: Network, id: NodeId, i: number): number | undefined {
  return allEntries(net.raft(id)).find((e) => e.index === i)?.term;
}

/** Campaign until `id` leads, the way repeated election timeouts would. */
function campaignUntilLeader(net: Network, id: NodeId): void {
  for (let i = 0; i < 5 && net.raft(id).role !== 'leader'; i++) net.campaign(id);
  assert.equal(net.raft(id).role, 'leader', `${id} could not win`);
}

/** Keep entries of term t out of every append: the new leader's own entries do not reach anyone. */
function withholdTerm(t: number): (m: Message) => Message {
  return (m) => (m.type === 'app' ? { ...m, entries: m.entries.filter((e) => e.term !== t) } : m);
}

/**
 * Figure 8 (a)-(c) on five nodes:
 * (a) n1 leads term 1 and replicates index 2 ("x") to n2 only;
 * (b) n1 crashes; n5 wins term 2 with n3 and n4, appends its no-op at index 2, replicates nothing;
 * (c) n5 crashes; n1 restarts, wins term 3 and replicates index 2 to n3 and n4, but not yet its
 *     term-3 entry.
 */
function figure8UpToC(): Network {
  const net = new Network(ids(1, 2, 3, 4, 5), paperRules);
  net.campaign(n1);
  for (const id of [n3, n4, n5]) net.cutLink(n1, id);
  net.propose(n1, 'x');
  assert.deepEqual([termAt(net, n1, 2), termAt(net, n2, 2), termAt(net, n3, 2)], [1, 1, undefined]);

  net.isolate(n1);
  net.drop('app');
  net.campaign(n5);
  assert.equal(net.raft(n5).role, 'leader');
  assert.equal(termAt(net, n5, 2), 2, 'n5 has its own index 2');

  net.heal();
  net.isolate(n5);
  net.restart(n1);
  net.intercept = withholdTerm(3);
  campaignUntilLeader(net, n1);
  assert.equal(net.raft(n1).term, 3);
  return net;
}

describe('Raft §5.4 safety', () => {
  // Reference: Raft §5.4.2, Figure 8 (c) — "a log entry may be stored on a majority of servers but still
  // be overwritten by a future leader": the leader of term 3 must not commit index 2 of term 1 by
  // counting its replicas.
  test('Figure 8: an entry of an earlier term on a majority is not committed by counting replicas', () => {
    const net = figure8UpToC();
    const replicas = ids(1, 2, 3, 4, 5).filter((id) => termAt(net, id, 2) === 1);
    assert.deepEqual(replicas, [n1, n2, n3, n4], 'index 2 of term 1 is stored on a majority');
    assert.equal(termAt(net, n1, 3), 3, "n1's own term-3 entry is on n1 only");
    assert.equal(net.raft(n1).log.committed, 1, 'index 2 is not committed');
    for (const id of ids(1, 2, 3, 4, 5)) assert.deepEqual(net.get(id).applied, [], `${id} applied nothing`);

    // Figure 8 (d): n1 crashes, n5 wins term 4 with n2-n4 (its last term 2 beats their 1) and
    // overwrites index 2 everywhere. Had n1 committed "x", this would lose a committed entry.
    net.heal();
    net.isolate(n1);
    net.restart(n5);
    campaignUntilLeader(net, n5);
    for (const id of [n2, n3, n4, n5]) {
      assert.equal(termAt(net, id, 2), 2, `${id}: index 2 overwritten by n5's entry of term 2`);
      assert.ok(net.raft(id).log.committed >= 2);
      assert.deepEqual(net.get(id).applied, []);
    }
  });

  // Reference: Raft §5.4.2, Figure 8 (e) — "once an entry from the current term has been committed in
  // this way, then all prior entries are committed indirectly because of the Log Matching Property."
  test('Figure 8: an earlier-term entry commits indirectly with an entry of the current term', () => {
    const net = figure8UpToC();
    net.intercept = undefined;
    net.tick(n1); // the next heartbeat round carries the term-3 entry to n2-n4
    assert.equal(net.raft(n1).log.committed, 3);
    for (const id of [n1, n2, n3, n4]) assert.deepEqual(net.get(id).applied, ['x'], id);
    // n5 can no longer win: a majority has a log with a later last term.
    net.heal();
    net.isolate(n1);
    net.restart(n5);
    net.campaign(n5);
    net.campaign(n5);
    assert.notEqual(net.raft(n5).role, 'leader');
  });

  // Reference: Raft §5.4.1 — "Raft uses the voting process to prevent a candidate from winning an
  // election unless its log contains all committed entries."
  test('a node missing a committed entry cannot be elected', () => {
    const net = new Network(ids(1, 2, 3), paperRules);
    net.campaign(n1);
    net.isolate(n3);
    net.propose(n1, 'x'); // committed by n1 and n2
    net.heal();
    net.isolate(n1);
    for (let i = 0; i < 5; i++) net.campaign(n3);
    assert.notEqual(net.raft(n3).role, 'leader');
    // n2 holds the entry and wins; n3 then gets it.
    campaignUntilLeader(net, n2);
    assert.deepEqual(net.get(n3).applied, ['x']);
  });

  // Reference: Raft §5.4.3 and Figure 3 — Election Safety (at most one leader per term), Leader
  // Completeness (a leader holds every committed entry), State Machine Safety (no two nodes apply
  // different entries at one index), under seeded random partitions, restarts and proposals.
  test('Figure 3 properties hold under random partitions, restarts and proposals', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rnd = seededRandom(seed);
      const members = ids(1, 2, 3, 4, 5);
      const net = new Network(members, {}, seed);
      const leaderOfTerm = new Map<number, NodeId>();
      const committed = new Map<number, number>(); // index -> term, as seen committed anywhere
      net.onReady = (n, rd) => {
        const r = n.node.raft;
        for (const e of rd.committedEntries) {
          const t = committed.get(e.index);
          assert.ok(t === undefined || t === e.term, `seed ${seed}: ${n.id} applies ${e.index}/${e.term}, committed was term ${t}`);
          committed.set(e.index, e.term);
        }
        if (rd.softState?.role !== 'leader') return;
        const prev = leaderOfTerm.get(r.term);
        assert.ok(prev === undefined || prev === n.id, `seed ${seed}: ${prev} and ${n.id} both lead term ${r.term}`);
        leaderOfTerm.set(r.term, n.id);
        const log = new Map(allEntries(r).map((e) => [e.index as number, e.term as number]));
        for (const [i, t] of committed) {
          if (i >= r.log.firstIndex()) assert.equal(log.get(i), t, `seed ${seed}: leader ${n.id} of term ${r.term} lacks committed ${i}`);
        }
      };
      let proposals = 0;
      for (let step = 0; step < 250; step++) {
        const x = rnd.int(100);
        const id = members[rnd.int(members.length)]!;
        if (x < 55) net.tickAll();
        else if (x < 75) {
          try {
            net.propose(id, `s${seed}-${proposals++}`);
          } catch (e) {
            if (!(e instanceof RaftError)) throw e;
          }
        } else if (x < 83) net.isolate(id);
        else if (x < 88) net.cutLink(id, members[rnd.int(members.length)]!);
        else if (x < 96) net.heal();
        else net.restart(id);
        // State Machine Safety: applied sequences are prefixes of one another.
        const applied = members.map((m) => net.get(m).applied);
        const longest = applied.reduce((a, b) => (b.length > a.length ? b : a));
        for (const [k, a] of applied.entries()) {
          assert.deepEqual(a, longest.slice(0, a.length), `seed ${seed} step ${step}: ${members[k]} diverged`);
        }
      }
      net.heal();
      net.tickAll(60);
      const final = members.map((m) => net.get(m).applied.join(','));
      assert.equal(new Set(final).size, 1, `seed ${seed}: all nodes converge`);
      assert.ok(leaderOfTerm.size >= 1);
    }
  });
});

