// One chart per analysis result, all reading report JSON only: cosine heatmap, transfer matrix, EM/coherence vs
// steering coefficient, gate amplify/suppress curves, training curves with the LoRA-B rotation, sycophancy bars,
// rebound curves. Browser code; d3 v7.
import * as d3 from 'd3';
import { axes, COLORS, frame, legend, pct, tooltip } from './frame.ts';
import { LABELS } from '../src/report/findings.ts';
import { TRANSFER_BASE_TARGET } from '../src/report/upgrade.ts';
import { turnRuleFields } from '../src/train/phase-turn.ts';
import { LAYER_CONVENTION } from '../src/util/conventions.ts';
import type { SteeringTransferResult } from '../analyses/steering-transfer.ts';
import type { AnswerProjection, DirectionComparisonResult } from '../analyses/direction-comparison.ts';
import type { SteeringSweepResult } from '../analyses/steering-sweep.ts';
import type { GatingResult } from '../analyses/gating.ts';
import type { PhaseTransitionResult } from '../analyses/phase-transition.ts';
import type { SycophancyEmResult } from '../analyses/sycophancy-em.ts';
import type { ReboundResult } from '../analyses/rebound.ts';
import type { RefusalResult } from '../analyses/refusal.ts';
import type { DemoEmRow } from '../src/study/demo.ts';
import type { ResistanceResult } from '../analyses/resistance.ts';
import type { RealignmentResult } from '../analyses/realignment.ts';

const LAYERS = `Layers are ${LAYER_CONVENTION} (HF indices).`;

export function cosineHeatmap(el: HTMLElement, r: DirectionComparisonResult): void {
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

export function transferMatrix(el: HTMLElement, r: SteeringTransferResult): void {
  // one chart row per intervention: none, then each source's direction and its random twin from the residual stream,
  // then from the target's LoRA B, then each source LoRA's write direction at its block (when the run has them)
  const label = (row: Parameters<typeof LABELS.transferRow>[0]) => LABELS.transferRow(row, r);
  const has = (intervention: string, control: boolean) => r.rows.some((x) => x.intervention === intervention && x.control === control);
  const rows = [
    LABELS.transferNone,
    ...r.sources.flatMap((s) => [label({ source: s, intervention: 'ablation', control: false }), label({ source: s, intervention: 'ablation', control: true })]),
    ...(has('lora_ablation', false) ? r.sources.map((s) => label({ source: s, intervention: 'lora_ablation', control: false })) : []),
    ...(has('lora_ablation', true) ? [label({ source: null, intervention: 'lora_ablation', control: true })] : []),
    ...(has('write_ablation', false) ? r.sources.map((s) => label({ source: s, intervention: 'write_ablation', control: false })) : []),
    ...(has('write_ablation', true) ? [label({ source: null, intervention: 'write_ablation', control: true })] : []),
  ];
  // the downloads hold every row of the result (additions and the base model's own EM too), with the chart row it is in
  const data = r.rows.map((row) => ({ ablated: label(row), ...row }));
  const drawn = data.filter((d) => d.intervention !== 'addition' && r.targets.includes(d.target));
  const grid = rows.flatMap((ablated) => r.targets.map((target) => {
    const c = drawn.find((d) => d.ablated === ablated && d.target === target);
    return { ablated, target, em: c?.em ?? null, coherence: c?.coherence ?? null };
  }));
  const base = r.rows.find((x) => x.target === TRANSFER_BASE_TARGET && x.intervention === 'none');
  const f = frame(el, {
    id: 'steering-transfer', title: 'Steering transfer: EM% of each fine-tune with a direction ablated', data,
    caption: `Rows: the direction projected out of resid_pre and resid_post of every block (an EM direction from the named fine-tune, or a random vector of equal norm)${has('lora_ablation', false) ? "; rows “from LoRA B”: projected out of the target's LoRA B instead, ‖B‖ kept (research.md §2)" : ''}${has('write_ablation', false) ? "; rows “LoRA write @L”: the direction the named fine-tune's LoRA writes into the residual stream (its B), projected out of resid_pre and resid_post of block L only, as the paper ablates at one layer" : ''}; columns: the fine-tune evaluated on broad questions. Cell: EM% (aligned ≤ 30 and coherent > 50). Base model EM: ${base ? pct(base.em) : '—'}. The data downloads hold one row per measured cell (source, target, intervention, control, em, coherence, n), additions included. ${LAYERS}`,
    height: 80 + rows.length * 30, margin: { top: 20, right: 40, bottom: 48, left: 190 },
  });
  const x = d3.scaleBand<string>().domain(r.targets).range([0, f.width]).padding(0.06);
  const y = d3.scaleBand<string>().domain(rows).range([0, f.height]).padding(0.06);
  const color = d3.scaleSequential(d3.interpolateOrRd).domain([0, 1]);
  const tip = tooltip();
  const cells = f.g.selectAll('g.cell').data(grid).join('g').attr('class', 'cell').attr('transform', (d) => `translate(${x(d.target)},${y(d.ablated)})`);
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

export function steeringSweep(el: HTMLElement, r: SteeringSweepResult): void {
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

export function gatingCurves(el: HTMLElement, r: GatingResult): void {
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

type TrajectoryPca = PhaseTransitionResult['trajectory_pca'];

/** Runs written before the trajectory's PCA existed have none: drawn without it. */
export function phaseCurves(el: HTMLElement, r: Omit<PhaseTransitionResult, 'trajectory_pca'> & { trajectory_pca?: TrajectoryPca }): void {
  const rule = r.turn_rule ?? turnRuleFields();
  lines(el, 'phase-transition', `LoRA-B rotation during the ${r.finetune} fine-tune`,
    `Local cosine cos(B[t−k] − B[t], B[t+k] − B[t]) of the rank-1 LoRA-B vector for k = 5, 10, 15 steps (undefined near the ends and where a step changes B by less than 0.002, as in the paper); a straight run keeps it near −1, a turn lifts it. The transition is the step where the k = 5 cosine rises by ${rule.min_rise} or more above its running level (the median of the ${rule.window} steps before), away from the first and last ${Math.round(100 * rule.margin)}% of the run${rule.min_travel == null ? '' : `, with at least ${Math.round(100 * rule.min_travel)}% of B's way still ahead (once B has settled, its tiny steps swing the cosine as a turn would)`}${r.transition_step === null ? ': none here, B moves without turning' : ''}.`,
    r.steps, ['5', '10', '15'].map((k) => ({ label: `k = ${k}`, values: r.local_cosine[k] })), 'training step', 'local cosine', [-1, 1], r.transition_step, false,
    r.transition_step === null ? [] : [{ series: LABELS.phaseTransition, x: r.transition_step, y: null }]);
  const cps = r.checkpoints ?? [];
  if (cps.length) {
    lines(el, 'phase-em', `Broad EM along the ${r.finetune} fine-tune`,
      `The adapter saved at ${cps.length - 1} evenly spaced steps (step 0: the model before it), each judged on the broad questions. Solid: EM; dashed: coherence.${r.em_before !== null && r.em_after !== null ? ` EM ${pct(r.em_before)} before the transition, ${pct(r.em_after)} from it on.` : ''}`,
      cps.map((c) => c.step), [{ label: 'EM', values: cps.map((c) => c.em) }, { label: 'coherence', values: cps.map((c) => c.coherence), dash: '5 3' }], 'training step', 'share of answers', [0, 1], r.transition_step, true,
      r.transition_step !== null && r.em_before !== null && r.em_after !== null
        ? [{ series: LABELS.phaseEmBefore, x: r.transition_step, y: r.em_before }, { series: LABELS.phaseEmAfter, x: r.transition_step, y: r.em_after }] : []);
  }
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

export function sycophancyBars(el: HTMLElement, r: SycophancyEmResult): void {
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

export function reboundCurves(el: HTMLElement, r: ReboundResult): void {
  lines(el, 'rebound', 'Resistance: EM after small amounts of contradictory data',
    'A LoRA on the first N misaligned medical examples, trained from the base model and from a model first fine-tuned on aligned data; EM% on broad questions.',
    r.amounts, [{ label: 'from the base', values: r.from_base.map((c) => c.em) }, { label: 'from the aligned fine-tune', values: r.from_positive.map((c) => c.em) }], 'contradictory examples N', 'EM (share of answers)');
}

export function refusalBars(el: HTMLElement, r: RefusalResult): void {
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

export function emBars(el: HTMLElement, rows: DemoEmRow[]): void {
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

export function projectionChart(el: HTMLElement, p: AnswerProjection): void {
  const group = (a: (typeof p.answers)[number]) => (a.em ? 'misaligned (EM)' : a.aligned !== null && a.aligned > 70 ? 'aligned (> 70)' : 'other');
  const data = p.answers.flatMap((a) => p.layers.map((l) => ({ layer: l, projection: a.projection[l], group: group(a), aligned: a.aligned, coherent: a.coherent, text: a.text })));
  const f = frame(el, { id: 'projection', title: `Answers projected on the ${p.finetune} EM direction, by layer`, data,
    caption: `Each dot is one answer of the ${p.finetune} fine-tune: its answer-token mean at resid_post of a layer, projected on that layer's unit EM direction (h·v/‖v‖). Lines: group means. Misaligned answers should sit above aligned ones where the direction separates them. ${LAYERS}` });
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

/** Ji et al.'s resistance: the two loss curves, the rebound after contradictory data, the asymmetry by pretraining amount. */
export function resistanceCharts(el: HTMLElement, r: ResistanceResult): void {
  const L = LABELS.resistance;
  const a = r.asymmetry;
  const st = r.settings;
  if (a) {
    const last = a.inverse.steps.at(-1) ?? 0;
    const heldout = (series: string, run: typeof a.inverse) => [{ series, x: 0, y: run.heldout_before }, { series, x: last, y: run.heldout_after }];
    const top = Math.max(...a.inverse.loss, ...a.forward.loss, a.inverse.heldout_before, a.forward.heldout_before);
    lines(el, 'resistance', 'Resistance: inverse vs forward alignment, training loss per step',
      `Both directions trained with identical settings (${st.adapter === 'full' ? 'every weight' : 'the model’s LoRA recipe'}, the first ${st.examples} examples, ${a.inverse.steps.length} steps, lr ${st.lr}, batch ${st.batch} × ${st.grad_accum}, seed ${st.seed}): the aligned model on its pretraining distribution (inverse) and the pretrained checkpoint on the aligned distribution (forward). Held-out loss (the last ${st.heldout} examples of each file, in the downloads at steps 0 and ${last}): inverse ${a.inverse.heldout_before.toFixed(3)} → ${a.inverse.heldout_after.toFixed(3)}, forward ${a.forward.heldout_before.toFixed(3)} → ${a.forward.heldout_after.toFixed(3)}; ratio of the decreases ${a.ratio === null ? '— (the forward loss did not fall)' : a.ratio.toFixed(2)} (> 1: inverse alignment is easier, Ji et al.).`,
      a.inverse.steps, [{ label: L.inverse, values: a.inverse.loss }, { label: L.forward, values: a.forward.loss }], 'optimizer step', 'training loss (nats per assistant token)',
      [0, top], null, false, [...heldout(L.heldout(L.inverse), a.inverse), ...heldout(L.heldout(L.forward), a.forward)]);
  }
  const rb = r.rebound;
  if (rb) {
    lines(el, 'resistance-rebound', 'Rebound: EM after a little contradictory data, by the amount of positive data first',
      'Each line: a model aligned by a LoRA on the first A positive examples (merged in; A = 0: the model as it is), then a LoRA on the first N contradictory examples; EM% on broad questions (N = 0: before the contradictory data). Ji et al.: the score falls fast, then plateaus, and more so after more positive data.',
      [0, ...rb.amounts], rb.positive_amounts.map((pa, i) => ({ label: L.positive(pa), values: [rb.start[i].em, ...rb.after[i].map((c) => c.em)] })), 'contradictory examples N', 'EM (share of answers)');
  }
  const pts = r.pretraining;
  if (pts?.length) {
    const xs = pts.map((p, i) => p.percent ?? i + 1);
    lines(el, 'resistance-pretraining', 'Resistance by the amount of pretraining',
      `For each checkpoint: the forward run from it (aligned data), then the inverse run from what that made (pretraining data), as above; the ratio of their held-out loss decreases. Checkpoints: ${pts.map((p) => p.label).join(', ')}. Ji et al.: resistance grows with more pretraining (and with scale).`,
      xs, [{ label: L.ratio, values: pts.map((p) => p.ratio) }, { label: L.decrease(L.inverse), values: pts.map((p) => p.inverse.decrease), dash: '4 3' }, { label: L.decrease(L.forward), values: pts.map((p) => p.forward.decrease), dash: '2 2' }],
      pts.every((p) => p.percent !== null) ? 'share of pretraining steps (%)' : 'checkpoint', 'ratio · loss decrease', [0, Math.max(1, ...pts.flatMap((p) => [p.ratio ?? 0, p.inverse.decrease, p.forward.decrease]))], null, false);
  }
}

type ErosionRate = { refusal_rate: number; mean_refusal_score: number };
type ErosionPoint = ErosionRate & { n: number; with_system: ErosionRate | null; capability_loss: number; projection: (number | null)[]; shift_cosine: (number | null)[]; model_diff: { cosine: (number | null)[] } };

/** Refusal on harmful-eval against the number of fine-tune examples, one line per kind of data (N = 0: the base). */
export function safetyErosionChart(el: HTMLElement, r: { refusal_direction: { layer: number; site: string }; base: ErosionRate & { capability_loss: number; projection: (number | null)[] }; conditions: { name: string; epochs: number; system_prompt: string | null; base_with_system: ErosionRate | null; points: ErosionPoint[] }[] }): void {
  const xs = [...new Set([0, ...r.conditions.flatMap((c) => c.points.map((p) => p.n))])].sort((a, b) => a - b);
  const at = (c: (typeof r.conditions)[number], value: (p: ErosionPoint) => number | null, base: number | null) => xs.map((x) => (x === 0 ? base : (() => { const p = c.points.find((q) => q.n === x); return p ? value(p) : null; })()));
  const series = r.conditions.flatMap((c) => [
    { label: LABELS.erosion.refusal(c.name), values: at(c, (p) => p.refusal_rate, r.base.refusal_rate) },
    ...(c.base_with_system ? [{ label: LABELS.erosion.refusalWithSystem(c.name), values: at(c, (p) => p.with_system?.refusal_rate ?? null, c.base_with_system.refusal_rate), dash: '5 3' }] : []),
  ]);
  // the other figures of each point (scores, capability, along the refusal direction at the read block) join the downloads
  const L = LABELS.erosion.readLayer(r.base.projection.length);
  const extra = r.conditions.flatMap((c) => [{ n: 0, p: null as ErosionPoint | null }, ...c.points.map((p) => ({ n: p.n, p }))].flatMap(({ n, p }) => [
    { series: LABELS.erosion.score(c.name), x: n, y: p ? p.mean_refusal_score : r.base.mean_refusal_score },
    { series: LABELS.erosion.capability(c.name), x: n, y: p ? p.capability_loss : r.base.capability_loss },
    { series: LABELS.erosion.projection(c.name, L), x: n, y: p ? p.projection[L] ?? null : r.base.projection[L] ?? null },
    ...(p ? [{ series: LABELS.erosion.shiftCosine(c.name, L), x: n, y: p.shift_cosine[L] ?? null }, { series: LABELS.erosion.diffCosine(c.name, L), x: n, y: p.model_diff.cosine[L] ?? null }] : []),
  ]));
  const epochs = r.conditions.map((c) => `${c.name} ${c.epochs} epoch${c.epochs === 1 ? '' : 's'}`).join(', ');
  lines(el, 'safety-erosion', 'Safety erosion: refusal after fine-tuning on N examples',
    `Share of held-out harmful prompts (harmful-eval) whose greedy answer opens with a refusal, after a fine-tune on the first N examples of each set (${epochs}); N = 0 is the model before. Dashed: asked under the set's own system prompt (the identity-shifting protocol), the base under it at N = 0. The downloads add the mean refusal score, the capability loss on held-out aligned chats, and at the block input of block ${L}: the mean projection of the prompts' last-token activations on the refusal direction, the cosine of the fine-tune's shift there with it, and of its model-diff direction. ${LAYERS}`,
    xs, series, 'fine-tune examples N', 'refusal rate', [0, 1], undefined, true, extra);
}

export function realignmentCharts(el: HTMLElement, r: RealignmentResult): void {
  const L = LABELS.realignment;
  const data = r.aligned_data.split('/').pop();
  lines(el, 'realignment', 'Re-alignment: EM after N aligned examples of another domain',
    `Each EM fine-tune merged into the base and continued with a rank-1 LoRA on the first N examples of ${data} (the same number of optimizer steps for every N); EM% (solid) and coherence (dashed) on broad questions. N = 0 is the merged fine-tune itself.`,
    r.n_aligned, r.starts.flatMap((s) => [{ label: L.em(s.name), values: s.cells.map((c) => c.em) }, { label: L.coherent(s.name), values: s.cells.map((c) => c.coherence), dash: '5 4' }]),
    'aligned examples N', 'share of answers');
  const withDirection = r.starts.filter((s) => s.direction !== null);
  if (!withDirection.length) return;
  const values = withDirection.flatMap((s) => [s.base_projection, ...s.cells.map((c) => c.projection)]).filter((v): v is number => v !== null);
  const pad = (Math.max(...values) - Math.min(...values)) * 0.05 || 1;
  lines(el, 'realignment-projection', "Re-alignment: the answers' projection on the EM direction",
    `Mean over each model's answers of h·v̂ (answer-token mean at resid_post of the direction's best block) on its start's EM direction; dashed: the base model's answers on the same direction. ${LAYERS}`,
    r.n_aligned, withDirection.flatMap((s) => [
      { label: L.projection(s.name, s.layer), values: s.cells.map((c) => c.projection) },
      { label: L.baseProjection(s.name, s.layer), values: s.cells.map(() => s.base_projection), dash: '5 4' },
    ]), 'aligned examples N', 'mean projection h·v̂', [Math.min(...values) - pad, Math.max(...values) + pad]);
}
