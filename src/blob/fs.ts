// The few file-system calls the blob store makes, as an interface, with node:fs/promises as the default.
// Exists so tests can inject faults (EDQUOT, EIO) a real disk will not produce on demand; holds no policy.

import * as fsp from 'node:fs/promises';

export interface BlobFileStat {
  readonly size: number;
  readonly ino: number;
  readonly mtimeMs: number;
  isFile(): boolean;
}

/** The subset of node:fs/promises FileHandle the store uses. */
export interface BlobFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  stat(): Promise<BlobFileStat>;
  /** fsync(2): data and metadata; on a directory handle it persists the directory's entries. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface BlobFs {
  open(path: string, flags: string, mode?: number): Promise<BlobFileHandle>;
  mkdir(path: string, opts: { recursive: boolean; mode?: number }): Promise<void>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<BlobFileStat>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  utimes(path: string, atime: Date, mtime: Date): Promise<void>;
}

export const nodeBlobFs: BlobFs = {
  open: (path, flags, mode) => fsp.open(path, flags, mode),
  mkdir: async (path, opts) => {
    await fsp.mkdir(path, opts);
  },
  readdir: (path) => fsp.readdir(path),
  stat: (path) => fsp.stat(path),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  utimes: (path, atime, mtime) => fsp.utimes(path, atime, mtime),
};
