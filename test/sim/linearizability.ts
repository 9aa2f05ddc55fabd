// Owns the linearizability checker for client histories of the replicated key-value store (Wing & Gong search, memoized, per key).
// Pure: it must do no I/O, use no timers and no randomness; same history in, same verdict and explanation out.

export type KvInput =
  | { kind: 'get'; key: string }
  | { kind: 'put'; key: string; value: string }
  | { kind: 'cas'; key: string; expect: string | null; value: string }; // compare-and-set: succeeds if current value === expect (null = absent)

export type KvOutput =
  | { kind: 'get'; value: string | null }
  | { kind: 'put' }
  | { kind: 'cas'; ok: boolean };

export interface Operation {
  id: number; // unique per history
  client: number; // client id; one client has at most one op outstanding
  call: number; // logical time the call was issued (ticks), inclusive
  ret: number | null; // logical time the response arrived; null = no response: may or may not have taken effect, at any time after call
  input: KvInput;
  output: KvOutput | null; // null iff ret === null
}

export interface CheckResult {
  ok: boolean;
  key?: string; // the first key whose sub-history is not linearizable
  explanation?: string; // human-readable: the ops of that key and the longest linearizable prefix found
  exhausted?: boolean; // true if a search budget was hit (result unknown); ok is then true but exhausted marks it
}

const DEFAULT_STEPS_MAX = 5_000_000;

/** Register state: the value of one key, null when absent. */
type State = string | null;

interface KeyVerdict {
  kind: 'ok' | 'fail' | 'exhausted';
  steps: number;
  /** Longest linearizable prefix found (indices into the key's op array) and the state after it. */
  prefix: number[];
  prefixState: State;
}

/**
 * Checks that `history` is linearizable with respect to a map of independent registers
 * (initial value null). Keys are checked one at a time (P-compositionality); the first key
 * whose sub-history is not linearizable is reported. Throws on a malformed history.
 */
export function checkLinearizable(history: readonly Operation[], opts?: { stepsMax?: number }): CheckResult {
  const stepsMax = opts?.stepsMax ?? DEFAULT_STEPS_MAX;
  validate(history);

  // Partition by key, keys in order of first appearance (deterministic).
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    let ops = byKey.get(op.input.key);
    if (ops === undefined) {
      ops = [];
      byKey.set(op.input.key, ops);
    }
    ops.push(op);
  }

  const exhaustedKeys: string[] = [];
  for (const [key, ops] of byKey) {
    const relevant = pruneIrrelevant(ops);
    const verdict = checkKey(relevant, stepsMax);
    if (verdict.kind === 'fail') {
      return { ok: false, key, explanation: explain(key, ops, relevant, verdict) };
    }
    if (verdict.kind === 'exhausted') exhaustedKeys.push(key);
  }
  if (exhaustedKeys.length > 0) {
    return {
      ok: true,
      exhausted: true,
      explanation: `search budget of ${stepsMax} steps per key exhausted on key(s) ${exhaustedKeys.map((k) => JSON.stringify(k)).join(', ')}; result unknown for them`,
    };
  }
  return { ok: true };
}

function validate(history: readonly Operation[]): void {
  const ids = new Set<number>();
  for (const op of history) {
    if (ids.has(op.id)) throw new Error(`linearizability: duplicate op id ${op.id}`);
    ids.add(op.id);
    if (!Number.isFinite(op.call)) throw new Error(`linearizability: op ${op.id} has a non-finite call time`);
    if (op.ret === null) {
      if (op.output !== null) throw new Error(`linearizability: op ${op.id} has no return but has an output`);
      continue;
    }
    if (!Number.isFinite(op.ret)) throw new Error(`linearizability: op ${op.id} has a non-finite return time`);
    if (op.ret < op.call) throw new Error(`linearizability: op ${op.id} returns (${op.ret}) before its call (${op.call})`);
    if (op.output === null) throw new Error(`linearizability: op ${op.id} has a return but no output`);
    if (op.output.kind !== op.input.kind) {
      throw new Error(`linearizability: op ${op.id} is a ${op.input.kind} but has a ${op.output.kind} output`);
    }
  }
}

/**
 * Drops pending ops that cannot matter: pending gets (no effect, output unconstrained) and pending
 * ops called strictly after every completed op returned (they can always be linearized last, or dropped).
 */
function pruneIrrelevant(ops: readonly Operation[]): Operation[] {
  let lastRet = -Infinity;
  for (const op of ops) if (op.ret !== null && op.ret > lastRet) lastRet = op.ret;
  return ops.filter((op) => op.ret !== null || (op.input.kind !== 'get' && op.call <= lastRet));
}

/**
 * Wing & Gong backtracking search over one key's ops, with Lowe's memoization of
 * (linearized set, state) configurations.
 *
 * Completed ops' call and return entries live in a doubly linked list over typed arrays (ordered by
 * time, calls before returns at equal time); linearizing an op lifts both entries out, backtracking
 * restores them. A completed op may go next iff its call entry precedes the first return entry left.
 * Pending ops (return at +infinity) sit in a second linked list ordered by call time; one may go next
 * iff it was called no later than that first return, and they are tried after the completed ones.
 *
 * Memo: a configuration is (completed set, pending set, state). Leaving out a pending op is never
 * worse than having linearized it (it is optional and its return never blocks anything), so a
 * configuration is pruned when a fully explored, failed one has the same completed set and state and
 * a subset of its pending ops. Without pending ops this is exactly the usual visited-set memo.
 */
function checkKey(ops: readonly Operation[], stepsMax: number): KeyVerdict {
  const cOps: number[] = []; // indices into ops of completed ops
  const pOps: number[] = []; // indices into ops of pending ops, by call time
  for (let i = 0; i < ops.length; i++) (ops[i]!.ret === null ? pOps : cOps).push(i);
  const m = cOps.length;
  const k = pOps.length;
  if (m === 0) return { kind: 'ok', steps: 0, prefix: [], prefixState: null };
  pOps.sort((a, b) => ops[a]!.call - ops[b]!.call || ops[a]!.id - ops[b]!.id);

  const events: { time: number; isCall: boolean; op: number }[] = [];
  for (let c = 0; c < m; c++) {
    const op = ops[cOps[c]!]!;
    events.push({ time: op.call, isCall: true, op: c });
    events.push({ time: op.ret!, isCall: false, op: c });
  }
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return ops[cOps[a.op]!]!.id - ops[cOps[b.op]!]!.id;
  });

  // Completed list: entry 0 is the head, 1..2m the events, 2m+1 the tail.
  const HEAD = 0;
  const TAIL = 2 * m + 1;
  const next = new Int32Array(2 * m + 2);
  const prev = new Int32Array(2 * m + 2);
  const entryOp = new Int32Array(2 * m + 2);
  const entryIsCall = new Uint8Array(2 * m + 2);
  const entryTime = new Float64Array(2 * m + 2);
  const callEntry = new Int32Array(m);
  const retEntry = new Int32Array(m);
  for (let e = 0; e < 2 * m + 2; e++) {
    next[e] = e + 1;
    prev[e] = e - 1;
  }
  entryTime[TAIL] = Infinity;
  for (let j = 0; j < events.length; j++) {
    const ev = events[j]!;
    const e = j + 1;
    entryOp[e] = ev.op;
    entryIsCall[e] = ev.isCall ? 1 : 0;
    entryTime[e] = ev.time;
    if (ev.isCall) callEntry[ev.op] = e;
    else retEntry[ev.op] = e;
  }

  // Pending list: node 0 is the head, node p+1 is pending op p, node k+1 the tail.
  const PHEAD = 0;
  const PTAIL = k + 1;
  const pnext = new Int32Array(k + 2);
  const pprev = new Int32Array(k + 2);
  for (let p = 0; p < k + 2; p++) {
    pnext[p] = p + 1;
    pprev[p] = p - 1;
  }
  const pCall = new Float64Array(k + 2);
  for (let p = 0; p < k; p++) pCall[p + 1] = ops[pOps[p]!]!.call;

  // Linearized sets as bitsets; a 16-bit view of the completed one makes a compact exact memo key.
  const cbits = new Uint32Array(Math.ceil(m / 32));
  const cbitChars = new Uint16Array(cbits.buffer);
  const pbits = new Uint32Array(Math.ceil(k / 32));
  const memoKey = (s: State): string =>
    String.fromCharCode.apply(null, cbitChars as unknown as number[]) + (s === null ? '\u0000' : '\u0001' + s);
  const failed = new Map<string, Uint32Array[]>(); // memo key -> pending sets of failed configurations
  const dominated = (key: string): boolean => {
    const list = failed.get(key);
    if (list === undefined) return false;
    outer: for (const f of list) {
      for (let w = 0; w < f.length; w++) if ((f[w]! & ~pbits[w]!) !== 0) continue outer;
      return true;
    }
    return false;
  };
  const recordFailed = (key: string): void => {
    const mine = pbits.slice();
    const list = failed.get(key);
    if (list === undefined) {
      failed.set(key, [mine]);
      return;
    }
    // drop entries that the new one dominates (supersets of it)
    let keep = 0;
    outer: for (const f of list) {
      for (let w = 0; w < f.length; w++) {
        if ((mine[w]! & ~f[w]!) !== 0) {
          list[keep++] = f;
          continue outer;
        }
      }
    }
    list.length = keep;
    list.push(mine);
  };

  // Stack of linearized ops: ops index, parent state, and the parent's first-return time (for pending resumption).
  const stackOp = new Int32Array(m + k);
  const stackState: State[] = new Array<State>(m + k).fill(null);
  const stackFirstRet = new Float64Array(m + k);
  const isPending = new Uint8Array(ops.length);
  const localIndex = new Int32Array(ops.length); // completed index or pending list node
  for (let c = 0; c < m; c++) localIndex[cOps[c]!] = c;
  for (let p = 0; p < k; p++) {
    isPending[pOps[p]!] = 1;
    localIndex[pOps[p]!] = p + 1;
  }
  let depth = 0;
  let state: State = null;
  let remaining = m;

  // Longest prefix bookkeeping: snapshot the stack lazily, on the first backtrack after a new maximum depth.
  let bestDepth = 0;
  let bestDirty = false;
  let bestPrefix: number[] = [];
  let bestState: State = null;

  const push = (opIndex: number, after: State, firstRet: number): void => {
    stackOp[depth] = opIndex;
    stackState[depth] = state;
    stackFirstRet[depth] = firstRet;
    depth++;
    state = after;
    if (depth > bestDepth) {
      bestDepth = depth;
      bestDirty = true;
    }
  };

  let steps = 0;
  let entry = next[HEAD]!; // cursor over completed entries (phase 1)
  let pnode = -1; // cursor over pending nodes (phase 2); -1 while in phase 1
  let firstRet = Infinity; // time of the first remaining return entry, valid in phase 2
  while (remaining > 0) {
    if (++steps > stepsMax) {
      if (bestDirty) return { kind: 'exhausted', steps, prefix: Array.from(stackOp.subarray(0, depth)), prefixState: state };
      return { kind: 'exhausted', steps, prefix: bestPrefix, prefixState: bestState };
    }
    if (pnode < 0) {
      if (entryIsCall[entry] === 1) {
        const c = entryOp[entry]!;
        const opIndex = cOps[c]!;
        const after = step(state, ops[opIndex]!);
        if (after !== undefined) {
          const w = c >>> 5;
          const mask = 1 << (c & 31);
          cbits[w] = cbits[w]! | mask;
          if (!dominated(memoKey(after))) {
            push(opIndex, after, Infinity);
            remaining--;
            const r = retEntry[c]!;
            next[prev[entry]!] = next[entry]!;
            prev[next[entry]!] = prev[entry]!;
            next[prev[r]!] = next[r]!;
            prev[next[r]!] = prev[r]!;
            entry = next[HEAD]!;
            continue;
          }
          cbits[w] = cbits[w]! & ~mask;
        }
        entry = next[entry]!;
        continue;
      }
      // First return entry (never the tail while a completed op remains): switch to pending ops.
      firstRet = entryTime[entry]!;
      pnode = pnext[PHEAD]!;
      continue;
    }
    if (pnode !== PTAIL && pCall[pnode]! <= firstRet) {
      const p = pnode - 1;
      const opIndex = pOps[p]!;
      const after = step(state, ops[opIndex]!)!; // pending ops always fit
      const w = p >>> 5;
      const mask = 1 << (p & 31);
      pbits[w] = pbits[w]! | mask;
      // A pending op that leaves the state unchanged leads to a configuration dominated by this one.
      if (after !== state && !dominated(memoKey(after))) {
        push(opIndex, after, firstRet);
        pnext[pprev[pnode]!] = pnext[pnode]!;
        pprev[pnext[pnode]!] = pprev[pnode]!;
        entry = next[HEAD]!;
        pnode = -1;
        continue;
      }
      pbits[w] = pbits[w]! & ~mask;
      pnode = pnext[pnode]!;
      continue;
    }
    // Every way forward from this configuration failed: record it and backtrack.
    if (depth === 0) return { kind: 'fail', steps, prefix: bestPrefix, prefixState: bestState };
    recordFailed(memoKey(state));
    if (bestDirty) {
      bestPrefix = Array.from(stackOp.subarray(0, depth));
      bestState = state;
      bestDirty = false;
    }
    depth--;
    const opIndex = stackOp[depth]!;
    state = stackState[depth]!;
    if (isPending[opIndex] === 1) {
      const node = localIndex[opIndex]!;
      const p = node - 1;
      pbits[p >>> 5] = pbits[p >>> 5]! & ~(1 << (p & 31));
      pnext[pprev[node]!] = node;
      pprev[pnext[node]!] = node;
      firstRet = stackFirstRet[depth]!;
      pnode = pnext[node]!;
    } else {
      const c = localIndex[opIndex]!;
      remaining++;
      cbits[c >>> 5] = cbits[c >>> 5]! & ~(1 << (c & 31));
      const ce = callEntry[c]!;
      const r = retEntry[c]!;
      next[prev[r]!] = r;
      prev[next[r]!] = r;
      next[prev[ce]!] = ce;
      prev[next[ce]!] = ce;
      entry = next[ce]!;
      pnode = -1;
    }
  }
  return { kind: 'ok', steps, prefix: Array.from(stackOp.subarray(0, depth)), prefixState: state };
}

/**
 * Register model. Returns the state after `op`, or undefined if `op`'s observed output is impossible
 * from `state`. Pending ops (no output) are unconstrained; a pending cas takes effect iff it would succeed.
 */
function step(state: State, op: Operation): State | undefined {
  const input = op.input;
  const output = op.output;
  switch (input.kind) {
    case 'get':
      if (output === null) return state;
      return output.kind === 'get' && output.value === state ? state : undefined;
    case 'put':
      return input.value;
    case 'cas': {
      const hit = state === input.expect;
      if (output === null) return hit ? input.value : state;
      if (output.kind !== 'cas' || output.ok !== hit) return undefined;
      return hit ? input.value : state;
    }
  }
}

const FULL_LISTING_MAX = 60;
const PREFIX_TAIL_SHOWN = 10;

function explain(key: string, all: readonly Operation[], ops: readonly Operation[], verdict: KeyVerdict): string {
  const lines: string[] = [];
  const prefix = verdict.prefix;
  const inPrefix = new Set(prefix);
  lines.push(`key ${JSON.stringify(key)} is not linearizable (${all.length} ops, search took ${verdict.steps} steps)`);

  lines.push(`longest linearizable prefix found: ${prefix.length} ops, leaving the register at ${fmtValue(verdict.prefixState)}`);
  const shownFrom = Math.max(0, prefix.length - PREFIX_TAIL_SHOWN);
  if (shownFrom > 0) lines.push(`  ... ${shownFrom} earlier ops`);
  for (let p = shownFrom; p < prefix.length; p++) lines.push(`  ${p + 1}. ${fmtOp(ops[prefix[p]!]!)}`);

  // The earliest-returning completed op left out of the prefix is where every extension got stuck.
  let stuckAt = Infinity;
  for (let i = 0; i < ops.length; i++) {
    const ret = ops[i]!.ret;
    if (!inPrefix.has(i) && ret !== null && ret < stuckAt) stuckAt = ret;
  }
  const candidates: Operation[] = [];
  for (let i = 0; i < ops.length; i++) if (!inPrefix.has(i) && ops[i]!.call <= stuckAt) candidates.push(ops[i]!);
  candidates.sort(byCall);
  lines.push(`ops not in that prefix that were called by time ${stuckAt} (none of them can come next):`);
  for (const op of candidates) lines.push(`  ${fmtOp(op)}`);

  const sorted = [...all].sort(byCall);
  if (sorted.length <= FULL_LISTING_MAX) {
    lines.push(`all ops on this key, by call time:`);
    for (const op of sorted) lines.push(`  ${fmtOp(op)}`);
  } else {
    lines.push(`(${sorted.length} ops on this key; full listing omitted)`);
  }
  return lines.join('\n');
}

function byCall(a: Operation, b: Operation): number {
  return a.call - b.call || a.id - b.id;
}

function fmtValue(v: string | null): string {
  return v === null ? 'null' : JSON.stringify(v);
}

function fmtOp(op: Operation): string {
  const input = op.input;
  let text: string;
  switch (input.kind) {
    case 'get':
      text = `get(${JSON.stringify(input.key)})`;
      break;
    case 'put':
      text = `put(${JSON.stringify(input.key)}, ${fmtValue(input.value)})`;
      break;
    case 'cas':
      text = `cas(${JSON.stringify(input.key)}, ${fmtValue(input.expect)} -> ${fmtValue(input.value)})`;
      break;
  }
  let result: string;
  const output = op.output;
  if (output === null) result = 'pending';
  else if (output.kind === 'get') result = fmtValue(output.value);
  else if (output.kind === 'put') result = 'ok';
  else result = output.ok ? 'ok' : 'failed';
  return `#${op.id} client ${op.client} [${op.call}, ${op.ret ?? '∞'}] ${text} => ${result}`;
}
