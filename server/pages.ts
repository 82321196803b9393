// HTML shells of the report pages: the index of runs, a run page (charts drawn by the viz bundle from the report
// JSON), the 404 and error pages. Everything user-provided is escaped. No tensor axes.
import type { RunSummary } from './runs.ts';

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2230;background:#f7f8fa}
header{background:#1d2230;color:#fff;padding:12px 24px;display:flex;gap:16px;align-items:baseline}
header a{color:#9cc3ff;text-decoration:none} main{padding:16px 24px;max-width:1200px}
table{border-collapse:collapse;background:#fff;width:100%} th,td{padding:6px 10px;border-bottom:1px solid #e3e6ec;text-align:left;vertical-align:top}
th{background:#eef1f6;font-weight:600} .muted{color:#6b7385} .err{color:#b3261e}
.chart{background:#fff;border:1px solid #e3e6ec;border-radius:6px;padding:12px 16px;margin:16px 0}
.chart h2{font-size:16px;margin:0 0 4px} .caption{color:#4a5163;font-size:13px;max-width:900px}
.downloads{font-size:12px;margin-top:6px} .downloads button{margin-right:6px;font-size:12px}
.tooltip{position:fixed;pointer-events:none;background:#1d2230;color:#fff;padding:6px 8px;border-radius:4px;font-size:12px;max-width:420px;white-space:pre-wrap;z-index:10}
.axis text{font-size:11px} .legend text{font-size:11px}`;

/** The page around a body; `standalone` (an exported file) has no link to the server's index. */
function shell(title: string, body: string, standalone = false): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · emlens</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><header><strong>emlens</strong>${standalone ? '' : '<a href="/">runs</a>'}<span class="muted">${esc(title)}</span></header><main>${body}</main></body></html>`;
}

const pct = (v: number | string) => (typeof v === 'number' ? `${(100 * v).toFixed(1)}%` : esc(v));

export function indexPage(runs: (RunSummary | { name: string; error: string })[]): string {
  const rows = runs.map((r) =>
    'error' in r
      ? `<tr><td>${esc(r.name)}</td><td colspan="5" class="err">${esc(r.error)}</td></tr>`
      : `<tr><td><a href="/runs/${encodeURIComponent(r.name)}">${esc(r.name)}</a></td><td>${esc(r.date.slice(0, 16).replace('T', ' '))}</td><td>${esc(r.model ?? '—')}</td>
<td>${r.adapters.map(esc).join(', ') || '—'}</td><td>${r.analyses.map(esc).join(', ')}</td>
<td>${Object.entries(r.headline).map(([k, v]) => `${esc(k)}: <b>${pct(v)}</b>`).join('<br>') || '—'}</td></tr>`,
  );
  return shell('runs', `<h1>Runs</h1><p class="muted">${runs.length} run(s). Each is a folder with <code>report.json</code> or <code>analyses/*.json</code>.</p>
<table id="runs"><thead><tr><th>run</th><th>date</th><th>model</th><th>fine-tunes</th><th>analyses</th><th>headline</th></tr></thead><tbody>${rows.join('')}</tbody></table>`);
}

/** A run page: the viz bundle fetches the report (or reads it inlined, for a static export) and draws every chart. */
export function runPage(name: string, opts: { bundle?: string; report?: unknown; standalone?: boolean } = {}): string {
  const data = opts.report === undefined ? '' : `<script type="application/json" id="emlens-report">${JSON.stringify(opts.report).replace(/</g, '\\u003c')}</script>`;
  const script = opts.bundle === undefined ? '<script src="/viz/bundle.js"></script>' : `<script>${opts.bundle.replace(/<\/script/gi, '<\\/script')}</script>`;
  return shell(name, `<h1>${esc(name)}</h1><div id="charts" data-run="${esc(name)}"><p class="muted">loading…</p></div>${data}${script}`, opts.standalone);
}

export function notFoundPage(message: string): string {
  return shell('not found', `<h1>Not found</h1><p>${esc(message)}</p><p><a href="/">all runs</a></p>`);
}

export function errorPage(message: string): string {
  return shell('error', `<h1>This run could not be read</h1><p class="err">${esc(message)}</p><p><a href="/">all runs</a></p>`);
}
