// createApp(runsDir): the Express app of the reports (no listen inside). Index of runs, run pages, report JSON and
// run files under /api, the viz bundle; only files under the runs folder are ever served. No tensor axes.
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { resolve } from 'node:path';
import { HttpError, listRuns, readRun, runFile } from './runs.ts';
import { errorPage, indexPage, notFoundPage, runPage } from './pages.ts';
import { vizBundle } from './bundle.ts';

export function createApp(runsDir: string): Express {
  const root = resolve(runsDir);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/', (_req, res) => {
    res.type('html').send(indexPage(listRuns(root)));
  });
  app.get('/api/runs', (_req, res) => {
    res.json(listRuns(root));
  });
  app.get('/api/runs/:run/report', (req, res) => {
    res.json(readRun(root, String(req.params.run)));
  });
  app.get('/api/runs/:run/files/*path', (req, res) => {
    const parts = req.params.path as unknown as string[];
    // runFile refuses dot-files inside a run; the runs folder itself may sit below one (~/.cache/…): send's own
    // dotfiles check would look at the whole absolute path and refuse every file there
    res.sendFile(runFile(root, String(req.params.run), parts.join('/')), { dotfiles: 'allow' });
  });
  app.get('/runs/:run', (req, res) => {
    const name = String(req.params.run);
    readRun(root, name); // 404 / error page before the shell is sent
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
    if (req.path.startsWith('/api/')) {
      res.status(status).json({ error: message });
      return;
    }
    res.status(status).type('html').send(status === 404 ? notFoundPage(message) : errorPage(message));
  });
  return app;
}
