// Assertions for programmer errors: they throw and the process crashes; Raft recovery takes over.
// Never used for conditions an operator or a peer can cause (those are RaftError).

export class AssertionFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionFailure';
  }
}

export function assert(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new AssertionFailure(typeof message === 'string' ? message : message());
}
