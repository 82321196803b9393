// createApp(runsDir, {host}): the Express app of the reports (no listen inside). Index of runs (cached per run), run
// pages, report JSON and run files under /api, the viz bundle; only files of runs are served, data inline and
// everything else as downloads, to a Host of this server only, with hardening headers (security.ts). No tensor axes.
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { resolve } from 'node:path';
import { HttpError, readRun, runDir, runFile, RunIndex, type IndexEntry } from './runs.ts';
import { progressPage, PROGRESS_REFRESH_S, readProgress } from './progress.ts';
import { errorPage, indexPage, notFoundPage, runPage } from './pages.ts';
import { vizBundle } from './bundle.ts';
import { fileHeaders, hardeningHeaders, hostGuard } from './security.ts';

export interface AppOptions {
  /** The address the server is bound to (--host): it is allowed as Host beside the loopback names. */
  host?: string;
  /** More hostnames to answer to (a reverse proxy's). */
  allowedHosts?: string[];
  /** The index answers from a scan of the runs folder started at most this long ago (ms; default 1000, 0: every request). */
  indexMaxAgeMs?: number;
}

export function createApp(runsDir: string, o: AppOptions = {}): Express {
  const root = resolve(runsDir);
  const index = new RunIndex(root);
  const maxAge = o.indexMaxAgeMs ?? 1000; // a page reloaded in a burst, or many clients, share one scan a second
  let rendered: { list: IndexEntry[]; html: string } | undefined;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(hostGuard({ host: o.host, extra: o.allowedHosts }));
  app.use(hardeningHeaders());

  app.get('/', async (_req, res) => {
    const list = await index.list(maxAge);
    if (rendered?.list !== list) rendered = { list, html: indexPage(list) }; // an unchanged index is the same array
    res.type('html').send(rendered.html);
  });
  app.get('/api/runs', async (_req, res) => {
    res.json(await index.list(maxAge));
  });
  app.get('/api/runs/:run/report', async (req, res) => {
    res.json(await readRun(root, String(req.params.run)));
  });
  app.get('/api/runs/:run/files/*path', async (req, res, next) => {
    const parts = req.params.path as unknown as string[];
    const file = await runFile(root, String(req.params.run), parts.join('/'));
    fileHeaders(res, file);
    // runFile refuses dot-files inside a run; the runs folder itself may sit below one (~/.cache/…): send's own
    // dotfiles check would look at the whole absolute path and refuse every file there
    res.sendFile(file, { dotfiles: 'allow' }, (e) => e && next(e));
  });
  app.get('/api/runs/:run/progress', async (req, res) => {
    res.json(await readProgress(await runDir(root, String(req.params.run)))); // null: not running (or never queued)
  });
  app.get('/runs/:run', async (req, res) => {
    const name = String(req.params.run);
    const progress = await readProgress(await runDir(root, name));
    if (progress) {
      // a queued study still running: its progress, read-only, reloaded until its report is there
      const analyses = await readRun(root, name).then((r) => Object.keys(r.analyses), () => []);
      res.setHeader('Refresh', String(PROGRESS_REFRESH_S));
      res.type('html').send(progressPage(name, progress, analyses));
      return;
    }
    await readRun(root, name); // 404 / error page before the shell is sent
    res.type('html').send(runPage(name));
  });
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  app.get('/viz/bundle.js', async (_req, res) => {
    res.type('application/javascript').send(await vizBundle());
  });
  app.use((req, res) => {
    res.status(404).type(req.path.startsWith('/api/') ? 'json' : 'html').send(req.path.startsWith('/api/') ? { error: 'not found' } : notFoundPage(`nothing at ${req.path}`));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = err instanceof HttpError ? err.status : (err as { status?: number }).status ?? 500;
    const message = err instanceof Error ? err.message : String(err);
    if (res.headersSent) return void res.destroy();
    res.removeHeader('Content-Disposition');
    if (req.path.startsWith('/api/')) {
      res.status(status).json({ error: message });
      return;
    }
    res.status(status).type('html').send(status === 404 ? notFoundPage(message) : errorPage(message));
  });
  return app;
}
