// The simulator's replicated state machine: a key-value register map with client sessions.
// Deterministic apply; a (client, seq) pair applies once however often it is proposed (Raft thesis §6.3).

import type { KvInput, KvOutput } from './linearizability.ts';

export interface KvCommand {
  readonly client: number;
  readonly seq: number;
  readonly input: KvInput;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(dec.decode(data)) as KvCommand;
}

interface Session {
  seq: number;
  output: KvOutput;
}

export class KvStateMachine {
  private values = new Map<string, string>();
  private sessions = new Map<number, Session>();
  appliedIndex = 0;

  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  /** Apply one committed command; a duplicate of the session's last command returns its first result. */
  apply(index: number, c: KvCommand): KvOutput {
    this.appliedIndex = index;
    const s = this.sessions.get(c.client);
    if (s !== undefined && c.seq <= s.seq) return s.output;
    const output = this.exec(c.input);
    this.sessions.set(c.client, { seq: c.seq, output });
    return output;
  }

  private exec(input: KvInput): KvOutput {
    switch (input.kind) {
      case 'get':
        return { kind: 'get', value: this.get(input.key) };
      case 'put':
        this.values.set(input.key, input.value);
        return { kind: 'put' };
      case 'cas': {
        const ok = this.get(input.key) === input.expect;
        if (ok) this.values.set(input.key, input.value);
        return { kind: 'cas', ok };
      }
    }
  }

  skipTo(index: number): void {
    this.appliedIndex = index;
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify({ v: [...this.values], s: [...this.sessions], i: this.appliedIndex }));
  }

  static restore(data: Uint8Array): KvStateMachine {
    const kv = new KvStateMachine();
    if (data.byteLength === 0) return kv;
    const o = JSON.parse(dec.decode(data)) as { v: [string, string][]; s: [number, Session][]; i: number };
    kv.values = new Map(o.v);
    kv.sessions = new Map(o.s);
    kv.appliedIndex = o.i;
    return kv;
  }
}
