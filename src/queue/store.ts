// Artefacts by content digest, reachable from every machine of a study: small ones (datasets, rank-1 adapters, eval
// reports) in Redis, large ones in a blob folder (a shared path); folders as manifests of their files. No tensor axes.
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { Redis } from 'ioredis';
import { sha256 } from '../util/hash.ts';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.ts';
import { UserError } from '../util/log.ts';
import { KEY_PREFIX } from './connection.ts';

/** Where large blobs go. The folder one is built in; an S3-compatible bucket would implement the same three calls. */
export interface BlobBackend {
  readonly name: string;
  has(digest: string): Promise<boolean>;
  put(digest: string, bytes: Uint8Array): Promise<void>;
  get(digest: string): Promise<Uint8Array | undefined>;
}

/** DIR/ab/abcdef…: one file per blob, written atomically (a folder on a shared filesystem: NFS, Lustre, a mounted bucket). */
export class FolderBlobs implements BlobBackend {
  readonly name: string;
  constructor(readonly dir: string) {
    this.name = `folder ${dir}`;
  }
  private file(digest: string): string {
    return join(this.dir, digest.slice(0, 2), digest);
  }
  async has(digest: string): Promise<boolean> {
    return existsSync(this.file(digest));
  }
  async put(digest: string, bytes: Uint8Array): Promise<void> {
    if (!existsSync(this.file(digest))) writeFileAtomic(this.file(digest), bytes);
  }
  async get(digest: string): Promise<Uint8Array | undefined> {
    return existsSync(this.file(digest)) ? readFileSync(this.file(digest)) : undefined;
  }
}

/** One file of a folder artefact: its path inside the folder (with /), digest and size. */
export interface TreeEntry {
  path: string;
  digest: string;
  size: number;
}

export interface StoreOptions {
  /** Large blobs go here; without one, everything is kept in Redis. */
  blobs?: BlobBackend;
  /** Blobs of more bytes than this go to `blobs` (default 1 MiB). */
  threshold?: number;
}

export interface TransferStats {
  putBytes: number;
  getBytes: number;
  ms: number;
}

export class ArtefactStore {
  readonly threshold: number;
  readonly stats: TransferStats = { putBytes: 0, getBytes: 0, ms: 0 };
  constructor(readonly redis: Redis, readonly o: StoreOptions = {}) {
    this.threshold = o.threshold ?? 2 ** 20;
  }

  private key(kind: string, id: string): string {
    return `${KEY_PREFIX}:${kind}:${id}`;
  }

  /** Stores bytes once under their sha256; returns the digest. */
  async putBytes(bytes: Uint8Array): Promise<string> {
    const t = Date.now();
    const digest = sha256(bytes);
    if (this.o.blobs && bytes.length > this.threshold) {
      await this.o.blobs.put(digest, bytes);
    } else {
      await this.redis.set(this.key('blob', digest), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), 'NX');
    }
    this.stats.putBytes += bytes.length;
    this.stats.ms += Date.now() - t;
    return digest;
  }

  /** The bytes of a digest (checked against it), wherever they were put; a missing or damaged blob is a UserError. */
  async getBytes(digest: string): Promise<Uint8Array> {
    const t = Date.now();
    let bytes: Uint8Array | null | undefined = await this.redis.getBuffer(this.key('blob', digest));
    if (!bytes && this.o.blobs) bytes = await this.o.blobs.get(digest);
    if (!bytes) throw new UserError(`artefact ${digest.slice(0, 12)} is in neither Redis nor ${this.o.blobs ? this.o.blobs.name : 'a blob store (none given: --blob-dir)'}`);
    if (sha256(bytes) !== digest) throw new UserError(`artefact ${digest.slice(0, 12)} is damaged (its bytes have another digest)`);
    this.stats.getBytes += bytes.length;
    this.stats.ms += Date.now() - t;
    return bytes;
  }

  async putFile(path: string): Promise<string> {
    return this.putBytes(readFileSync(path));
  }

  /** Stores every file under `dir` (those `keep` accepts) and their manifest; returns the manifest's digest. */
  async putTree(dir: string, keep: (rel: string) => boolean = () => true): Promise<string> {
    // read in one synchronous pass: a trainer in this process writes and prunes the folder between our awaits
    const read = listFiles(dir).filter(keep).map((rel) => ({ rel, bytes: readFileSync(join(dir, rel)) }));
    const entries: TreeEntry[] = [];
    for (const { rel, bytes } of read) entries.push({ path: rel, digest: await this.putBytes(bytes), size: bytes.length });
    return this.putBytes(Buffer.from(JSON.stringify({ emlens_tree: 1, files: entries })));
  }

  /** A folder artefact's files, read into memory (checked), by path inside it. */
  async getTree(digest: string): Promise<Map<string, Uint8Array>> {
    const m = JSON.parse(Buffer.from(await this.getBytes(digest)).toString('utf8')) as { emlens_tree?: number; files?: TreeEntry[] };
    if (m.emlens_tree !== 1 || !Array.isArray(m.files)) throw new UserError(`artefact ${digest.slice(0, 12)} is not a folder manifest`);
    const out = new Map<string, Uint8Array>();
    for (const f of m.files) {
      if (typeof f.path !== 'string' || f.path.split('/').some((p) => p === '..' || p === '') || f.path.startsWith('/')) throw new UserError(`artefact ${digest.slice(0, 12)}: a file path leaves its folder (${JSON.stringify(f.path)})`);
      out.set(f.path, await this.getBytes(f.digest));
    }
    return out;
  }

  /** Writes a folder artefact at `dest` (replacing it atomically); `edit` may change a file's bytes on the way. */
  async materializeTree(digest: string, dest: string, edit?: (rel: string, bytes: Uint8Array) => Uint8Array): Promise<void> {
    const files = await this.getTree(digest);
    writeDirAtomic(dest, (tmp) => {
      for (const [rel, bytes] of files) {
        mkdirSync(dirname(join(tmp, rel)), { recursive: true });
        writeFileAtomic(join(tmp, rel), edit ? edit(rel, bytes) : bytes);
      }
    });
  }

  /** A JSON record under a name (results, checkpoints), or undefined. */
  async getRecord<T>(kind: string, id: string): Promise<T | undefined> {
    const v = await this.redis.get(this.key(kind, id));
    return v === null ? undefined : (JSON.parse(v) as T);
  }
  async setRecord(kind: string, id: string, value: unknown): Promise<void> {
    await this.redis.set(this.key(kind, id), JSON.stringify(value));
  }
  async deleteRecord(kind: string, id: string): Promise<void> {
    await this.redis.del(this.key(kind, id));
  }
}

/** Files under a folder, as paths inside it with /, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}
