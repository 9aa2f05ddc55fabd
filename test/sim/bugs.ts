// Known Raft bugs planted into the real core, to prove the simulator's checkers catch them.
// Test-only subclasses: production code carries no switches for them.

import { Raft, type RaftConfig, type Message, type LogIndex, index } from '../../src/raft/index.ts';
import type { PlantedBug } from './sim.ts';

/** Raft §5.4.2 violated: entries of earlier terms committed by counting replicas (Figure 8). */
class CommitPrevTermRaft extends Raft {
  override maybeCommit(): boolean {
    // The real rule first, so everything else it does (releasing reads) stays as in the core.
    if (super.maybeCommit()) return true;
    const matches: LogIndex[] = [];
    for (const [, pr] of this.prs) if (!pr.isLearner) matches.push(pr.match);
    matches.sort((a, b) => b - a);
    const q = matches[Math.floor(matches.length / 2)] ?? index(0);
    if (q <= this.log.committed) return false;
    this.log.commitTo(q);
    return true;
  }
}

/** Figure 2 violated: a vote granted to every up-to-date candidate, twice in one term. */
class DoubleVoteRaft extends Raft {
  override canGrantVote(m: Message): boolean {
    return this.log.isUpToDate(m.index, m.logTerm);
  }
}

/** Raft §5.4.1 violated: votes granted without the up-to-date log check. */
class VoteStaleLogRaft extends Raft {
  override canGrantVote(m: Message): boolean {
    return this.vote === m.from || (this.vote === '' && this.lead === '') || (m.type === 'preVote' && m.term > this.term);
  }
}

export const plantedBugs: readonly PlantedBug[] = ['ackBeforeFsync', 'commitPrevTerm', 'doubleVote', 'voteStaleLog', 'readNoQuorum'];

/** The Raft factory for a core bug, or undefined for driver-level bugs and none. */
export function raftFactory(bug: PlantedBug): ((cfg: RaftConfig) => Raft) | undefined {
  switch (bug) {
    case 'commitPrevTerm':
      return (cfg) => new CommitPrevTermRaft(cfg);
    case 'doubleVote':
      return (cfg) => new DoubleVoteRaft(cfg);
    case 'voteStaleLog':
      return (cfg) => new VoteStaleLogRaft(cfg);
    default:
      return undefined;
  }
}
