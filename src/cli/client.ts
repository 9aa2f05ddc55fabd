// The CLI's client of a running node's admin API: finds it through data/endpoints.json and admin.token.
// HTTP only; it never opens the node's data files otherwise.

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export class AdminClient {
  private readonly base: string;
  private readonly token: string;

  constructor(base: string, token: string) {
    this.base = base;
    this.token = token;
  }

  static async fromDataDir(dataDir: string): Promise<AdminClient> {
    const dir = resolve(dataDir);
    let endpoints: { admin?: string };
    let token: string;
    try {
      endpoints = JSON.parse(await readFile(join(dir, 'endpoints.json'), 'utf8')) as { admin?: string };
      token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
    } catch {
      throw new Error(`no running node found in ${dir} (start one with: stormo up --data ${dataDir})`);
    }
    if (!endpoints.admin) throw new Error(`${join(dir, 'endpoints.json')} names no admin endpoint`);
    return new AdminClient(endpoints.admin, token);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      throw new Error(`cannot reach the node at ${this.base}: ${(e as Error).message}`);
    }
    if (res.status === 204) return undefined as T;
    const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    if (!res.ok) throw new Error(json.error ? `${json.error.code}: ${json.error.message}` : `HTTP ${res.status}`);
    return json as T;
  }
}
