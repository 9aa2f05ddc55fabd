// Scripted Raft scenarios as data (etcd/raft's testdata): each testdata/*.txt holds commands, a `----` line,
// then the expected trace. This file is only the interpreter; the scenarios live in the data files.
//
// The trace has two kinds of lines, in the order they happen:
// - events, written as the network runs: `elected n1 term 2`, `stepped-down n1 term 2`,
//   `snapshot-installed n3 index 4 term 1`, and `error n1 CODE` for a refused command;
// - answers to the query commands `leader`, `status`, `applied`, `log`, `conf`, `reads`.
// Any node argument may be `leader`: the leader of the highest term at that moment.
//
// Set RAFT_SCENARIO_REWRITE=1 to write the actual traces back into the files (then review the diff).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MessageType, type NodeId, type RaftConfig, isRaftError, nodeId } from '../../src/raft/index.ts';
import { Network } from './network.ts';
import { allEntries, text } from './helpers.ts';

const dataDir = join(import.meta.dirname, 'testdata');
const separator = '----';

interface Scenario {
  readonly commands: string[];
  readonly expected: string[];
}

function parse(source: string): Scenario {
  const lines = source.split('\n');
  const sep = lines.findIndex((l) => l.trim() === separator);
  if (sep < 0) throw new Error(`no ${separator} line`);
  const keep = (l: string) => l.length > 0 && !l.startsWith('#');
  return {
    commands: lines.slice(0, sep).map((l) => l.trim()).filter(keep),
    expected: lines.slice(sep + 1).map((l) => l.trim()).filter(keep),
  };
}

/** Interpreter state: the network once `cluster` created it, and the trace written so far. */
class Run {
  net: Network | undefined;
  readonly trace: string[] = [];
  /** Each node's last reported role, to tell a step-down from any other change. */
  readonly roles = new Map<NodeId, string>();

  network(): Network {
    if (!this.net) throw new Error('no cluster yet: start with `cluster n1 n2 ...`');
    return this.net;
  }

  /** A node name, or `leader` for the leader of the highest term. */
  node(name: string | undefined): NodeId {
    if (name === undefined) throw new Error('missing node name');
    if (name !== 'leader') return nodeId(name);
    const net = this.network();
    const leaders = net.leaders().sort((a, b) => net.raft(b).term - net.raft(a).term);
    if (leaders[0] === undefined) throw new Error('`leader` used while there is none');
    return leaders[0];
  }

  /** Run an action that may be refused with a RaftError; a refusal goes into the trace. */
  attempt(id: NodeId, action: () => void): void {
    try {
      action();
    } catch (e) {
      if (!isRaftError(e)) throw e;
      this.network().settle();
      this.trace.push(`error ${id} ${e.code}`);
    }
  }
}

interface CommandSpec {
  readonly usage: string;
  readonly run: (r: Run, args: string[]) => void;
}

const list = (xs: readonly string[]): string => (xs.length === 0 ? '-' : xs.join(','));

const count = (s: string | undefined, dflt: number): number => {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a count: ${s}`);
  return n;
};

/** `key=value` options of `cluster`, each mapped onto one RaftConfig field. */
const clusterOptions: Record<string, (cfg: Partial<RaftConfig>, v: string) => void> = {
  prevote: (cfg, v) => (cfg.preVote = v === 'true'),
  checkquorum: (cfg, v) => (cfg.checkQuorum = v === 'true'),
  election: (cfg, v) => (cfg.electionTicks = count(v, 10)),
  heartbeat: (cfg, v) => (cfg.heartbeatTicks = count(v, 1)),
  maxinflight: (cfg, v) => (cfg.maxInflightMsgs = count(v, 256)),
};

function startCluster(r: Run, args: string[]): void {
  const ids: NodeId[] = [];
  const overrides: Partial<RaftConfig> = {};
  let seed = 1;
  let bootstrap = false;
  for (const a of args) {
    const [k, v] = a.split('=');
    if (v === undefined) {
      if (a === 'bootstrap') bootstrap = true;
      else ids.push(nodeId(a));
    } else if (k === 'seed') seed = count(v, 1);
    else if (k !== undefined && clusterOptions[k]) clusterOptions[k](overrides, v);
    else throw new Error(`unknown cluster option ${a}`);
  }
  const net = bootstrap ? Network.bootstrapped(ids, overrides, seed) : new Network(ids, overrides, seed);
  net.onReady = (n, rd) => {
    const t = n.node.raft.term;
    if (rd.snapshot) r.trace.push(`snapshot-installed ${n.id} index ${rd.snapshot.meta.index} term ${rd.snapshot.meta.term}`);
    if (!rd.softState) return;
    const was = r.roles.get(n.id);
    r.roles.set(n.id, rd.softState.role);
    if (rd.softState.role === 'leader') r.trace.push(`elected ${n.id} term ${t}`);
    else if (was === 'leader') r.trace.push(`stepped-down ${n.id} term ${t}`);
  };
  r.net = net;
}

const commands: Record<string, CommandSpec> = {
  cluster: { usage: 'cluster <ids...> [bootstrap] [seed=N] [prevote=bool] [checkquorum=bool] [election=N] [heartbeat=N] [maxinflight=N]', run: startCluster },
  campaign: { usage: 'campaign <id>', run: (r, [id]) => r.network().campaign(r.node(id)) },
  propose: {
    usage: 'propose <id> <data>',
    run: (r, [id, data]) => {
      const n = r.node(id);
      r.attempt(n, () => r.network().propose(n, data ?? ''));
    },
  },
  tick: { usage: 'tick <id> [n]', run: (r, [id, n]) => r.network().tick(r.node(id), count(n, 1)) },
  'tick-all': { usage: 'tick-all [n]', run: (r, [n]) => r.network().tickAll(count(n, 1)) },
  isolate: { usage: 'isolate <id>', run: (r, [id]) => r.network().isolate(r.node(id)) },
  cut: { usage: 'cut <a> <b>', run: (r, [a, b]) => r.network().cutLink(r.node(a), r.node(b)) },
  heal: { usage: 'heal', run: (r) => r.network().heal() },
  drop: { usage: 'drop <message type>', run: (r, [t]) => r.network().drop(t as MessageType) },
  stabilize: { usage: 'stabilize', run: (r) => r.network().settle() },
  restart: {
    usage: 'restart <id>',
    run: (r, [id]) => {
      const n = r.node(id);
      if (r.roles.get(n) === 'leader') r.trace.push(`stepped-down ${n} term ${r.network().raft(n).term}`);
      r.roles.delete(n);
      r.network().restart(n);
    },
  },
  compact: { usage: 'compact <id>', run: (r, [id]) => void r.network().compact(r.node(id)) },
  'add-learner': {
    usage: 'add-learner <leader> <id>',
    run: (r, [by, id]) => {
      const net = r.network();
      const n = r.node(id);
      if (!net.nodes.has(n)) net.addNode(n);
      const leader = r.node(by);
      r.attempt(leader, () => net.proposeConfChange(leader, { type: 'addLearner', node: n }));
    },
  },
  promote: {
    usage: 'promote <leader> <id>',
    run: (r, [by, id]) => {
      const leader = r.node(by);
      r.attempt(leader, () => r.network().proposeConfChange(leader, { type: 'addNode', node: r.node(id) }));
    },
  },
  remove: {
    usage: 'remove <leader> <id>',
    run: (r, [by, id]) => {
      const leader = r.node(by);
      r.attempt(leader, () => r.network().proposeConfChange(leader, { type: 'removeNode', node: r.node(id) }));
    },
  },
  transfer: { usage: 'transfer <from> <to>', run: (r, [from, to]) => r.network().transferLeadership(r.node(from), r.node(to)) },
  read: {
    usage: 'read <id> <context>',
    run: (r, [id, ctx]) => {
      const n = r.node(id);
      r.attempt(n, () => r.network().readIndex(n, ctx ?? ''));
    },
  },
  // Queries: each prints one line per node into the trace.
  leader: {
    usage: 'leader',
    run: (r) => {
      const net = r.network();
      const ls = net.leaders();
      if (ls.length === 0) r.trace.push('no leader');
      for (const id of ls) r.trace.push(`leader ${id} term ${net.raft(id).term}`);
    },
  },
  status: {
    usage: 'status <ids...>',
    run: (r, ids) => {
      for (const name of ids) {
        const raft = r.network().raft(r.node(name));
        const lead = raft.lead === '' ? '-' : raft.lead;
        r.trace.push(`status ${raft.id} ${raft.role} term ${raft.term} lead ${lead} commit ${raft.log.committed} applied ${raft.log.applied}`);
      }
    },
  },
  applied: {
    usage: 'applied <ids...>',
    run: (r, ids) => {
      for (const name of ids) r.trace.push(`applied ${name} ${list(r.network().get(r.node(name)).applied)}`);
    },
  },
  log: {
    usage: 'log <ids...>',
    run: (r, ids) => {
      for (const name of ids) {
        const raft = r.network().raft(r.node(name));
        const ents = allEntries(raft).map((e) => `${e.index}/${e.term}`);
        r.trace.push(`log ${name} first ${raft.log.firstIndex()} ${list(ents)}`);
      }
    },
  },
  conf: {
    usage: 'conf <ids...>',
    run: (r, ids) => {
      for (const name of ids) {
        const cs = r.network().raft(r.node(name)).confState();
        r.trace.push(`conf ${name} voters ${list(cs.voters)} learners ${list(cs.learners)}`);
      }
    },
  },
  reads: {
    usage: 'reads <ids...>',
    run: (r, ids) => {
      for (const name of ids) {
        const rs = r.network().get(r.node(name)).readStates.map((s) => `${text(s.context)}@${s.index}`);
        r.trace.push(`reads ${name} ${list(rs)}`);
      }
    },
  },
};

function execute(s: Scenario): string[] {
  const r = new Run();
  for (const line of s.commands) {
    const [name, ...args] = line.split(/\s+/);
    const spec = name !== undefined && Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!spec) throw new Error(`unknown command: ${line}`);
    try {
      spec.run(r, args);
    } catch (e) {
      throw new Error(`${line}: ${e instanceof Error ? e.message : String(e)} (usage: ${spec.usage})`, { cause: e });
    }
  }
  return r.trace;
}

const files = readdirSync(dataDir).filter((f) => f.endsWith('.txt')).sort();

for (const file of files) {
  // Reference: Raft §5-§8 and Raft thesis §3.10, §4, §6.4, §9.6, as cited in each scenario's header.
  test(`scenario ${file}`, () => {
    const path = join(dataDir, file);
    const source = readFileSync(path, 'utf8');
    const scenario = parse(source);
    const actual = execute(scenario);
    if (process.env.RAFT_SCENARIO_REWRITE === '1') {
      const head = source.slice(0, source.indexOf(`\n${separator}\n`) + separator.length + 2);
      writeFileSync(path, `${head}${actual.join('\n')}\n`);
      return;
    }
    assert.deepEqual(actual, scenario.expected);
  });
}
