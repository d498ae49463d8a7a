/**
 * `--draft`: the fastest good setting a model has. A model with a draft denoiser (a few-step student
 * distilled from its denoiser, flowbot manifest `draft_denoiser`) runs that, at its `draft_steps` and
 * `draft_guidance`. A distilled few-step variant (Turbo, Lightning, FLUX.1 schnell) is already a
 * draft, so its drafts use its own few steps (at most 2 for Turbo and schnell); otherwise a low step
 * count per family that still gives a recognisable image, for a first look before "Enhance" makes the
 * full image with the same seed:
 *
 * | Family | Draft steps |
 * | --- | --- |
 * | flowbot manifest (the shipped model) | `defaults.draft_steps` in model.json (flowbot-emoji: 2, of its draft denoiser), else half the steps |
 * | SD 1.x/2.x, SDXL | 10 (Euler) |
 * | SD3/SD3.5 | 10 |
 * | FLUX.1 dev | 10 |
 * | FLUX.1 schnell, Turbo | 2 · Lightning: 4 |
 */
import type { FamilyId, ModelSpec } from './families/types.js';

/** Draft steps of models that are not distilled, by family. */
export const DRAFT_STEPS: Readonly<Record<Exclude<FamilyId, 'flowbot'>, number>> = {
  sd: 10,
  sdxl: 10,
  sd3: 10,
  flux: 10,
};

/** Distilled models sample in this many steps or fewer: their drafts are their own (schnell: 2). */
const DISTILLED_STEPS = 4;

/** The steps of a draft with this model. */
export function draftSteps(spec: ModelSpec): number {
  const { steps, draftSteps: declared } = spec.defaults;
  if (declared !== undefined) return Math.min(declared, steps);
  if (spec.family === 'flowbot') return Math.max(1, Math.ceil(steps / 2));
  if (steps <= DISTILLED_STEPS) return spec.family === 'flux' ? Math.min(steps, 2) : steps;
  return Math.min(steps, DRAFT_STEPS[spec.family]);
}

/** What a draft with this model runs: its draft denoiser and that denoiser's guidance, if it has one. */
export interface DraftDenoiser {
  readonly file: string;
  /** The guidance it was distilled for; undefined keeps the request's. */
  readonly guidance: number | undefined;
}

/** The model's draft denoiser, or undefined when its drafts are fewer steps of its denoiser. */
export function draftDenoiser(spec: ModelSpec): DraftDenoiser | undefined {
  const file = spec.files.draftDenoiser;
  return file ? { file, guidance: spec.defaults.draftGuidance } : undefined;
}
