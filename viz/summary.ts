// The top of a run page: the run's name, model and what was run; the findings next to the papers' figures with ✓ / ✗
// and a link to each claim's chart; a table of contents; and each chart's one-sentence reading. Everything comes from
// src/report/findings.ts (the index uses the same claims). Browser code; d3 v7. No tensor axes.
import * as d3 from 'd3';
import type { Findings, Claim } from '../src/report/findings.ts';

const MARK: Record<Claim['status'], string> = { pass: '✓', fail: '✗', 'n/a': '—' };
const WORD: Record<Claim['status'], string> = { pass: 'reproduced', fail: 'not reproduced', 'n/a': 'not measured' };

/** The run's title, description and settings under the page's h1. */
export function runHeader(h1: HTMLElement | null, box: HTMLElement, folder: string, f: Findings, what: string): void {
  if (h1) {
    h1.textContent = f.title;
    if (f.title !== folder) d3.select(h1).append('span').attr('class', 'folder').text(` ${folder}`);
  }
  const head = d3.select(box).append('div').attr('class', 'run-head');
  if (f.description) head.append('p').attr('class', 'lede clamp').attr('title', f.description).text(f.description);
  const meta = head.append('p').attr('class', 'meta');
  meta.append('span').text('model: ').append('code').text(f.model ?? '—');
  if (what) meta.append('span').text(` · ${what}`);
}

/** The findings table: one row per claim, the mark's title holding the rule and its checks. */
export function summaryTable(box: HTMLElement, f: Findings, charts: Set<string>): void {
  const sec = d3.select(box).append('section').attr('id', 'summary').attr('class', 'summary');
  const measured = f.claims.filter((c) => c.status !== 'n/a');
  const passed = measured.filter((c) => c.status === 'pass').length;
  sec.append('h2').text(`Findings next to the papers: ${passed} of ${measured.length} claims reproduced`);
  const table = sec.append('table').attr('class', 'claims');
  table.append('thead').append('tr').selectAll('th').data(['', 'finding', 'papers', 'this run', '']).join('th').text((d) => d);
  // the claims this run measured are rows; the others (an older run without a section, a model without the data)
  // are named in one line under the table, so the table stays on the first screen whatever the run left out
  const rows = table.append('tbody').selectAll('tr').data(measured).join('tr')
    .attr('class', (c) => `claim ${c.status === 'n/a' ? 'na' : c.status}`)
    .attr('id', (c) => `claim-${c.id}`)
    .attr('data-claim', (c) => c.id)
    .attr('data-status', (c) => c.status)
    .attr('data-figures', (c) => JSON.stringify(c.figures))
    .attr('data-checks', (c) => JSON.stringify(c.checks));
  rows.append('td').attr('class', 'mark').attr('aria-label', (c) => WORD[c.status])
    .attr('title', (c) => `${WORD[c.status]}.${c.status === 'fail' ? ` ${c.verdict}` : ''} Rule: ${c.rule}${c.checks.length ? `\n${c.checks.map((k) => `${k.pass ? '✓' : '✗'} ${k.what}: ${+k.value.toFixed(4)} ${k.op} ${k.threshold}`).join('\n')}` : ''}`)
    .text((c) => MARK[c.status]);
  rows.append('td').attr('class', 'finding').append('div').attr('class', 'clamp').attr('title', (c) => c.finding).text((c) => c.finding);
  // long texts are kept to two lines (the whole text on hover), so that every claim fits the first screen
  rows.append('td').attr('class', 'paper').append('div').attr('class', 'clamp').attr('title', (c) => c.paper).text((c) => c.paper);
  const run = rows.append('td').attr('class', 'measured');
  run.append('span').attr('class', 'clamp').attr('title', (c) => c.measured).text((c) => c.measured);
  // a claim that fails says so in words, under its figures (one line; the whole sentence on hover)
  run.filter((c) => c.status === 'fail').append('div').attr('class', 'verdict clamp').attr('title', (c) => c.verdict).text((c) => c.verdict);
  rows.append('td').attr('class', 'link').each(function (c) {
    if (charts.has(c.chart)) d3.select(this).append('a').attr('href', `#${c.chart}`).text('chart ↓');
  });
  const unmeasured = f.claims.filter((c) => c.status === 'n/a');
  if (unmeasured.length) {
    const line = sec.append('p').attr('class', 'not-measured muted small');
    line.append('span').text('Not measured in this run: ');
    line.selectAll('span.claim-na').data(unmeasured).join('span')
      .attr('class', 'claim-na').attr('id', (c) => `claim-${c.id}`).attr('data-claim', (c) => c.id).attr('data-status', 'n/a')
      .attr('title', (c) => c.verdict)
      .text((c, i) => `${c.finding}${i < unmeasured.length - 1 ? '; ' : '.'}`);
  }
  sec.append('p').attr('class', 'muted small').text('✓ / ✗: the claim\'s rule on this run (hover a mark for the rule and its figures). Every figure is read from the linked chart\'s data.');
}

/** One sentence under each chart's caption that reads its result. */
export function addReadings(root: HTMLElement, readings: Record<string, string>): void {
  for (const [id, text] of Object.entries(readings)) {
    const cap = root.querySelector(`section#${CSS.escape(id)} > p.caption`);
    if (!cap) continue;
    const p = document.createElement('p');
    p.className = 'reading';
    p.textContent = text;
    cap.after(p);
  }
}

/** The table of contents: every chart drawn, in page order. */
export function toc(nav: HTMLElement, root: HTMLElement): void {
  const items = [...root.querySelectorAll<HTMLElement>('section.chart[id]')].map((s) => ({ id: s.id, title: s.querySelector('h2')?.textContent ?? s.id }));
  if (!items.length) return;
  const sel = d3.select(nav);
  sel.append('h2').text('Contents');
  sel.append('ol').selectAll('li').data(items).join('li').append('a').attr('href', (d) => `#${d.id}`).text((d) => d.title);
}

/** Click a column head of table#runs to sort by it (numbers by their data-value; again to reverse). */
export function sortableIndex(table: HTMLTableElement): void {
  const heads = [...table.querySelectorAll<HTMLTableCellElement>('thead th')];
  heads.forEach((th, col) => {
    th.classList.add('sortable');
    th.tabIndex = 0;
    const sort = () => {
      const dir = th.dataset.dir === 'desc' ? 'asc' : 'desc';
      heads.forEach((h) => delete h.dataset.dir);
      th.dataset.dir = dir;
      const body = table.tBodies[0];
      const key = (tr: HTMLTableRowElement) => {
        const td = tr.cells[col];
        const v = td?.dataset.value;
        return v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : (td?.textContent ?? '').trim().toLowerCase();
      };
      const rows = [...body.rows].sort((a, b) => {
        const x = key(a), y = key(b);
        // blanks last either way
        if (x === '' || x === '—') return 1;
        if (y === '' || y === '—') return -1;
        const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return dir === 'asc' ? c : -c;
      });
      for (const r of rows) body.appendChild(r);
    };
    th.addEventListener('click', sort);
    th.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), sort()));
  });
}
