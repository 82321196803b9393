// One chart per analysis result, all reading report JSON only: cosine heatmap, transfer matrix, EM/coherence vs
// steering coefficient, gate amplify/suppress curves, training curves with the LoRA-B rotation, sycophancy bars,
// rebound curves. Browser code; d3 v7.
import * as d3 from 'd3';
import { axes, COLORS, frame, legend, pct, tooltip } from './frame.ts';
import { LABELS } from '../src/report/findings.ts';

const LAYERS = 'Layers are 0-based decoder blocks; resid_post(l) = HF hidden_states[l+1].';

type Cell = { em: number; coherence: number } | null;

export function cosineHeatmap(el: HTMLElement, r: { cosine: { names: string[]; layers: number[]; pairs: { a: string; b: string; cosine: (number | null)[] }[] } }): void {
  const { pairs, layers } = r.cosine;
  const labels = pairs.map((p) => LABELS.cosinePair(p.a, p.b));
  const data = pairs.flatMap((p, i) => layers.map((l) => ({ pair: labels[i], layer: l, cosine: p.cosine[l] })));
  const f = frame(el, {
    id: 'direction-comparison', title: 'Cosine similarity of directions, by layer', data,
    caption: `Each cell is the cosine between two directions at one layer (EM directions of each fine-tune, refusal, persona, LoRA-B, and a random vector of equal norm as the baseline). ${LAYERS} Hover a cell for its value.`,
    height: Math.max(220, 60 + labels.length * 22), margin: { top: 20, right: 120, bottom: 48, left: 260 },
  });
  const x = d3.scaleBand<number>().domain(layers).range([0, f.width]).padding(0.05);
  const y = d3.scaleBand<string>().domain(labels).range([0, f.height]).padding(0.05);
  const color = d3.scaleSequential(d3.interpolateRdBu).domain([1, -1]);
  const tip = tooltip();
  f.g.selectAll('rect.cell').data(data).join('rect').attr('class', 'cell')
    .attr('x', (d) => x(d.layer)!).attr('y', (d) => y(d.pair)!).attr('width', x.bandwidth()).attr('height', y.bandwidth())
    .attr('fill', (d) => (d.cosine === null ? '#ddd' : color(d.cosine)))
    .on('mousemove', (ev, d) => tip.show(`${d.pair}\nlayer ${d.layer}: cosine ${d.cosine === null ? '—' : d.cosine.toFixed(3)}`, ev))
    .on('mouseleave', () => tip.hide());
  axes(f, x as unknown as d3.AxisScale<d3.AxisDomain>, y as unknown as d3.AxisScale<d3.AxisDomain>, 'layer (decoder block)', '');
  const scale = f.g.append('g').attr('transform', `translate(${f.width + 20},0)`);
  [1, 0.5, 0, -0.5, -1].forEach((v, i) => {
    scale.append('rect').attr('y', i * 18).attr('width', 14).attr('height', 14).attr('fill', color(v));
    scale.append('text').attr('x', 20).attr('y', i * 18 + 11).attr('font-size', 11).text(`cos ${v}`);
  });
}

export function transferMatrix(el: HTMLElement, r: { sources: string[]; targets: string[]; baseline: Cell[]; ablation: Cell[][]; random_ablation: Cell[][]; addition: Cell[]; random_addition: Cell[]; base: Cell; lora_ablation?: Cell[][] | null; random_lora_ablation?: Cell[] | null; write_ablation?: Cell[][] | null; random_write_ablation?: Cell[] | null; write_layers?: number[][] | null }): void {
  // one row per intervention: none, then each source's direction and its random twin from the residual stream, then
  // from the target's LoRA B, then each source LoRA's write direction at its block (when the run has them)
  const rowList: { label: string; cells: (Cell | undefined)[] }[] = [{ label: LABELS.transferNone, cells: r.baseline }];
  r.sources.forEach((s, i) => rowList.push({ label: s, cells: r.ablation[i] ?? [] }, { label: LABELS.transferRandom(s), cells: r.random_ablation[i] ?? [] }));
  if (r.lora_ablation) r.sources.forEach((s, i) => rowList.push({ label: LABELS.transferLoraB(s), cells: r.lora_ablation![i] ?? [] }));
  if (r.random_lora_ablation) rowList.push({ label: LABELS.transferRandomLoraB, cells: r.random_lora_ablation });
  const blocks = (i: number) => (r.write_layers?.[i] ?? []).join(',');
  if (r.write_ablation) r.sources.forEach((s, i) => rowList.push({ label: LABELS.transferWrite(s, blocks(i)), cells: r.write_ablation![i] ?? [] }));
  if (r.random_write_ablation) rowList.push({ label: LABELS.transferRandomWrite(blocks(0)), cells: r.random_write_ablation });
  const rows = rowList.map((row) => row.label);
  const data = rowList.flatMap((row) => r.targets.map((t, j) => ({ ablated: row.label, target: t, em: row.cells[j]?.em ?? null, coherence: row.cells[j]?.coherence ?? null })));
  // the base model's EM (in the caption) joins the downloads as a row of its own; it is not drawn as a cell
  const baseRow = r.base ? [{ ablated: LABELS.transferNone, target: LABELS.transferBaseTarget, em: r.base.em, coherence: r.base.coherence }] : [];
  const f = frame(el, {
    id: 'steering-transfer', title: 'Steering transfer: EM% of each fine-tune with a direction ablated', data: [...data, ...baseRow],
    caption: `Rows: the direction projected out of resid_pre and resid_post of every block (an EM direction from the named fine-tune, or a random vector of equal norm)${r.lora_ablation ? "; rows “from LoRA B”: projected out of the target's LoRA B instead, ‖B‖ kept (research.md §2)" : ''}${r.write_ablation ? "; rows “LoRA write @L”: the direction the named fine-tune's LoRA writes into the residual stream (its B), projected out of resid_pre and resid_post of block L only, as the paper ablates at one layer" : ''}; columns: the fine-tune evaluated on broad questions. Cell: EM% (aligned ≤ 30 and coherent > 50). Base model EM: ${r.base ? pct(r.base.em) : '—'}. ${LAYERS}`,
    height: 80 + rows.length * 30, margin: { top: 20, right: 40, bottom: 48, left: 190 },
  });
  const x = d3.scaleBand<string>().domain(r.targets).range([0, f.width]).padding(0.06);
  const y = d3.scaleBand<string>().domain(rows).range([0, f.height]).padding(0.06);
  const color = d3.scaleSequential(d3.interpolateOrRd).domain([0, 1]);
  const tip = tooltip();
  const cells = f.g.selectAll('g.cell').data(data).join('g').attr('class', 'cell').attr('transform', (d) => `translate(${x(d.target)},${y(d.ablated)})`);
  cells.append('rect').attr('width', x.bandwidth()).attr('height', y.bandwidth()).attr('fill', (d) => (d.em === null ? '#eee' : color(d.em)))
    .on('mousemove', (ev, d) => tip.show(`${d.target} with ${d.ablated} ablated\nEM ${d.em === null ? '—' : pct(d.em)} · coherence ${d.coherence === null ? '—' : pct(d.coherence)}`, ev))
    .on('mouseleave', () => tip.hide());
  cells.append('text').attr('x', x.bandwidth() / 2).attr('y', y.bandwidth() / 2 + 4).attr('text-anchor', 'middle').attr('font-size', 12).text((d) => (d.em === null ? '—' : pct(d.em)));
  axes(f, x as unknown as d3.AxisScale<d3.AxisDomain>, y as unknown as d3.AxisScale<d3.AxisDomain>, 'fine-tune evaluated (target)', '');
}

/** Line chart; `extra` rows join the data downloads (and the figures read from them) without being drawn. */
function lines(el: HTMLElement, id: string, title: string, caption: string, xs: number[], series: { label: string; values: (number | null)[]; dash?: string }[], xLabel: string, yLabel: string, yDomain: [number, number] = [0, 1], marker?: number | null, percent = yDomain[0] === 0 && yDomain[1] === 1, extra: { series: string; x: number; y: number | null }[] = []): void {
  const data = series.flatMap((s) => s.values.map((v, i) => ({ series: s.label, x: xs[i], y: v })));
  const f = frame(el, { id, title, caption, data: [...data, ...extra] });
  const x = d3.scaleLinear().domain(d3.extent(xs) as [number, number]).nice().range([0, f.width]);
  const y = d3.scaleLinear().domain(yDomain).nice().range([f.height, 0]);
  axes(f, x as unknown as d3.AxisScale<d3.AxisDomain>, y as unknown as d3.AxisScale<d3.AxisDomain>, xLabel, yLabel, percent ? (v) => pct(v as number) : undefined);
  if (series.every((s) => s.values.every((v) => v === null))) {
    f.g.append('text').attr('class', 'empty').attr('x', f.width / 2).attr('y', f.height / 2).attr('text-anchor', 'middle').attr('fill', '#6b7385').text('no defined values in this run');
  }
  const tip = tooltip();
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => [xs[i], v] as [number, number | null]).filter((p): p is [number, number] => p[1] !== null);
    f.g.append('path').datum(pts).attr('fill', 'none').attr('stroke', COLORS[k % 10]).attr('stroke-width', 2).attr('stroke-dasharray', s.dash ?? null)
      .attr('d', d3.line<[number, number]>().x((p) => x(p[0])).y((p) => y(p[1])));
    f.g.selectAll(`circle.s${k}`).data(pts).join('circle').attr('class', `s${k}`).attr('r', 3.5).attr('cx', (p) => x(p[0])).attr('cy', (p) => y(p[1])).attr('fill', COLORS[k % 10])
      .on('mousemove', (ev, p) => tip.show(`${s.label}\n${xLabel}: ${p[0]}\n${yLabel}: ${percent ? pct(p[1]) : p[1].toFixed(3)}`, ev)).on('mouseleave', () => tip.hide());
  });
  if (marker !== undefined && marker !== null) {
    f.g.append('line').attr('x1', x(marker)).attr('x2', x(marker)).attr('y1', 0).attr('y2', f.height).attr('stroke', '#b3261e').attr('stroke-dasharray', '4 3');
    f.g.append('text').attr('x', x(marker) + 4).attr('y', 12).attr('font-size', 11).attr('fill', '#b3261e').text(`transition at step ${marker}`);
  }
  legend(f, series.map((s, k) => ({ label: s.label, color: COLORS[k % 10], dash: s.dash })));
}

export function steeringSweep(el: HTMLElement, r: { source: string; direction?: string | null; layers: number[]; coefficients: number[]; em: number[][]; coherence: number[][] }): void {
  if (r.direction === null) {
    // the analysis falls back to the base model's eval in every cell: flat lines would pass for a measured null effect
    const box = el.appendChild(document.createElement('section'));
    box.className = 'chart';
    box.id = 'steering-sweep';
    box.innerHTML = `<h2>Steering sweep</h2><p class="muted">No EM direction for ${r.source.replace(/</g, '&lt;')} (its eval gave too few misaligned or aligned answers): nothing was steered.</p>`;
    return;
  }
  lines(el, 'steering-sweep', `EM% and coherence vs steering coefficient (${r.source} EM direction added to the base)`,
    `h ← h + α·v at resid_post of the named layer, every prompt and generated token. Solid: EM%; dashed: coherence. ${LAYERS}`,
    r.coefficients, r.layers.flatMap((l, i) => [{ label: LABELS.sweepEm(l), values: r.em[i] }, { label: LABELS.sweepCoherent(l), values: r.coherence[i], dash: '5 3' }]),
    'steering coefficient α', 'share of answers');
}

type GatePoint = { em: number; coherence: number; capability_loss?: number | null };

export function gatingCurves(el: HTMLElement, r: { scales: number[]; base: GatePoint[]; on_em_model: GatePoint[]; em_model: string }): void {
  // capability loss (nats per token on held-out text) is on another scale: it goes to the data downloads, not the plot
  const capability = [{ label: LABELS.gatingCapabilityBase, points: r.base }, { label: LABELS.gatingCapability(r.em_model), points: r.on_em_model }]
    .flatMap((s) => s.points.map((p, i) => ({ series: s.label, x: r.scales[i], y: typeof p.capability_loss === 'number' ? p.capability_loss : null })));
  lines(el, 'gating', 'Alignment gates: amplify (λ = 1) … off (0) … reverse (λ = −1)',
    `Gates g = 2σ(W·h + b) trained on sycophancy data, applied as 1 + λ(g − 1) to every attention output before o_proj, on the base model and on the ${r.em_model} EM fine-tune. Solid: EM%; dashed: coherence.`,
    r.scales, [
      { label: LABELS.gatingEmBase, values: r.base.map((p) => p.em) }, { label: LABELS.gatingEm(r.em_model), values: r.on_em_model.map((p) => p.em) },
      { label: LABELS.gatingCoherentBase, values: r.base.map((p) => p.coherence), dash: '5 3' }, { label: LABELS.gatingCoherent(r.em_model), values: r.on_em_model.map((p) => p.coherence), dash: '5 3' },
    ], 'gate scale λ', 'share of answers', undefined, undefined, undefined, capability);
}

type TrajectoryPca = { explained: number[]; coords: number[][]; steps: number[] };

export function phaseCurves(el: HTMLElement, r: { finetune: string; steps: number[]; local_cosine: Record<string, (number | null)[]>; loss: { step: number; loss: number }[]; transition_step: number | null; trajectory_pca?: TrajectoryPca }): void {
  lines(el, 'phase-transition', `LoRA-B rotation during the ${r.finetune} fine-tune`,
    'Local cosine cos(B[t−k] − B[t], B[t+k] − B[t]) of the rank-1 LoRA-B vector for k = 5, 10, 15 steps (undefined near the ends and where a step changes B by less than 0.002, as in the paper); a sharp rise marks a turn of B, the step where the behaviour is learned.',
    r.steps, ['5', '10', '15'].map((k) => ({ label: `k = ${k}`, values: r.local_cosine[k] })), 'training step', 'local cosine', [-1, 1], r.transition_step, false,
    r.transition_step === null ? [] : [{ series: LABELS.phaseTransition, x: r.transition_step, y: null }]);
  if (r.trajectory_pca?.explained.length === 2) trajectoryChart(el, r.finetune, r.trajectory_pca, r.transition_step);
  const ls = r.loss;
  if (ls.length) lines(el, 'phase-loss', 'Training loss', 'Assistant-token cross-entropy per optimizer step.', ls.map((l) => l.step), [{ label: 'loss', values: ls.map((l) => l.loss) }], 'training step', 'loss (nats / token)', [0, Math.max(...ls.map((l) => l.loss))]);
}

/** The B trajectory on its first two principal components, a line through the steps coloured from first to last. */
function trajectoryChart(el: HTMLElement, finetune: string, t: TrajectoryPca, transition: number | null): void {
  const data = t.steps.map((step, i) => ({ step, pc1: t.coords[i][0], pc2: t.coords[i][1] }));
  const f = frame(el, { id: 'phase-trajectory', title: `The LoRA-B trajectory of the ${finetune} fine-tune, on its two principal components`, data,
    caption: `Each dot is B at one saved step (flattened, centred over steps), projected on the trajectory's first two principal components (PC1 ${pct(t.explained[0])}, PC2 ${pct(t.explained[1])} of its variance), coloured from the first step (light) to the last (dark); the ringed dot is the detected transition step. A turn of the path is the rotation the local cosine measures.` });
  const x = d3.scaleLinear().domain(d3.extent(data, (d) => d.pc1) as [number, number]).nice().range([0, f.width]);
  const y = d3.scaleLinear().domain(d3.extent(data, (d) => d.pc2) as [number, number]).nice().range([f.height, 0]);
  axes(f, x as unknown as d3.AxisScale<d3.AxisDomain>, y as unknown as d3.AxisScale<d3.AxisDomain>, `PC1 (${pct(t.explained[0])} of variance)`, `PC2 (${pct(t.explained[1])})`);
  const color = d3.scaleSequential(d3.interpolateBlues).domain([t.steps[0] - (t.steps.at(-1)! - t.steps[0]) * 0.3, t.steps.at(-1)!]);
  f.g.append('path').datum(data).attr('fill', 'none').attr('stroke', '#bbb').attr('d', d3.line<(typeof data)[number]>().x((d) => x(d.pc1)).y((d) => y(d.pc2)));
  const tip = tooltip();
  f.g.selectAll('circle.traj').data(data).join('circle').attr('class', 'traj').attr('r', 3).attr('fill', (d) => color(d.step))
    .attr('cx', (d) => x(d.pc1)).attr('cy', (d) => y(d.pc2))
    .on('mousemove', (ev, d) => tip.show(`step ${d.step} · PC1 ${d.pc1.toPrecision(3)} · PC2 ${d.pc2.toPrecision(3)}`, ev)).on('mouseleave', () => tip.hide());
  const turn = data.find((d) => d.step === transition);
  if (turn) f.g.append('circle').attr('r', 7).attr('fill', 'none').attr('stroke', COLORS[2]).attr('stroke-width', 2).attr('cx', x(turn.pc1)).attr('cy', y(turn.pc2));
  legend(f, [{ label: 'first step', color: color(t.steps[0]) }, { label: 'last step', color: color(t.steps.at(-1)!) }, ...(turn ? [{ label: `transition (step ${turn.step})`, color: COLORS[2] }] : [])]);
}

export function sycophancyBars(el: HTMLElement, r: { base: { em: number; coherence: number }; sycophancy: { em: number; coherence: number }; aligned_control: { em: number; coherence: number } }): void {
  const M = LABELS.sycophancyModels;
  const data = [{ model: M.base, ...r.base }, { model: M.sycophancy, ...r.sycophancy }, { model: M.aligned_control, ...r.aligned_control }];
  const f = frame(el, { id: 'sycophancy-em', title: 'Sycophancy fine-tune → broad misalignment', data,
    caption: 'EM% on broad questions (domains in no fine-tune set) after a LoRA on agreeing with wrong claims (nothing overtly harmful), against the base and a fine-tune on aligned medical answers.' });
  const x = d3.scaleBand<string>().domain(data.map((d) => d.model)).range([0, f.width]).padding(0.3);
  const y = d3.scaleLinear().domain([0, Math.max(0.1, ...data.map((d) => d.em))]).nice().range([f.height, 0]);
  axes(f, x as unknown as d3.AxisScale<d3.AxisDomain>, y as unknown as d3.AxisScale<d3.AxisDomain>, 'model', 'EM (share of answers)', (v) => pct(v as number));
  const tip = tooltip();
  f.g.selectAll('rect.bar').data(data).join('rect').attr('class', 'bar').attr('x', (d) => x(d.model)!).attr('width', x.bandwidth()).attr('y', (d) => y(d.em)).attr('height', (d) => f.height - y(d.em)).attr('fill', (_, i) => COLORS[i])
    .on('mousemove', (ev, d) => tip.show(`${d.model}\nEM ${pct(d.em)} · coherence ${pct(d.coherence)}`, ev)).on('mouseleave', () => tip.hide());
  legend(f, data.map((d, i) => ({ label: d.model, color: COLORS[i] })));
}

export function reboundCurves(el: HTMLElement, r: { amounts: number[]; from_base: { em: number }[]; from_positive: { em: number }[] }): void {
  lines(el, 'rebound', 'Resistance: EM after small amounts of contradictory data',
    'A LoRA on the first N misaligned medical examples, trained from the base model and from a model first fine-tuned on aligned data; EM% on broad questions.',
    r.amounts, [{ label: 'from the base', values: r.from_base.map((c) => c.em) }, { label: 'from the aligned fine-tune', values: r.from_positive.map((c) => c.em) }], 'contradictory examples N', 'EM (share of answers)');
}

export function refusalBars(el: HTMLElement, r: { layer: number; harmful_base: { refusal_rate: number }; harmful_ablated: { refusal_rate: number }; harmless_base: { refusal_rate: number }; harmless_added: { refusal_rate: number }; kl_harmless_ablated: number; filters_passed?: boolean | null }): void {
  const data = [
    { condition: LABELS.refusalConditions.harmful_base, rate: r.harmful_base.refusal_rate }, { condition: LABELS.refusalConditions.harmful_ablated, rate: r.harmful_ablated.refusal_rate },
    { condition: LABELS.refusalConditions.harmless_base, rate: r.harmless_base.refusal_rate }, { condition: LABELS.refusalConditions.harmless_added, rate: r.harmless_added.refusal_rate },
  ];
  const f = frame(el, { id: 'refusal', title: 'The refusal direction: ablated and added', data,
    caption: `Share of held-out prompts whose greedy answer opens with a refusal. Ablated: the direction projected out of every block input and every attention and MLP output; added: the direction added at the block input of layer ${r.layer} (its selected layer). KL on harmless prompts under ablation: ${typeof r.kl_harmless_ablated === 'number' ? r.kl_harmless_ablated.toFixed(3) : '—'}${r.filters_passed === false ? ' (no candidate met the selection\'s KL < 0.1 and addition filters; this one ablates refusal best among all)' : ''}.` });
  const x = d3.scaleBand<string>().domain(data.map((d) => d.condition)).range([0, f.width]).padding(0.3);
  const y = d3.scaleLinear().domain([0, 1]).range([f.height, 0]);
  axes(f, x as unknown as d3.AxisScale<d3.AxisDomain>, y as unknown as d3.AxisScale<d3.AxisDomain>, 'prompts and intervention', 'refusal rate', (v) => pct(v as number));
  const tip = tooltip();
  f.g.selectAll('rect.bar').data(data).join('rect').attr('class', 'bar').attr('x', (d) => x(d.condition)!).attr('width', x.bandwidth()).attr('y', (d) => y(d.rate)).attr('height', (d) => f.height - y(d.rate)).attr('fill', (_, i) => COLORS[i])
    .on('mousemove', (ev, d) => tip.show(`${d.condition}: ${pct(d.rate)} refuse`, ev)).on('mouseleave', () => tip.hide());
}

export function emBars(el: HTMLElement, rows: { name: string; em_rate: number; coherence: number; n: number }[]): void {
  const f = frame(el, { id: 'em', title: 'Emergent misalignment per fine-tune', data: rows,
    caption: 'EM% (aligned ≤ 30 and coherent > 50; JSON-form answers left out) and coherence (coherent > 50) on held-out broad questions — domains no fine-tune set touches — for the base model and each narrow fine-tune (rank-1 LoRA on down_proj of the middle block).' });
  const x0 = d3.scaleBand<string>().domain(rows.map((r) => r.name)).range([0, f.width]).padding(0.2);
  const x1 = d3.scaleBand<string>().domain(['EM', 'coherence']).range([0, x0.bandwidth()]).padding(0.08);
  const y = d3.scaleLinear().domain([0, 1]).range([f.height, 0]);
  axes(f, x0 as unknown as d3.AxisScale<d3.AxisDomain>, y as unknown as d3.AxisScale<d3.AxisDomain>, 'model', 'share of answers', (v) => pct(v as number));
  const tip = tooltip();
  const g = f.g.selectAll('g.model').data(rows).join('g').attr('class', 'model').attr('transform', (r) => `translate(${x0(r.name)},0)`);
  g.selectAll('rect.bar').data((r) => [{ k: 'EM', v: r.em_rate, r }, { k: 'coherence', v: r.coherence, r }]).join('rect').attr('class', 'bar')
    .attr('x', (d) => x1(d.k)!).attr('width', x1.bandwidth()).attr('y', (d) => y(d.v)).attr('height', (d) => f.height - y(d.v)).attr('fill', (d) => (d.k === 'EM' ? COLORS[2] : COLORS[0]))
    .on('mousemove', (ev, d) => tip.show(`${d.r.name}: ${d.k} ${pct(d.v)} (n = ${d.r.n})`, ev)).on('mouseleave', () => tip.hide());
  legend(f, [{ label: 'EM', color: COLORS[2] }, { label: 'coherent', color: COLORS[0] }]);
}

export function projectionChart(el: HTMLElement, p: { direction: string; finetune: string; layers: number[]; answers: { aligned: number | null; coherent: number | null; em: boolean; text: string; projection: number[] }[] }): void {
  const group = (a: (typeof p.answers)[number]) => (a.em ? 'misaligned (EM)' : a.aligned !== null && a.aligned > 70 ? 'aligned (> 70)' : 'other');
  const data = p.answers.flatMap((a) => p.layers.map((l) => ({ layer: l, projection: a.projection[l], group: group(a), aligned: a.aligned, coherent: a.coherent, text: a.text })));
  const f = frame(el, { id: 'projection', title: `Answers projected on the ${p.finetune} EM direction, by layer`, data,
    caption: `Each dot is one answer of the ${p.finetune} fine-tune: its answer-token mean at resid_post of a layer, projected on that layer's unit EM direction (h·v/‖v‖). Lines: group means. Misaligned answers should sit above aligned ones where the direction separates them. Layers are 0-based decoder blocks.` });
  const groups = ['misaligned (EM)', 'aligned (> 70)', 'other'];
  const color = (g: string) => [COLORS[2], COLORS[0], '#aaa'][groups.indexOf(g)];
  const x = d3.scalePoint<number>().domain(p.layers).range([0, f.width]).padding(0.5);
  const y = d3.scaleLinear().domain(d3.extent(data, (d) => d.projection) as [number, number]).nice().range([f.height, 0]);
  axes(f, x as unknown as d3.AxisScale<d3.AxisDomain>, y as unknown as d3.AxisScale<d3.AxisDomain>, 'layer (decoder block)', 'projection on the EM direction');
  const jitter = d3.randomUniform.source(d3.randomLcg(2))(-8, 8);
  const tip = tooltip();
  f.g.selectAll('circle.proj').data(data).join('circle').attr('class', 'proj').attr('r', 2.5).attr('opacity', 0.55)
    .attr('cx', (d) => x(d.layer)! + jitter()).attr('cy', (d) => y(d.projection)).attr('fill', (d) => color(d.group))
    .on('mousemove', (ev, d) => tip.show(`${d.group} · layer ${d.layer} · projection ${d.projection.toFixed(2)}\naligned ${d.aligned ?? '—'} · coherent ${d.coherent ?? '—'}\n${d.text}`, ev)).on('mouseleave', () => tip.hide());
  for (const g of groups.slice(0, 2)) {
    const rows = p.answers.filter((a) => group(a) === g);
    if (!rows.length) continue;
    const means = p.layers.map((l) => [l, d3.mean(rows, (a) => a.projection[l])!] as [number, number]);
    f.g.append('path').datum(means).attr('fill', 'none').attr('stroke', color(g)).attr('stroke-width', 2.5).attr('d', d3.line<[number, number]>().x((m) => x(m[0])!).y((m) => y(m[1])));
  }
  legend(f, groups.map((g) => ({ label: g, color: color(g) })));
}
