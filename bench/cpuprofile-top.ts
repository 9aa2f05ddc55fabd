// Where a V8 CPU profile (node --cpu-prof) spends its time: self time by function and by package or file.
// A reading aid for bench/smtp.ts --cpu-prof; standalone: node bench/cpuprofile-top.ts FILE.cpuprofile [TOP]

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** node_modules/<pkg> (or @scope/pkg), src/<subsystem>, node:internal..., or a V8 pseudo-node like (garbage collector). */
function groupOf(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  const s = /\/(src|bench|bin)\/([^/]+)/.exec(url);
  if (s) return `${s[1]}/${s[2]}`;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return url;
}

export async function summarizeProfile(file: string, top = 20): Promise<string> {
  const p = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const fns = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)' || cf.functionName === '(program)') continue;
    total += us;
    const where = cf.url === '' ? '' : ` ${cf.url.replace(/^.*\/(node_modules|src|bench)\//, '$1/')}:${cf.lineNumber + 1}`;
    const key = `${cf.functionName || '(anonymous)'}${where}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const g = groupOf(cf.url, cf.functionName);
    groups.set(g, (groups.get(g) ?? 0) + us);
  }
  const wallMs = (p.endTime - p.startTime) / 1000;
  const line = ([k, us]: [string, number]): string => `  ${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`;
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `profile ${file}: ${wallMs.toFixed(0)} ms wall, ${(total / 1000).toFixed(0)} ms on the JS thread (idle excluded)`,
    'self time by package / subsystem:',
    ...sorted(groups).map(line),
    'self time by function:',
    ...sorted(fns).map(line),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: node bench/cpuprofile-top.ts FILE.cpuprofile [TOP]');
    process.exitCode = 2;
  } else {
    console.log(await summarizeProfile(file, Number(top ?? 20)));
  }
}
