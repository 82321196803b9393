// The frame every chart is drawn in: title, caption (what it shows, which conventions), an SVG of fixed size, a
// shared tooltip, and downloads of the chart (SVG, PNG) and its data (CSV, JSON). Browser code; d3 v7.
import * as d3 from 'd3';

export interface Frame {
  svg: d3.Selection<SVGSVGElement, unknown, null, undefined>;
  g: d3.Selection<SVGGElement, unknown, null, undefined>;
  width: number;
  height: number;
}

export interface ChartSpec {
  id: string;
  title: string;
  caption: string;
  width?: number;
  height?: number;
  margin?: { top: number; right: number; bottom: number; left: number };
  /** Rows for the CSV / JSON downloads. */
  data: Record<string, unknown>[];
}

let tip: HTMLDivElement | undefined;
export function tooltip(): { show(text: string, ev: MouseEvent): void; hide(): void } {
  tip ??= Object.assign(document.body.appendChild(document.createElement('div')), { className: 'tooltip' });
  tip.style.display = 'none';
  return {
    show(text, ev) {
      tip!.textContent = text;
      tip!.style.display = 'block';
      tip!.style.left = `${ev.clientX + 12}px`;
      tip!.style.top = `${ev.clientY + 12}px`;
    },
    hide() {
      tip!.style.display = 'none';
    },
  };
}

function download(name: string, blob: Blob): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function toCsv(rows: Record<string, unknown>[]): string {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n');
}

export function frame(container: HTMLElement, spec: ChartSpec): Frame {
  const m = spec.margin ?? { top: 20, right: 150, bottom: 48, left: 64 };
  const W = spec.width ?? 760, H = spec.height ?? 340;
  const box = d3.select(container).append('section').attr('class', 'chart').attr('id', spec.id);
  box.append('h2').text(spec.title);
  const svg = box.append('svg').attr('xmlns', 'http://www.w3.org/2000/svg').attr('width', W).attr('height', H).attr('viewBox', `0 0 ${W} ${H}`).attr('font-family', 'system-ui, sans-serif')
    .attr('role', 'img').attr('aria-label', `${spec.title}. ${spec.caption}`);
  svg.append('title').text(spec.title); // also the name a downloaded SVG carries
  const g = svg.append('g').attr('transform', `translate(${m.left},${m.top})`);
  box.append('p').attr('class', 'caption').text(spec.caption);
  const dl = box.append('div').attr('class', 'downloads');
  const node = svg.node()!;
  const svgText = () => new XMLSerializer().serializeToString(node);
  dl.append('button').text('SVG').on('click', () => download(`${spec.id}.svg`, new Blob([svgText()], { type: 'image/svg+xml' })));
  dl.append('button').text('PNG').on('click', () => {
    const img = new Image();
    img.onload = () => {
      const c = Object.assign(document.createElement('canvas'), { width: W * 2, height: H * 2 });
      const ctx = c.getContext('2d')!;
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, c.width, c.height);
      ctx.drawImage(img, 0, 0, c.width, c.height);
      c.toBlob((b) => b && download(`${spec.id}.png`, b));
    };
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgText())}`;
  });
  dl.append('button').text('CSV').on('click', () => download(`${spec.id}.csv`, new Blob([toCsv(spec.data)], { type: 'text/csv' })));
  dl.append('button').text('JSON').on('click', () => download(`${spec.id}.json`, new Blob([JSON.stringify(spec.data, null, 2)], { type: 'application/json' })));
  return { svg, g, width: W - m.left - m.right, height: H - m.top - m.bottom };
}

/** Axes with labels (units in the label text). */
export function axes(f: Frame, x: d3.AxisScale<d3.AxisDomain>, y: d3.AxisScale<d3.AxisDomain>, xLabel: string, yLabel: string, yFormat?: (v: d3.NumberValue) => string): void {
  f.g.append('g').attr('class', 'axis').attr('transform', `translate(0,${f.height})`).call(d3.axisBottom(x));
  const ya = d3.axisLeft(y);
  if (yFormat) ya.tickFormat(yFormat as never);
  f.g.append('g').attr('class', 'axis').call(ya);
  f.g.append('text').attr('x', f.width / 2).attr('y', f.height + 38).attr('text-anchor', 'middle').attr('font-size', 12).text(xLabel);
  f.g.append('text').attr('transform', 'rotate(-90)').attr('x', -f.height / 2).attr('y', -48).attr('text-anchor', 'middle').attr('font-size', 12).text(yLabel);
}

/** A legend to the right of the plot. */
export function legend(f: Frame, items: { label: string; color: string; dash?: string }[]): void {
  const l = f.g.append('g').attr('class', 'legend').attr('transform', `translate(${f.width + 16},0)`);
  items.forEach((it, i) => {
    const row = l.append('g').attr('transform', `translate(0,${i * 18})`);
    row.append('line').attr('x1', 0).attr('x2', 18).attr('y1', 6).attr('y2', 6).attr('stroke', it.color).attr('stroke-width', 3).attr('stroke-dasharray', it.dash ?? null);
    row.append('text').attr('x', 24).attr('y', 10).text(it.label);
  });
}

export const pct = d3.format('.0%');
export const COLORS = d3.schemeTableau10 as readonly string[];
