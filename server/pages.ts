// HTML shells of the report pages: the index of runs, a run page (charts drawn by the viz bundle from the report
// JSON), the 404 and error pages. Everything user-provided is escaped. No tensor axes.
import type { RunSummary } from './runs.ts';
import { HEADLINE_COLUMNS } from '../src/report/findings.ts';

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
.axis text{font-size:11px} .legend text{font-size:11px}
h1{font-size:22px;margin:4px 0 2px} h1 .folder{font-size:14px;font-weight:400;color:#6b7385}
.run-head .lede{font-size:15px;margin:2px 0 4px;max-width:1000px} .run-head .meta{color:#4a5163;font-size:13px;margin:0 0 10px}
.summary{background:#fff;border:1px solid #e3e6ec;border-radius:6px;padding:10px 16px;margin:8px 0 12px}
.summary h2{font-size:16px;margin:0 0 6px} .small{font-size:12px;margin:6px 0 0}
table.claims td,table.claims th{padding:4px 8px;font-size:13px} table.claims td.mark{font-size:17px;font-weight:700;text-align:center;width:24px}
tr.pass td.mark{color:#1a7f37} tr.fail td.mark{color:#b3261e} tr.na td{color:#8a91a2}
table.claims td.finding{font-weight:600;width:22%} table.claims td.paper{width:22%;color:#4a5163} table.claims td.link{white-space:nowrap;width:60px}
tr.fail .verdict{color:#b3261e;font-weight:600;margin-top:2px}
/* every claim on the first screen: long texts kept to two lines, the whole text on hover */
table.claims .clamp,.lede.clamp{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:2;overflow:hidden} .lede.clamp,table.claims .verdict.clamp{-webkit-line-clamp:1}
table.claims td{line-height:1.25;padding-top:3px;padding-bottom:3px;font-size:12.5px}
.reading{font-size:13.5px;font-weight:600;color:#1d2230;max-width:900px;margin:4px 0}
.toc{background:#fff;border:1px solid #e3e6ec;border-radius:6px;padding:8px 16px;margin:0 0 12px}
.toc:empty{display:none} .toc h2{font-size:14px;margin:0 0 4px} .toc ol{columns:3;margin:0;padding-left:20px;font-size:13px}
a{color:#1f5fbf} th.sortable{cursor:pointer;user-select:none} th[data-dir=asc]::after{content:" ▲"} th[data-dir=desc]::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums} #runs td:nth-child(2){white-space:nowrap} #runs td:first-child{min-width:220px}`;

/** The page around a body; `standalone` (an exported file) has no link to the server's index. */
export function shell(title: string, body: string, standalone = false): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · emlens</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><header><strong>emlens</strong>${standalone ? '' : '<a href="/">runs</a>'}<span class="muted">${esc(title)}</span></header><main>${body}</main></body></html>`;
}

const FORMAT = {
  pct: (v: number) => `${(100 * v).toFixed(1)}%`,
  signed: (v: number) => `${v > 0 ? '+' : v < 0 ? '−' : '±'}${Math.abs(Math.round(100 * v))}%`,
  share: (v: number) => `${Math.round(100 * v)}%`,
  step: (v: number) => String(v),
};

/** The index: one row per run, its headline figures in columns (sortable by the viz bundle: click a column head). */
export function indexPage(runs: (RunSummary | { name: string; error: string })[]): string {
  const cols = HEADLINE_COLUMNS.filter((c) => runs.some((r) => 'headline' in r && typeof r.headline[c.label] === 'number'));
  const figure = (r: RunSummary, c: (typeof cols)[number]) => {
    const v = r.headline[c.label];
    return typeof v === 'number' ? `<td class="num" data-value="${v}">${esc(FORMAT[c.format](v))}</td>` : '<td class="num" data-value="">—</td>';
  };
  const rows = runs.map((r) =>
    'error' in r
      ? `<tr><td data-value="${esc(r.name)}">${esc(r.name)}</td><td colspan="${4 + cols.length}" class="err">${esc(r.error)}</td></tr>`
      : `<tr><td data-value="${esc(r.title)}"><a href="/runs/${encodeURIComponent(r.name)}">${esc(r.title)}</a>${r.title !== r.name ? ` <span class="muted">${esc(r.name)}</span>` : ''}${r.description ? `<div class="muted small">${esc(r.description.length > 100 ? `${r.description.slice(0, 100)}…` : r.description)}</div>` : ''}${r.progress ? `<div class="small running">${esc(r.progress.summary)}</div>` : ''}</td>
<td data-value="${esc(r.date)}">${esc(r.date.slice(0, 16).replace('T', ' '))}</td><td title="${esc(r.model ?? '')}">${esc(r.model?.split('/').filter(Boolean).pop() ?? '—')}</td>
<td class="num" data-value="${r.claims.measured ? r.claims.passed / r.claims.measured : ''}">${r.claims.measured ? `${r.claims.passed} / ${r.claims.measured} ✓` : '—'}</td>
${cols.map((c) => figure(r, c)).join('')}
<td data-value="${r.analyses.length}" title="${esc([...r.analyses, ...r.adapters.map((a) => `fine-tune ${a}`)].join(', '))}">${r.analyses.length} analyses${r.adapters.length ? `, ${r.adapters.length} fine-tunes` : ''}</td></tr>`,
  );
  return shell('runs', `<h1>Runs</h1><p class="muted">${runs.length} run(s). Each is a folder with <code>report.json</code> or <code>analyses/*.json</code>, or a queued study still running (its progress). Click a column head to sort; each figure is the one its run page judges against the papers.</p>
<table id="runs"><thead><tr><th>run</th><th>date</th><th>model</th><th>claims</th>${cols.map((c) => `<th>${esc(c.label)}</th>`).join('')}<th>contents</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<script src="/viz/bundle.js"></script>`);
}

/** A run page: the viz bundle fetches the report (or reads it inlined, for a static export) and draws every chart. */
export function runPage(name: string, opts: { bundle?: string; report?: unknown; standalone?: boolean } = {}): string {
  const data = opts.report === undefined ? '' : `<script type="application/json" id="emlens-report">${JSON.stringify(opts.report).replace(/</g, '\\u003c')}</script>`;
  const script = opts.bundle === undefined ? '<script src="/viz/bundle.js"></script>' : `<script>${opts.bundle.replace(/<\/script/gi, '<\\/script')}</script>`;
  // the summary (findings next to the papers) and the contents are filled in by the bundle from the same report
  return shell(name, `<h1 id="run-title">${esc(name)}</h1><div id="summary-root"></div><nav id="toc" class="toc" aria-label="contents"></nav><div id="charts" data-run="${esc(name)}"><p class="muted">loading…</p></div>${data}${script}`, opts.standalone);
}

export function notFoundPage(message: string): string {
  return shell('not found', `<h1>Not found</h1><p>${esc(message)}</p><p><a href="/">all runs</a></p>`);
}

export function errorPage(message: string): string {
  return shell('error', `<h1>This run could not be read</h1><p class="err">${esc(message)}</p><p><a href="/">all runs</a></p>`);
}
