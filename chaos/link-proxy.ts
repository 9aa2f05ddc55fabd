// A fault-injecting TCP proxy for one directed inter-node link: bytes pass through until the link
// is cut, then every connection on it is destroyed and new ones are refused until it is healed.
// Chaos support only: it knows nothing of TLS or Raft (the bytes it carries stay encrypted).

import { type Server, type Socket, connect, createServer } from 'node:net';

export class LinkProxy {
  readonly name: string;
  private readonly server: Server;
  private readonly target: { host: string; port: number };
  private readonly sockets = new Set<Socket>();
  private up = true;
  /** Connections refused or torn down while the link was cut. */
  cuts = 0;

  private constructor(name: string, target: { host: string; port: number }) {
    this.name = name;
    this.target = target;
    this.server = createServer((client) => this.accept(client));
  }

  /** Listen on `port` (0 = ephemeral) of 127.0.0.1 and forward to `target`. */
  static async start(name: string, target: { host: string; port: number }, port = 0): Promise<LinkProxy> {
    const p = new LinkProxy(name, target);
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(port, '127.0.0.1', () => resolve());
    });
    return p;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  get isUp(): boolean {
    return this.up;
  }

  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.up = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (!this.up) {
      this.cuts++;
      client.destroy();
      return;
    }
    const upstream = connect(this.target);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
