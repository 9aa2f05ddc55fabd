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

/**
 * Checks that `history` is linearizable with respect to a map of independent registers
 * (initial value null). Keys are checked one at a time (P-compositionality); the first key, in
 * order of first appearance, whose sub-history is not linearizable is reported. A key whose search
 * exceeds `stepsMax` steps counts as unknown: ok stays true and `exhausted` is set.
 * Throws on a malformed history (duplicate ids, ret before call, output present iff ret present).
 */
export function checkLinearizable(history: readonly Operation[], opts?: { stepsMax?: number }): CheckResult {
  const stepsMax = opts?.stepsMax ?? DEFAULT_STEPS_MAX;
  validate(history);

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
    if (verdict.kind === 'fail') return { ok: false, key, explanation: explain(key, ops, relevant, verdict) };
    if (verdict.kind === 'exhausted') exhaustedKeys.push(key);
  }
  if (exhaustedKeys.length > 0) {
    const keys = exhaustedKeys.map((k) => JSON.stringify(k)).join(', ');
    return {
      ok: true,
      exhausted: true,
      explanation: `search budget of ${stepsMax} steps per key exhausted on key(s) ${keys}; result unknown for them`,
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

interface KeyVerdict {
  kind: 'ok' | 'fail' | 'exhausted';
  steps: number;
  /** Longest linearizable prefix found, in order, as indices into the key's (pruned) op array. */
  prefix: number[];
}

// Register states inside the search are small integers: null, one shared id for "a value no op left
// can tell apart" (no remaining get returns it, no remaining cas expects it), then one id per value
// that some op reads. A state whose value has no readers left is folded into the shared id.
const S_NULL = 0;
const S_DEAD = 1;
const K_GET = 0;
const K_PUT = 1;
const K_CAS = 2;
const CAS_FAILED = 0;
const CAS_OK = 1;
const CAS_PENDING = 2;

/**
 * Wing & Gong backtracking search over one key's ops, with Lowe's memoization of configurations.
 *
 * Completed ops' call and return entries live in a doubly linked list over typed arrays (by time,
 * calls before returns at equal time, so touching intervals count as concurrent); linearizing an op
 * lifts both entries out, backtracking puts them back. A completed op may go next iff its call entry
 * precedes the first return entry left. Pending ops (return at +infinity) sit in a second linked list
 * by call time; one may go next iff it was called no later than that first return. At each
 * configuration the completed candidates are tried first, then the pending ones.
 *
 * A configuration is (completed set, pending set, state). Leaving a pending op out is never worse
 * than having linearized it (it is optional and never blocks a return), so a configuration is pruned
 * when a fully explored, failed one has the same completed set and state and a subset of its pending
 * ops; without pending ops this is exactly the usual visited set. Moves whose result is reachable,
 * or dominated, along a path the search does take are not tried:
 * - a pending op that leaves the state unchanged;
 * - right after a pending op, an op that reaches the same state if taken in its place, or (for a
 *   completed op) if taken just before it;
 * - all pending puts of values no remaining op reads lead to interchangeable configurations, so
 *   only the earliest eligible one is tried.
 */
function checkKey(ops: readonly Operation[], stepsMax: number): KeyVerdict {
  const n = ops.length;

  // ----- the model, compiled to integers -----
  const valueIds = new Map<string, number>();
  const readValue = (v: string | null): void => {
    if (v !== null && !valueIds.has(v)) valueIds.set(v, valueIds.size + 2);
  };
  for (const op of ops) {
    if (op.output?.kind === 'get') readValue(op.output.value);
    if (op.input.kind === 'cas') readValue(op.input.expect);
  }
  const stateOf = (v: string | null): number => (v === null ? S_NULL : (valueIds.get(v) ?? S_DEAD));
  const opKind = new Uint8Array(n);
  const opArg = new Int32Array(n); // get: state it saw; put: state it writes; cas: state it expects
  const opWrite = new Int32Array(n); // cas: state it writes
  const opCas = new Uint8Array(n); // cas: CAS_FAILED, CAS_OK or CAS_PENDING
  const opReads = new Int32Array(n).fill(-1); // value id the op reads (get result, cas expectation), if any
  const readersLeft = new Int32Array(valueIds.size + 2); // per value id: unlinearized ops reading it
  for (let i = 0; i < n; i++) {
    const { input, output } = ops[i]!;
    if (input.kind === 'get') {
      opKind[i] = K_GET;
      opArg[i] = output?.kind === 'get' ? stateOf(output.value) : -1; // pending gets were pruned
    } else if (input.kind === 'put') {
      opKind[i] = K_PUT;
      opArg[i] = stateOf(input.value);
    } else {
      opKind[i] = K_CAS;
      opArg[i] = stateOf(input.expect);
      opWrite[i] = stateOf(input.value);
      opCas[i] = output === null ? CAS_PENDING : output.kind === 'cas' && output.ok ? CAS_OK : CAS_FAILED;
    }
    if (opKind[i] !== K_PUT && opArg[i]! >= 2) {
      opReads[i] = opArg[i]!;
      readersLeft[opArg[i]!]!++;
    }
  }
  const canon = (s: number): number => (s >= 2 && readersLeft[s] === 0 ? S_DEAD : s);
  /** Raw state after op i from state s, or -1 if op i's observed output is impossible from s. */
  const step = (s: number, i: number): number => {
    switch (opKind[i]) {
      case K_GET:
        return s === opArg[i] ? s : -1;
      case K_PUT:
        return opArg[i]!;
      default: {
        const hit = s === opArg[i];
        const outcome = opCas[i];
        if (outcome !== CAS_PENDING && (outcome === CAS_OK) !== hit) return -1;
        return hit ? opWrite[i]! : s;
      }
    }
  };

  // ----- completed ops: entry list -----
  const cOps: number[] = [];
  const pOps: number[] = [];
  for (let i = 0; i < n; i++) (ops[i]!.ret === null ? pOps : cOps).push(i);
  cOps.sort((a, b) => ops[a]!.call - ops[b]!.call || ops[a]!.id - ops[b]!.id); // completed index = call order
  const m = cOps.length;
  const k = pOps.length;
  if (m === 0) return { kind: 'ok', steps: 0, prefix: [] };

  const events: { time: number; isCall: boolean; c: number }[] = [];
  for (let c = 0; c < m; c++) {
    const op = ops[cOps[c]!]!;
    events.push({ time: op.call, isCall: true, c });
    events.push({ time: op.ret!, isCall: false, c });
  }
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return ops[cOps[a.c]!]!.id - ops[cOps[b.c]!]!.id;
  });
  // Entry 0 is the head, 1..2m the events, 2m+1 the tail.
  const HEAD = 0;
  const size = 2 * m + 2;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const entryC = new Int32Array(size);
  const entryIsCall = new Uint8Array(size);
  const entryTime = new Float64Array(size);
  const callEntry = new Int32Array(m);
  const retEntry = new Int32Array(m);
  for (let e = 0; e < size; e++) {
    next[e] = e + 1;
    prev[e] = e - 1;
  }
  for (let j = 0; j < events.length; j++) {
    const ev = events[j]!;
    entryC[j + 1] = ev.c;
    entryIsCall[j + 1] = ev.isCall ? 1 : 0;
    entryTime[j + 1] = ev.time;
    if (ev.isCall) callEntry[ev.c] = j + 1;
    else retEntry[ev.c] = j + 1;
  }

  // ----- pending ops: list by call time; node 0 is the head, p+1 is pending op p, k+1 the tail -----
  pOps.sort((a, b) => ops[a]!.call - ops[b]!.call || ops[a]!.id - ops[b]!.id);
  const PHEAD = 0;
  const PTAIL = k + 1;
  const pnext = new Int32Array(k + 2);
  const pprev = new Int32Array(k + 2);
  const nodeCall = new Float64Array(k + 2);
  for (let p = 0; p < k + 2; p++) {
    pnext[p] = p + 1;
    pprev[p] = p - 1;
  }
  for (let p = 0; p < k; p++) nodeCall[p + 1] = ops[pOps[p]!]!.call;

  const pendingNode = new Int32Array(n); // per op: its pending node, 0 for completed ops
  const completedIndex = new Int32Array(n); // per op: its index among completed ops
  for (let c = 0; c < m; c++) completedIndex[cOps[c]!] = c;
  for (let p = 0; p < k; p++) pendingNode[pOps[p]!] = p + 1;

  // ----- linearized sets and memo -----
  const cbits = new Uint32Array(Math.ceil(m / 32));
  const cbitChars = new Uint16Array(cbits.buffer);
  const pbits = new Uint32Array(Math.ceil(k / 32));
  const mark = (i: number): void => {
    const pn = pendingNode[i]!;
    if (pn === 0) cbits[completedIndex[i]! >>> 5]! |= 1 << (completedIndex[i]! & 31);
    else pbits[(pn - 1) >>> 5]! |= 1 << ((pn - 1) & 31);
    if (opReads[i]! >= 0) readersLeft[opReads[i]!]!--;
  };
  const unmark = (i: number): void => {
    const pn = pendingNode[i]!;
    if (pn === 0) cbits[completedIndex[i]! >>> 5]! &= ~(1 << (completedIndex[i]! & 31));
    else pbits[(pn - 1) >>> 5]! &= ~(1 << ((pn - 1) & 31));
    if (opReads[i]! >= 0) readersLeft[opReads[i]!]!++;
  };
  // The completed set is keyed compactly: `low` (every completed op before it in call order is
  // linearized) plus the bitset words from low's word up to the highest linearized op's word. Real
  // time keeps that window about as wide as the number of ops in flight.
  let low = 0;
  let high = -1;
  const advanceLow = (from: number): number => {
    let l = from;
    while (l < m && (cbits[l >>> 5]! & (1 << (l & 31))) !== 0) l++;
    return l;
  };
  const memoKey = (lo: number, hi: number, s: number): string => {
    const head = String.fromCharCode(lo & 0xffff, lo >>> 16, s & 0xffff, s >>> 16);
    if (hi < lo) return head;
    const words = cbitChars.subarray(2 * (lo >>> 5), 2 * ((hi >>> 5) + 1));
    return head + String.fromCharCode.apply(null, words as unknown as number[]);
  };
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
    let keep = 0; // drop the entries the new one dominates (its supersets)
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

  // ----- search -----
  // Stack: op (index into ops), the state before it, and, for resuming the scan of pending ops in the
  // configuration it was taken from, that configuration's first-return time and whether the scan had
  // already met a put of a dead value.
  const stackOp = new Int32Array(m + k);
  const stackState = new Int32Array(m + k);
  const stackFirstRet = new Float64Array(m + k);
  const stackDeadSeen = new Uint8Array(m + k);
  const stackLow = new Int32Array(m + k);
  const stackHigh = new Int32Array(m + k);
  let depth = 0;
  let state = S_NULL;
  let remaining = m;

  // Longest prefix: snapshot the stack lazily, on the first backtrack after reaching a new depth.
  let bestDepth = 0;
  let bestDirty = false;
  let bestPrefix: number[] = [];

  /**
   * With op i already marked: true if the top of the stack is a pending op r, and op i reaches
   * `after` too when taken in r's place (the sibling without r dominates), or, for a completed op i,
   * when taken just before r (the two commute; that order is explored from the parent).
   */
  const redundantAfterPending = (i: number, after: number, iIsPending: boolean): boolean => {
    if (depth === 0) return false;
    const top = stackOp[depth - 1]!;
    if (pendingNode[top] === 0) return false;
    const before = step(stackState[depth - 1]!, i);
    if (before < 0) return false;
    return canon(before) === after || (!iIsPending && canon(step(before, top)) === after);
  };

  const PHASE_COMPLETED = 1;
  const PHASE_PENDING = 2;
  const PHASE_DONE = 3;
  let phase = PHASE_COMPLETED;
  let entry = next[HEAD]!; // cursor in the entry list
  let pnode = PTAIL; // cursor in the pending list
  let firstRet = Infinity; // time of the first return entry left (pending phase)
  let deadSeen = false; // pending phase: a put of a dead value was already met in this configuration
  let steps = 0;

  while (remaining > 0) {
    if (++steps > stepsMax) {
      const prefix = bestDirty ? Array.from(stackOp.subarray(0, depth)) : bestPrefix;
      return { kind: 'exhausted', steps, prefix };
    }

    if (phase === PHASE_COMPLETED) {
      if (entryIsCall[entry] === 1) {
        const c = entryC[entry]!;
        const i = cOps[c]!;
        const raw = step(state, i);
        if (raw >= 0) {
          mark(i);
          const after = canon(raw);
          const newLow = c === low ? advanceLow(low + 1) : low;
          const newHigh = c > high ? c : high;
          if (!redundantAfterPending(i, after, false) && !dominated(memoKey(newLow, newHigh, after))) {
            stackOp[depth] = i;
            stackState[depth] = state;
            stackLow[depth] = low;
            stackHigh[depth] = high;
            low = newLow;
            high = newHigh;
            depth++;
            state = after;
            remaining--;
            if (depth > bestDepth) {
              bestDepth = depth;
              bestDirty = true;
            }
            const r = retEntry[c]!;
            next[prev[entry]!] = next[entry]!;
            prev[next[entry]!] = prev[entry]!;
            next[prev[r]!] = next[r]!;
            prev[next[r]!] = prev[r]!;
            entry = next[HEAD]!;
            continue;
          }
          unmark(i);
        }
        entry = next[entry]!;
        continue;
      }
      // The first return entry left (a completed op remains, so never the tail): on to pending ops.
      firstRet = entryTime[entry]!;
      phase = PHASE_PENDING;
      pnode = pnext[PHEAD]!;
      deadSeen = false;
      continue;
    }

    if (phase === PHASE_PENDING) {
      // Cheap filters first, without counting steps: puts of dead values after the first, and no-ops.
      let node = -1;
      while (pnode !== PTAIL && nodeCall[pnode]! <= firstRet) {
        const candidate = pnode;
        pnode = pnext[pnode]!;
        const i = pOps[candidate - 1]!;
        if (opKind[i] === K_PUT && canon(opArg[i]!) === S_DEAD) {
          if (deadSeen) continue;
          deadSeen = true;
        }
        if (canon(step(state, i)) !== state) {
          node = candidate;
          break;
        }
      }
      if (node < 0) {
        phase = PHASE_DONE;
        continue;
      }
      const i = pOps[node - 1]!;
      mark(i);
      const after = canon(step(state, i)); // pending ops always fit
      if (redundantAfterPending(i, after, true) || dominated(memoKey(low, high, after))) {
        unmark(i);
        continue;
      }
      stackOp[depth] = i;
      stackState[depth] = state;
      stackLow[depth] = low;
      stackHigh[depth] = high;
      stackFirstRet[depth] = firstRet;
      stackDeadSeen[depth] = deadSeen ? 1 : 0;
      depth++;
      state = after;
      if (depth > bestDepth) {
        bestDepth = depth;
        bestDirty = true;
      }
      pnext[pprev[node]!] = pnext[node]!;
      pprev[pnext[node]!] = pprev[node]!;
      phase = PHASE_COMPLETED;
      entry = next[HEAD]!;
      continue;
    }

    // PHASE_DONE: every way forward from this configuration failed. Record it and backtrack.
    if (depth === 0) return { kind: 'fail', steps, prefix: bestPrefix };
    recordFailed(memoKey(low, high, state));
    if (bestDirty) {
      bestPrefix = Array.from(stackOp.subarray(0, depth));
      bestDirty = false;
    }
    depth--;
    const i = stackOp[depth]!;
    state = stackState[depth]!;
    low = stackLow[depth]!;
    high = stackHigh[depth]!;
    unmark(i);
    const pn = pendingNode[i]!;
    if (pn === 0) {
      remaining++;
      const c = completedIndex[i]!;
      const ce = callEntry[c]!;
      const r = retEntry[c]!;
      next[prev[r]!] = r;
      prev[next[r]!] = r;
      next[prev[ce]!] = ce;
      prev[next[ce]!] = ce;
      phase = PHASE_COMPLETED;
      entry = next[ce]!;
    } else {
      pnext[pprev[pn]!] = pn;
      pprev[pnext[pn]!] = pn;
      phase = PHASE_PENDING;
      pnode = pnext[pn]!;
      firstRet = stackFirstRet[depth]!;
      deadSeen = stackDeadSeen[depth] === 1;
    }
  }
  return { kind: 'ok', steps, prefix: Array.from(stackOp.subarray(0, depth)) };
}

// ----- explanation -----

const FULL_LISTING_MAX = 60;
const PREFIX_TAIL_SHOWN = 10;

/** The register model on real values: state after `op`, or undefined if its output is impossible. */
function apply(state: string | null, op: Operation): string | null | undefined {
  const { input, output } = op;
  switch (input.kind) {
    case 'get':
      if (output === null) return state;
      return output.kind === 'get' && output.value === state ? state : undefined;
    case 'put':
      return input.value;
    case 'cas': {
      const hit = state === input.expect;
      if (output !== null && (output.kind !== 'cas' || output.ok !== hit)) return undefined;
      return hit ? input.value : state;
    }
  }
}

/**
 * Most useful first (callers may truncate): where the search got stuck, then the tail of the longest
 * linearizable prefix, then (for short sub-histories) every op on the key.
 */
function explain(key: string, all: readonly Operation[], ops: readonly Operation[], verdict: KeyVerdict): string {
  const lines: string[] = [];
  const prefix = verdict.prefix;
  const inPrefix = new Set(prefix);
  let state: string | null = null;
  for (const i of prefix) state = apply(state, ops[i]!) ?? state;

  // Every extension of the prefix got stuck before the earliest return among the ops left out.
  let stuckAt = Infinity;
  for (let i = 0; i < ops.length; i++) {
    const ret = ops[i]!.ret;
    if (!inPrefix.has(i) && ret !== null && ret < stuckAt) stuckAt = ret;
  }
  const candidates: Operation[] = [];
  for (let i = 0; i < ops.length; i++) if (!inPrefix.has(i) && ops[i]!.call <= stuckAt) candidates.push(ops[i]!);
  candidates.sort(byCall);

  lines.push(`key ${JSON.stringify(key)} is not linearizable (${all.length} ops, ${verdict.steps} search steps).`);
  lines.push(
    `Longest linearizable prefix: ${prefix.length} ops, leaving the register at ${fmtValue(state)}; ` +
      `no order of these ops, called by time ${stuckAt}, extends it:`,
  );
  for (const op of candidates) lines.push(`  ${fmtOp(op)}`);
  const shownFrom = Math.max(0, prefix.length - PREFIX_TAIL_SHOWN);
  lines.push(`End of that prefix (linearization order)${shownFrom > 0 ? `, after ${shownFrom} earlier ops` : ''}:`);
  for (let p = shownFrom; p < prefix.length; p++) lines.push(`  ${p + 1}. ${fmtOp(ops[prefix[p]!]!)}`);

  const sorted = [...all].sort(byCall);
  if (sorted.length <= FULL_LISTING_MAX) {
    lines.push(`All ops on this key, by call time:`);
    for (const op of sorted) lines.push(`  ${fmtOp(op)}`);
  } else {
    lines.push(`(${sorted.length} ops on this key; full listing omitted.)`);
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
