// fsync helpers for swapping a whole LevelDB folder in: every file, then the folders that name them.
// Must not decide what is swapped or when; the state machine does.

import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** fsync a directory, so a rename or a new name in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync every regular file directly in `dir`, then `dir` itself (LevelDB folders are flat). */
export async function fsyncTree(dir: string): Promise<void> {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    if (!ent.isFile()) continue;
    const fh = await open(join(dir, ent.name), 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  await fsyncDir(dir);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The folders a swap uses beside `dir`. */
export const swapPaths = (dir: string): { incoming: string; old: string } => ({ incoming: `${dir}.incoming`, old: `${dir}.old` });

/**
 * Replace `dir` by `incoming` (complete and fsynced): dir -> old, incoming -> dir, remove old.
 * A crash at any point leaves either the old or the new folder at `dir` once recoverSwap ran.
 */
export async function swapIn(dir: string, incoming: string): Promise<void> {
  const { old } = swapPaths(dir);
  await rm(old, { recursive: true, force: true });
  await rename(dir, old);
  await fsyncDir(dirname(dir));
  await rename(incoming, dir);
  await fsyncDir(dirname(dir));
  await rm(old, { recursive: true, force: true });
}

/**
 * After a crash during swapIn: with `dir` gone, the old folder goes back (the Raft snapshot that
 * asked for the new one is still stored, so the node fetches it again). Leftovers are removed.
 */
export async function recoverSwap(dir: string): Promise<void> {
  const { incoming, old } = swapPaths(dir);
  if (!(await exists(dir)) && (await exists(old))) {
    await rename(old, dir);
    await fsyncDir(dirname(dir));
  }
  await rm(old, { recursive: true, force: true });
  await rm(incoming, { recursive: true, force: true });
}
