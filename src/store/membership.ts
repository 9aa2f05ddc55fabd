// Membership of the store's Raft group: changes run on the leader (forwarded there over PeerRpc 'store.member'),
// learners are promoted once caught up. Must not decide consensus rules: the core's guards answer every change.

import { performance } from 'node:perf_hooks';
import { PeerError, type PeerRpc } from '../cluster/peer.ts';
import { type ConfState, type NodeId, RaftError, type RaftDriver, isRaftError, noNode, nodeId } from '../raft/index.ts';
import { StoreError } from './errors.ts';
import { replicationLimits } from './replication-limits.ts';
import { retryUntil } from './retry.ts';
import type { TransferLogger } from './state-transfer.ts';

export const memberService = 'store.member';

type MemberOp = 'add' | 'remove';

/** Worth another attempt: no leader yet, a leader change, a change still pending, a peer not answering. */
function retryableMembership(e: unknown): boolean {
  if (isRaftError(e)) return ['NOT_LEADER', 'PROPOSAL_DROPPED', 'CONF_CHANGE_PENDING', 'TIMEOUT'].includes(e.code);
  if (e instanceof PeerError) {
    if (e.code === 'REMOTE') return ['NOT_LEADER', 'PROPOSAL_DROPPED', 'CONF_CHANGE_PENDING', 'TIMEOUT'].includes(e.remoteCode ?? '');
    return e.code === 'UNREACHABLE' || e.code === 'TIMEOUT';
  }
  return false;
}

export class Membership {
  private readonly driver: RaftDriver;
  private readonly peers: PeerRpc | undefined;
  private readonly log: TransferLogger;
  private promoting = false;

  constructor(driver: RaftDriver, peers: PeerRpc | undefined, log: TransferLogger) {
    this.driver = driver;
    this.peers = peers;
    this.log = log;
    peers?.serve(memberService, async (_from, body) => {
      const b = body as { op?: unknown; node?: unknown } | null;
      if ((b?.op !== 'add' && b?.op !== 'remove') || typeof b.node !== 'string' || b.node === '') {
        throw new StoreError('INVALID', 'store.member: expected {op: add|remove, node}');
      }
      return this.onLeader(b.op, nodeId(b.node));
    });
  }

  members(): ConfState {
    return this.driver.status().raft.conf;
  }

  /** Apply `op` through the leader, retrying passing failures until membershipDeadlineMs. */
  change(op: MemberOp, node: NodeId): Promise<ConfState> {
    if (node === '') return Promise.reject(new StoreError('INVALID', 'store: a member needs a node id'));
    const policy = {
      deadlineMs: performance.now() + replicationLimits.membershipDeadlineMs,
      delayMsMin: replicationLimits.retryDelayMsMin,
      delayMsMax: replicationLimits.retryDelayMsMax,
      retryable: retryableMembership,
    };
    return retryUntil(policy, () => this.attempt(op, node, policy.deadlineMs)).catch((e: unknown) => {
      if (e instanceof StoreError) throw e;
      const code = isRaftError(e, 'CONF_CHANGE_INVALID') || (e instanceof PeerError && e.remoteCode === 'CONF_CHANGE_INVALID') ? 'INVALID' : 'UNAVAILABLE';
      throw new StoreError(code, `store: ${op} member ${node} failed: ${(e as Error).message}`, { cause: e });
    });
  }

  private async attempt(op: MemberOp, node: NodeId, deadlineMs: number): Promise<ConfState> {
    const st = this.driver.status().raft;
    if (st.role === 'leader') return this.onLeader(op, node);
    if (st.lead === noNode) throw new RaftError('PROPOSAL_DROPPED', 'no leader known');
    if (this.peers === undefined) throw new RaftError('NOT_LEADER', 'single-node store without peers');
    const timeoutMs = Math.max(1, deadlineMs - performance.now());
    const conf = await this.peers.request(st.lead, memberService, { op, node }, { timeoutMs });
    return conf as ConfState;
  }

  /** On the leader; idempotent, so a retry after a lost answer succeeds. */
  private async onLeader(op: MemberOp, node: NodeId): Promise<ConfState> {
    const conf = this.members();
    const isMember = conf.voters.includes(node) || conf.learners.includes(node);
    if (op === 'add') return isMember ? conf : this.driver.addLearner(node);
    return isMember ? this.driver.removeMember(node) : conf;
  }

  /** Leader only: promote one caught-up learner while the group has fewer than votersMax voters. */
  promoteCaughtUp(): void {
    const st = this.driver.status().raft;
    if (this.promoting || st.role !== 'leader' || st.conf.voters.length >= replicationLimits.votersMax) return;
    const catchUpMax = this.driver.node.raft.cfg.learnerCatchUpEntriesMax;
    const learner = st.conf.learners.find((id) => {
      const pr = st.progress.get(id);
      // In replicate state: it answered an append (or acknowledged a snapshot it has installed).
      return pr !== undefined && pr.state === 'replicate' && st.lastIndex - pr.match <= catchUpMax;
    });
    if (learner === undefined) return;
    this.promoting = true;
    this.driver.promote(learner).then(
      () => this.log.info?.({ subsystem: 'store', event: 'learnerPromoted', nodeId: this.driver.id, member: learner }, 'learner promoted to voter'),
      (e: unknown) => {
        if (!retryableMembership(e) && !isRaftError(e, 'LEARNER_NOT_CAUGHT_UP')) {
          this.log.warn({ subsystem: 'store', event: 'promoteFailed', nodeId: this.driver.id, member: learner, err: String(e) }, 'promoting a learner failed');
        }
      },
    ).finally(() => {
      this.promoting = false;
    });
  }
}
