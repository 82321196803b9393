// The run page's entry: reads the run's report (inlined in a static export, else from /api), fetches its judged
// evals, and draws every chart it has data for. Browser code.
import { emBars, projectionChart, cosineHeatmap, gatingCurves, phaseCurves, reboundCurves, refusalBars, realignmentCharts, resistanceCharts, safetyErosionChart, steeringSweep, sycophancyBars, transferMatrix } from './charts.ts';
import { answerBrowser, quadrantScatter, type JudgedAnswer } from './answers.ts';
import { addReadings, runHeader, sortableIndex, summaryTable, toc } from './summary.ts';
import { findings, whatWasRun } from '../src/report/findings.ts';
import type { RunReport as ServedRun } from '../server/runs.ts';
import type { AnalysisResults } from '../analyses/index.ts';
import type { DemoEmRow } from '../src/study/demo.ts';

/** The run as /api/runs/NAME/report serves it (server/runs.ts: results already in today's format), and in a static
 * export its judged evals inlined. */
type RunReport = ServedRun & { evalData?: Record<string, { answers: JudgedAnswer[] }> };

/** report.json's sections as the demo writes them: the EM table, and each analysis' report under its section name. */
type Sections = { em?: DemoEmRow[] } & Record<string, { result?: unknown } | undefined>;
const sectionsOf = (r: RunReport): Sections => (r.report?.sections ?? {}) as Sections;

/** Each analysis' chart, typed by its result (the JSON read from the run is taken to be what its analysis wrote). */
const DRAW: { [A in keyof AnalysisResults]?: (el: HTMLElement, result: AnalysisResults[A]) => void } = {
  'direction-comparison': cosineHeatmap,
  'steering-transfer': transferMatrix,
  'steering-sweep': steeringSweep,
  gating: gatingCurves,
  'phase-transition': phaseCurves,
  'sycophancy-em': sycophancyBars,
  rebound: reboundCurves,
  resistance: resistanceCharts,
  realignment: realignmentCharts,
  refusal: refusalBars,
  'safety-erosion': safetyErosionChart,
};

/** Page order: the findings' order (EM, sycophancy, cosines, transfer, refusal, gates, sweep, phase), then the rest. */
const ORDER = ['sycophancy-em', 'direction-comparison', 'steering-transfer', 'refusal', 'safety-erosion', 'gating', 'steering-sweep', 'phase-transition', 'resistance', 'rebound', 'realignment'];
const rank = (a: string) => (ORDER.includes(a) ? ORDER.indexOf(a) : ORDER.length);

/** report.json's section of each analysis: drawn from there when the run has no RUN/analyses/NAME.json. */
const SECTION_OF: Record<string, string> = { 'sycophancy-em': 'sycophancy', gating: 'gating', 'direction-comparison': 'cosines', refusal: 'refusal', 'steering-transfer': 'transfer', 'steering-sweep': 'sweep', 'phase-transition': 'phase_transition', resistance: 'resistance', realignment: 'realignment', 'safety-erosion': 'safety_erosion' };

function analysesOf(r: RunReport): [string, { result?: unknown }][] {
  const all: Record<string, { result?: unknown }> = { ...r.analyses };
  for (const [a, sec] of Object.entries(SECTION_OF)) {
    const s = sectionsOf(r)[sec];
    if (!(a in all) && !(a in (r.errors ?? {})) && s && typeof s === 'object' && s.result !== undefined) all[a] = s;
  }
  return Object.entries(all).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

async function load(name: string): Promise<RunReport> {
  const inline = document.getElementById('emlens-report');
  if (inline) return JSON.parse(inline.textContent!) as RunReport;
  const res = await fetch(`/api/runs/${encodeURIComponent(name)}/report`);
  if (!res.ok) throw new Error(`report: HTTP ${res.status}`);
  return res.json();
}

/** The run's judged evals; one that cannot be fetched or read is reported beside the others, not instead of them. */
async function evals(r: RunReport, failed: (what: string, e: unknown) => void): Promise<{ name: string; answers: JudgedAnswer[] }[]> {
  if (r.evalData) return Object.entries(r.evalData).map(([name, e]) => ({ name, answers: e.answers }));
  const out = [];
  for (const name of r.evals) {
    try {
      const res = await fetch(`/api/runs/${encodeURIComponent(r.name)}/files/evals/${encodeURIComponent(name)}.json`);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      out.push({ name, answers: ((await res.json()) as { answers?: JudgedAnswer[] }).answers ?? [] });
    } catch (e) {
      failed(`eval ${name}`, e);
    }
  }
  return out;
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

async function main(): Promise<void> {
  const runs = document.getElementById('runs');
  if (runs instanceof HTMLTableElement) sortableIndex(runs);
  const root = document.getElementById('charts');
  if (root) await runPage(root);
  document.body.dataset.ready = 'true';
}

async function runPage(root: HTMLElement): Promise<void> {
  // each chart on its own: a malformed result shows its error where its chart would be, and the rest are drawn
  const failed = (what: string, e: unknown) => root.insertAdjacentHTML('beforeend', `<p class="err">${escapeHtml(what)}: ${escapeHtml(String((e as Error)?.message ?? e))}</p>`);
  const draw = (what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      failed(what, e);
    }
  };
  try {
    const r = await load(root.dataset.run!);
    root.innerHTML = '';
    const em = sectionsOf(r).em;
    if (em) draw('EM per fine-tune', () => emBars(root, em));
    for (const [name, message] of Object.entries(r.errors ?? {})) failed(name, new Error(message));
    for (const [name, s] of analysesOf(r)) {
      draw(name, () => (DRAW[name as keyof AnalysisResults] as ((el: HTMLElement, result: unknown) => void) | undefined)?.(root, s.result));
      const proj = name === 'direction-comparison' ? (s.result as AnalysisResults['direction-comparison']).projection : null;
      if (name === 'direction-comparison' && proj) draw('projections', () => projectionChart(root, proj));
    }
    const ev = await evals(r, failed);
    if (ev.length) {
      draw('answers', () => quadrantScatter(root, ev));
      draw('answer browser', () => answerBrowser(root, ev));
    }
    if (!root.children.length) root.innerHTML = '<p class="muted">This run has no results to draw yet.</p>';
    // the findings first: computed from the same report the charts were drawn from (src/report/findings.ts)
    const top = document.getElementById('summary-root');
    if (top) {
      const f = findings({ name: r.name, report: r.report, analyses: r.analyses });
      const drawn = new Set([...root.querySelectorAll<HTMLElement>('section.chart[id]')].map((s) => s.id));
      draw('summary', () => {
        runHeader(document.getElementById('run-title'), top, r.name, f, whatWasRun({ name: r.name, report: r.report, analyses: r.analyses }));
        summaryTable(top, f, drawn);
      });
      draw('readings', () => addReadings(root, f.readings));
      const nav = document.getElementById('toc');
      if (nav) draw('contents', () => toc(nav, root));
    }
  } catch (e) {
    root.innerHTML = `<p class="err">${escapeHtml(String((e as Error).message))}</p>`;
  }
}

void main();
