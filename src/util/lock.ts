// One lock file per run folder (RUN/.lock, hard-linked into place whole, so it is never seen half-written) holding the owner's pid, hostname and start time,
// so two processes never write one run; a lock whose pid is gone on this host is stale and taken over. No tensor axes.
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError, log } from './log.ts';
import { pidAlive } from './fs.ts';

export const LOCK_FILE = '.lock';

interface LockInfo {
  pid: number;
  hostname: string;
  started_at: string;
  command?: string;
}

/** A held lock; release() removes the file (also done on exit, SIGTERM and SIGHUP; after a SIGINT that kills, the stale rule). */
export interface RunLock {
  path: string;
  release(): void;
}

const held = new Map<string, RunLock>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const releaseAll = () => {
    for (const l of [...held.values()]) l.release();
  };
  process.once('exit', releaseAll);
  // a signal ends the process: the exit handler runs only if something calls process.exit, so do it here
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      releaseAll();
      process.exit(128 + (sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0; // gone meanwhile
  }
}

function readLock(path: string): LockInfo | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return typeof v.pid === 'number' ? v : undefined;
  } catch {
    return undefined; // torn or empty: being written right now, or left by a crash mid-write
  }
}

/**
 * Takes RUN/.lock for this process (creating RUN). Another live process holding it → a UserError naming its pid;
 * a lock of a dead pid on this host (or an unreadable one older than a minute) → taken over with a warning. The same
 * process locking again (a study training in-process) shares the lock.
 */
export function lockRunFolder(dir: string, command = process.argv.slice(2, 3).join(' ')): RunLock {
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const mine = held.get(path);
  if (mine) return { path, release: () => {} }; // re-entrant: the outer holder releases it
  const info: LockInfo = { pid: process.pid, hostname: hostname(), started_at: new Date().toISOString(), command };
  // the lock's text is written to a private file first and hard-linked into place: link() fails with EEXIST like
  // O_EXCL, and a reader never sees the lock empty or half-written (which once let a second `train` take it over)
  const draft = `${path}.${process.pid}.tmp`;
  writeFileSync(draft, JSON.stringify(info) + '\n');
  try {
    for (let attempt = 0; ; attempt++) {
      if (attempt === 3) throw new UserError(`${dir}: could not take the run lock ${path} (another process keeps taking it)`);
      try {
        linkSync(draft, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`${dir}: cannot create the run lock ${path} (${(e as Error).message})`);
      }
      const other = readLock(path);
      if (other && other.pid === process.pid && other.hostname === info.hostname) {
        rmSync(path, { force: true }); // ours from a released-then-crashed path: take it again
        continue;
      }
      if (other && other.hostname !== info.hostname) {
        throw new UserError(`${dir}: in use by pid ${other.pid} on ${other.hostname} since ${other.started_at} (${path}); if that process is gone, delete the lock file`);
      }
      if (other && pidAlive(other.pid)) {
        throw new UserError(`${dir}: in use by pid ${other.pid} (${other.command || 'emlens'}, since ${other.started_at}); wait for it to finish, or choose another folder`);
      }
      if (!other && Date.now() - mtimeMs(path) < 60_000) {
        // unreadable and recent: not a crash leftover (locks appear whole) but a foreign or damaged file; keep off it
        throw new UserError(`${dir}: the run lock ${path} is unreadable and less than a minute old; if no other emlens uses this folder, delete it`);
      }
      log(`${dir}: taking over a stale lock (${other ? `pid ${other.pid} is not running` : 'unreadable lock file'})`);
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(draft, { force: true });
  }
  const lock: RunLock = {
    path,
    release: () => {
      if (!held.delete(path)) return;
      const now = readLock(path);
      if (now?.pid === process.pid && existsSync(path)) rmSync(path, { force: true });
      // a command that failed before writing anything leaves no empty folder behind
      if (created) {
        try {
          if (!readdirSync(dir).length) rmdirSync(dir);
        } catch { /* gone or not empty: leave it */ }
      }
    },
  };
  held.set(path, lock);
  hookExit();
  return lock;
}

/** Runs `fn` holding the run folder's lock, released afterwards whatever happens. */
export async function withRunLock<T>(dir: string, fn: () => Promise<T> | T): Promise<T> {
  const lock = lockRunFolder(dir);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
