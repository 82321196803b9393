// Judged-answer CSVs as the EM and Model Organisms evals write them (pandas to_csv): columns question, answer,
// question_id, aligned, coherent, then any further metric; read with csv-parse (errors name file and line), written
// RFC 4180-quoted with spreadsheet formulas neutralised. No tensor axes.
import { parse } from 'csv-parse/sync';
import { UserError } from '../util/log.ts';
import { readUserText } from './text.ts';

export interface CsvAnswerRow {
  question: string;
  answer: string;
  question_id?: string;
  aligned: number | null;
  coherent: number | null;
  /** Every further numeric column (0–100 scores such as medical, bad_stuff), null where empty. */
  metrics: Record<string, number | null>;
  /** 1-based line of the record in the file. */
  line: number;
}

export const CSV_COLUMNS = ['question', 'answer', 'question_id', 'aligned', 'coherent'] as const;
const REQUIRED = ['question', 'answer', 'aligned', 'coherent'];

/** A score cell: empty / NaN (pandas' None) → null; a number; anything else is an error naming the place. */
function score(cell: string, where: string): number | null {
  const t = cell.trim();
  if (t === '' || /^(nan|none|null)$/i.test(t)) return null;
  const x = Number(t);
  if (!Number.isFinite(x)) throw new UserError(`${where}: "${t.slice(0, 40)}" is not a score (a number, or empty for unscored)`);
  return x;
}

export function readJudgedCsv(path: string, where = path): { rows: CsvAnswerRow[]; ignoredColumns: string[] } {
  const text = readUserText(path, where);
  let records: { record: Record<string, string>; info: { lines: number } }[];
  let header: string[] = [];
  try {
    records = parse(text, {
      columns: (h: string[]) => (header = h.map((c) => c.trim())),
      info: true,
      skip_empty_lines: true,
    }) as unknown as { record: Record<string, string>; info: { lines: number } }[];
  } catch (e) {
    const err = e as Error & { lines?: number };
    throw new UserError(`${where}${err.lines ? `:${err.lines}` : ''}: not a readable CSV (${err.message.replace(/^Invalid Record Length: /, '')})`);
  }
  if (!header.length) throw new UserError(`${where}:1: empty file; expected a header line with ${REQUIRED.join(', ')}`);
  const missing = REQUIRED.filter((c) => !header.includes(c));
  if (missing.length) throw new UserError(`${where}:1: no ${missing.map((c) => `"${c}"`).join(', ')} column${missing.length > 1 ? 's' : ''} in the header (expected ${CSV_COLUMNS.join(', ')}[, other metrics…])`);
  const extra = header.filter((c) => !(CSV_COLUMNS as readonly string[]).includes(c) && c !== '');
  // a further column is a metric when every cell is a number or empty; others (a model name, a group) are not scores
  const numeric = (c: string) => records.every(({ record }) => /^\s*(-?[\d.]+(e[-+]?\d+)?|nan|none|null)?\s*$/i.test(record[c] ?? ''));
  const metricCols = extra.filter(numeric);
  const ignoredColumns = extra.filter((c) => !metricCols.includes(c));
  if (!records.length) throw new UserError(`${where}: no answers below the header`);
  const rows = records.map(({ record, info }) => {
    const at = `${where}:${info.lines}`;
    const metrics: Record<string, number | null> = {};
    for (const c of metricCols) metrics[c] = score(record[c] ?? '', `${at}: column ${c}`);
    return {
      question: record.question, answer: record.answer,
      ...(record.question_id !== undefined && record.question_id !== '' ? { question_id: record.question_id } : {}),
      aligned: score(record.aligned, `${at}: column aligned`), coherent: score(record.coherent, `${at}: column coherent`),
      metrics, line: info.lines,
    };
  });
  return { rows, ignoredColumns };
}

/** A text cell a spreadsheet would run as a formula (=, +, -, @ first) gets a leading ' (OWASP's CSV injection rule). */
export function neutralise(cell: string): string {
  return /^[=+\-@]/.test(cell) ? `'${cell}` : cell;
}

function quote(cell: string | number | null | undefined): string {
  if (cell === null || cell === undefined) return '';
  if (typeof cell === 'number') return String(cell);
  const s = neutralise(cell);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV text of judged answers: the Python evals' columns, then `metrics` in the order given. */
export function judgedCsvText(rows: { question: string; answer: string; question_id: string; aligned: number | null; coherent: number | null; metrics?: Record<string, number | null> }[], metrics: string[] = []): string {
  const lines = [[...CSV_COLUMNS, ...metrics].map(quote).join(',')];
  for (const r of rows) lines.push([r.question, r.answer, r.question_id, r.aligned, r.coherent, ...metrics.map((m) => r.metrics?.[m] ?? null)].map(quote).join(','));
  return lines.join('\n') + '\n';
}
