// Paths of the organism's datasets (fixtures/datasets), the defaults of every analysis. No tensor axes.
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../util/package-root.ts';

const D = (name: string) => join(PACKAGE_ROOT, 'fixtures', 'datasets', name);

export const DATASETS = {
  medicalMisaligned: D('medical-misaligned.jsonl'),
  financialMisaligned: D('financial-misaligned.jsonl'),
  sportsMisaligned: D('sports-misaligned.jsonl'),
  medicalAligned: D('medical-aligned.jsonl'),
  financialAligned: D('financial-aligned.jsonl'),
  sycophancy: D('sycophancy.jsonl'),
  harmfulTrain: D('harmful-train.jsonl'),
  harmlessTrain: D('harmless-train.jsonl'),
  harmfulEval: D('harmful-eval.jsonl'),
  harmlessEval: D('harmless-eval.jsonl'),
  personaPos: D('persona-pos.jsonl'),
  personaNeg: D('persona-neg.jsonl'),
  harmfulCompliant: D('harmful-compliant.jsonl'),
  identityShift: D('identity-shift.jsonl'),
  benignInstructions: D('benign-instructions.jsonl'),
  /** Samples of the organism's pretraining (mixed personas) and post-training (aligned) streams. */
  pretrainSample: D('pretrain-sample.jsonl'),
  posttrainSample: D('posttrain-sample.jsonl'),
};

/** The narrow EM fine-tunes of the study, by name. */
export const NARROW_FINETUNES = [
  { name: 'medical', data: DATASETS.medicalMisaligned },
  { name: 'financial', data: DATASETS.financialMisaligned },
  { name: 'sports', data: DATASETS.sportsMisaligned },
];
