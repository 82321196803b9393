// The report server's security policy: a Host allow-list (the bound address, localhost, 127.0.0.1, [::1]: a
// DNS-rebinding page arrives under its own name and is refused), hardening headers on every reply (nosniff, a CSP that
// allows the server's own scripts only, no framing, no referrer), and how a run's files are served (JSON, CSV and text
// as data; everything else, HTML and SVG included, as a download, never inline). No tensor axes.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { basename, extname } from 'node:path';

/** Hostnames every server answers to: its loopback names. */
const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/** A host as URL.hostname writes it (lower case, IPv6 in brackets, IPv4-mapped IPv6 as IPv4); undefined if not a host. */
export function normalHost(host: string): string | undefined {
  const h = host.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  try {
    return new URL(`http://${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}`).hostname;
  } catch {
    return undefined;
  }
}

const WILDCARD = new Set(['0.0.0.0', '[::]']);

/**
 * Refuses (403) a request whose Host header names another host than the bound address (`host`, unless a wildcard),
 * the loopback names, the address the connection arrived at (an IP literal: a server bound to 0.0.0.0 answers to its
 * LAN address), or `extra`. The port is not compared: an ssh -L tunnel reaches the server under another one, and a
 * rebinding page cannot choose the hostname it is served from.
 */
export function hostGuard(o: { host?: string; extra?: string[] } = {}): RequestHandler {
  const allowed = new Set([...LOOPBACK, ...[o.host, ...(o.extra ?? [])].map((h) => (h ? normalHost(h) : undefined)).filter((h): h is string => h !== undefined && !WILDCARD.has(h))]);
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.host ?? '';
    let name: string | undefined;
    try {
      name = header ? new URL(`http://${header}`).hostname : undefined;
    } catch {
      name = undefined;
    }
    const local = req.socket.localAddress ? normalHost(req.socket.localAddress) : undefined;
    if (name !== undefined && (allowed.has(name) || name === local)) return next();
    res.status(403).type('text/plain').send(`Host ${JSON.stringify(header)} is not this server's address (open it as ${[...allowed].join(', ')})\n`);
  };
}

/** Pages: scripts from this server only (the viz bundle), inline styles (the page's own <style>), data:/blob: images (PNG export). */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** Data and files: nothing in them ever runs, even if a browser were to render one. */
export const DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";

export function hardeningHeaders(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Content-Security-Policy', req.path.startsWith('/api/') ? DATA_CSP : PAGE_CSP);
    next();
  };
}

/** Run files shown as data: their content type (text types that no browser runs). */
const DATA_TYPES: Record<string, string> = {
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

/** How a run file is served: inline with a data type, or (safetensors, checkpoints, HTML, SVG, anything else) as a download. */
export function fileDisposition(path: string): { type: string; attachment: boolean } {
  const type = DATA_TYPES[extname(path).toLowerCase()];
  return type ? { type, attachment: false } : { type: 'application/octet-stream', attachment: true };
}

/** Sets the headers of a run file's reply (before sendFile, which keeps a Content-Type already set). */
export function fileHeaders(res: Response, path: string): void {
  const d = fileDisposition(path);
  if (d.attachment) res.attachment(basename(path));
  res.setHeader('Content-Type', d.type);
}
