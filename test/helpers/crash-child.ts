// Crash tests: run a writer process, SIGKILL it some time after it says "open", keep its complete lines.
// Test support only; what a line means is the caller's business.

import { spawn } from 'node:child_process';

const nodeBin = new URL('../../node_modules/.bin/node', import.meta.url).pathname;

/**
 * Run `script args...` under Node; once it prints a line `open`, SIGKILL it after `delayMs`.
 * Every complete stdout line goes to `onLine` (a torn last line is not an acknowledgement).
 * Resolves with the number of lines when the kill ended it; rejects if it exited by itself.
 */
export function runUntilKilled(script: string, args: readonly string[], o: { delayMs: number; safetyMs: number; onLine: (line: string) => void }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(nodeBin, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    let stderr = '';
    let killed = false;
    let lines = 0;
    const safety = setTimeout(() => child.kill('SIGKILL'), o.safetyMs);
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.on('data', (b: Buffer) => {
      pending += b.toString();
      const complete = pending.split('\n');
      pending = complete.pop() ?? '';
      for (const line of complete) {
        lines++;
        if (line === 'open' || line.startsWith('open ')) {
          if (!killed) {
            killed = true;
            setTimeout(() => child.kill('SIGKILL'), o.delayMs);
          }
        } else o.onLine(line);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(safety);
      if (signal === 'SIGKILL' && killed) resolve(lines);
      else reject(new Error(`writer exited with code ${code} signal ${signal}: ${stderr}`));
    });
  });
}
