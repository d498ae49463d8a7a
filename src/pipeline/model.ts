/**
 * Model folders. Diffusion models are read by their family's module (`families/`): Hugging Face
 * optimum's ONNX exports of SD 1.x/2.x, SDXL, SD3/3.5 and FLUX.1, detected by `model_index.json`, and
 * flowbot's own manifest, `model.json` (the shipped model). Super-resolution models are a folder with
 * `model.onnx` and `upscaler.json`. A missing or broken folder fails with a message naming the file.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { folderError as fail, readJson, requireFile } from './folder.js';

export type { FamilyId, ModelSpec } from './families/index.js';
export { loadModelSpec } from './families/index.js';

/** A super-resolution model folder (`model.onnx` + optional `upscaler.json`). */
export interface UpscalerSpec {
  readonly name: string;
  readonly file: string;
  readonly scale: number;
  /** Multiply 0–1 pixels by this before the model (255 for models trained on 0–255). */
  readonly inputScale: number;
  readonly tile: number;
}

const upscalerSchema = z.object({
  format: z.literal('flowbot-upscaler').optional(),
  scale: z.number().int().min(2).max(8),
  input_range: z.tuple([z.number(), z.number()]).default([0, 1]),
  tile: z.number().int().min(16).max(2048).default(128),
});

/** Reads an upscaler folder. */
export function loadUpscalerSpec(dir: string): UpscalerSpec {
  const file = requireFile(path.join(dir, 'model.onnx'));
  const configFile = path.join(dir, 'upscaler.json');
  const parsed = upscalerSchema.safeParse(existsSync(configFile) ? readJson(configFile) : { scale: 4 });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail(configFile, `${issue.path.join('.')}: ${issue.message}`);
  }
  return {
    name: path.basename(dir),
    file,
    scale: parsed.data.scale,
    inputScale: parsed.data.input_range[1],
    tile: parsed.data.tile,
  };
}
