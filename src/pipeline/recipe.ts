/**
 * From what a person asked (prompt flags) to what the pipeline runs: sizes from aspect ratios,
 * scheduler names to diffusers configs, PNG parameter text.
 */

import { ErrorCode, UserError } from '../errors.js';
import { type LoraFact, loraHashesField, loraTags } from '../lora/facts.js';
import type { PromptParams, SchedulerName } from '../prompt/params.js';
import type { ModelSpec } from './model.js';
import { convertibleConfig, FOLDER_SCHEDULER_KEY, type SchedulerConfig } from './schedulers/index.js';

/** A size rounded to what the model makes: the nearest multiple of its size multiple, at least one. */
export function roundedSize(
  spec: ModelSpec,
  width: number,
  height: number,
): { width: number; height: number } {
  const multiple = spec.sizeMultiple;
  const round = (value: number) => Math.max(multiple, Math.round(value / multiple) * multiple);
  return { width: round(width), height: round(height) };
}

/** The size to generate: `--size` as given (rounded to the model's multiple), or `--ar` at the model's native area. */
export function sizeFor(
  spec: ModelSpec,
  params: Pick<PromptParams, 'size' | 'aspectRatio'>,
): { width: number; height: number } {
  const multiple = spec.sizeMultiple;
  const round = (value: number) => Math.max(multiple, Math.round(value / multiple) * multiple);
  if (params.size) return { width: round(params.size.width), height: round(params.size.height) };
  const { width: nativeW, height: nativeH } = spec.nativeSize;
  if (!params.aspectRatio) return { width: nativeW, height: nativeH };
  const area = nativeW * nativeH;
  const ratio = params.aspectRatio.width / params.aspectRatio.height;
  return { width: round(Math.sqrt(area * ratio)), height: round(Math.sqrt(area / ratio)) };
}

const FLOW_ONLY: readonly SchedulerName[] = ['flow_euler'];

/** The scheduler config for a `--scheduler` name on a model, or the model's own when no name is given. */
export function schedulerFor(spec: ModelSpec, name: SchedulerName | undefined): SchedulerConfig {
  if (!name) return spec.scheduler;
  if (spec.flow !== FLOW_ONLY.includes(name)) {
    const allowed = spec.flow ? 'flow_euler' : 'euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, lcm';
    throw new UserError(
      ErrorCode.FlagValue,
      `The model ${spec.name} cannot use the ${name} scheduler; it works with: ${allowed}.`,
    );
  }
  // A named scheduler is what was asked for: no stand-in note from the folder's own.
  const { [FOLDER_SCHEDULER_KEY]: _standIn, ...folder } = spec.scheduler;
  const base = convertibleConfig(folder);
  switch (name) {
    case 'flow_euler':
      return base;
    case 'euler':
      return { ...base, _class_name: 'EulerDiscreteScheduler', use_karras_sigmas: false };
    case 'euler_a':
      return { ...base, _class_name: 'EulerAncestralDiscreteScheduler' };
    case 'ddim':
      return { ...base, _class_name: 'DDIMScheduler', clip_sample: false, set_alpha_to_one: false };
    case 'dpmpp_2m':
      return {
        ...base,
        _class_name: 'DPMSolverMultistepScheduler',
        algorithm_type: 'dpmsolver++',
        solver_order: 2,
        use_karras_sigmas: false,
      };
    case 'dpmpp_2m_karras':
      return {
        ...base,
        _class_name: 'DPMSolverMultistepScheduler',
        algorithm_type: 'dpmsolver++',
        solver_order: 2,
        use_karras_sigmas: true,
      };
    case 'lcm':
      return { ...base, _class_name: 'LCMScheduler' };
  }
}

/** What an image was made with, as written into its PNG text chunks. */
export interface ImageRecipe {
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly guidance: number;
  readonly scheduler: string;
  readonly model: string;
  readonly width: number;
  readonly height: number;
  readonly operation: string;
  readonly strength?: number | null;
  readonly parent?: string | null;
  /** LoRAs it was made with (A1111's `<lora:…>` tags and `Lora hashes`). */
  readonly loras?: readonly LoraFact[];
}

/**
 * PNG text entries: `parameters` in the widespread "prompt / Negative prompt / Steps: …" layout that
 * image tools read, and `flowbot` as JSON.
 */
export function pngText(recipe: ImageRecipe): Record<string, string> {
  const tags = recipe.loras && recipe.loras.length > 0 ? ` ${loraTags(recipe.loras)}` : '';
  const lines = [recipe.prompt + tags];
  if (recipe.negativePrompt) lines.push(`Negative prompt: ${recipe.negativePrompt}`);
  const fields = [
    `Steps: ${recipe.steps}`,
    `Sampler: ${recipe.scheduler}`,
    `CFG scale: ${recipe.guidance}`,
    `Seed: ${recipe.seed}`,
    `Size: ${recipe.width}x${recipe.height}`,
    `Model: ${recipe.model}`,
  ];
  if (recipe.strength) fields.push(`Denoising strength: ${recipe.strength}`);
  const hashesField = recipe.loras ? loraHashesField(recipe.loras) : undefined;
  if (hashesField) fields.push(hashesField);
  lines.push(fields.join(', '));
  return { parameters: lines.join('\n'), flowbot: JSON.stringify(recipe) };
}
