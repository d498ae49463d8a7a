/**
 * The NSFW image classifier (`models/nsfw-mobilenet-v2`: nsfwjs 4.4.0's MobileNetV2, converted to ONNX by
 * `npm run export:nsfw`). It runs through the process's one ONNX backend, loads lazily on the first image
 * and keeps one session. Every generated image is read by it before it is stored and posted.
 *
 * The score is P(Porn) + P(Hentai): the two explicit classes. "Sexy" (suggestive, clothed) is left out:
 * it is not what a spoiler is for, and it is the class that fires on harmless pictures of people and
 * skin-coloured shapes; the model card has the false-positive rates with and without it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { folderError, readJson, requireFile } from '../pipeline/folder.js';
import type { RgbImage } from '../pipeline/image.js';
import type { OnnxBackend, OnnxModel } from '../pipeline/onnx.js';

/** The manifest every classifier folder has. */
export const CLASSIFIER_MANIFEST = 'classifier.json';

const manifestSchema = z.object({
  format: z.literal('flowbot-image-classifier'),
  version: z.literal(1),
  name: z.string().min(1),
  model: z.string().min(1),
  input: z.string().min(1),
  output: z.string().min(1),
  /** Side of the square the image is stretched to (nsfwjs: 224, no crop). */
  size: z.number().int().min(16).max(1024),
  /** Pixels are divided by this (nsfwjs: 255, so 0–1), channels RGB, layout NHWC. */
  scale: z.number().positive(),
  classes: z.array(z.string().min(1)).min(2),
  /** The classes whose probabilities add up to the score. */
  explicit: z.array(z.string().min(1)).min(1),
});

/** A classifier folder's manifest. */
export type ClassifierManifest = z.infer<typeof manifestSchema>;

/** What the classifier read in one image. */
export interface NsfwReading {
  /** P(Porn) + P(Hentai), 0–1. */
  readonly score: number;
  /** Every class's probability, by name. */
  readonly classes: Readonly<Record<string, number>>;
  /** The classifier's name (its manifest's). */
  readonly model: string;
}

/** An image to read: decoded pixels, or the bytes of a file that has already passed image intake. */
export type ClassifierInput = RgbImage | Uint8Array;

interface Loaded {
  readonly model: OnnxModel;
  readonly manifest: ClassifierManifest;
}

/** A classifier folder, loaded on first use through the process's ONNX backend. */
export class NsfwClassifier {
  private loaded: Promise<Loaded> | undefined;

  constructor(
    private readonly backend: OnnxBackend,
    /** The folder holding `classifier.json`. */
    readonly dir: string,
  ) {}

  /** True when `dir` holds a classifier manifest (the ONNX file is checked when it loads). */
  static present(dir: string): boolean {
    return existsSync(path.join(dir, CLASSIFIER_MANIFEST));
  }

  /** The folder's manifest (loads the model). */
  async manifest(): Promise<ClassifierManifest> {
    return (await this.load()).manifest;
  }

  /** Reads each image; one batch through the model. */
  async classify(images: readonly ClassifierInput[]): Promise<NsfwReading[]> {
    if (images.length === 0) return [];
    const { manifest } = await this.load();
    const side = manifest.size;
    const batch = new Float32Array(images.length * side * side * 3);
    const pixels = await Promise.all(images.map((image) => resized(image, side)));
    pixels.forEach((rgb, i) => {
      const offset = i * side * side * 3;
      for (let j = 0; j < rgb.length; j++) batch[offset + j] = rgb[j]! / manifest.scale;
    });
    const probabilities = await this.probabilities(batch, images.length);
    const count = manifest.classes.length;
    return images.map((_, i) => this.reading(manifest, probabilities.subarray(i * count, (i + 1) * count)));
  }

  /**
   * The model's class probabilities for prepared input: `count` images of size × size × 3 floats (NHWC,
   * RGB, already scaled), as nsfwjs feeds its model. For the parity test and the benchmark.
   */
  async probabilities(input: Float32Array, count: number): Promise<Float32Array> {
    const { model, manifest } = await this.load();
    const dims = [count, manifest.size, manifest.size, 3];
    const out = await model.run({ [manifest.input]: { data: input, dims } });
    return out[manifest.output]!.data as Float32Array;
  }

  private reading(manifest: ClassifierManifest, probabilities: Float32Array): NsfwReading {
    const classes: Record<string, number> = {};
    manifest.classes.forEach((name, i) => {
      classes[name] = probabilities[i]!;
    });
    const sum = manifest.explicit.reduce((total, name) => total + (classes[name] ?? 0), 0);
    return { score: Math.min(1, Math.max(0, sum)), classes, model: manifest.name };
  }

  private load(): Promise<Loaded> {
    if (!this.loaded) {
      this.loaded = this.read();
      // A failed load (a broken file) is tried again on the next image rather than remembered.
      this.loaded.catch(() => {
        this.loaded = undefined;
      });
    }
    return this.loaded;
  }

  private async read(): Promise<Loaded> {
    const file = path.join(this.dir, CLASSIFIER_MANIFEST);
    const parsed = manifestSchema.safeParse(readJson(file));
    if (!parsed.success)
      throw folderError(file, `not an image-classifier manifest (${parsed.error.issues[0]?.message})`);
    const manifest = parsed.data;
    const unknown = manifest.explicit.find((name) => !manifest.classes.includes(name));
    if (unknown)
      throw folderError(file, `names the explicit class "${unknown}", which is not one of its classes`);
    const model = await this.backend.load(requireFile(path.join(this.dir, manifest.model)));
    if (!model.input(manifest.input)) throw folderError(model.file, `has no input "${manifest.input}"`);
    if (!model.output(manifest.output)) throw folderError(model.file, `has no output "${manifest.output}"`);
    return { model, manifest };
  }
}

/**
 * The image stretched to side × side RGB bytes, as nsfwjs does (no crop, aspect not kept). sharp's
 * bilinear kernel; its reduction averages the pixels it shrinks, where TF.js's resizeBilinear samples.
 */
async function resized(image: ClassifierInput, side: number): Promise<Uint8Array> {
  const source =
    image instanceof Uint8Array
      ? sharp(image)
      : sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } });
  const { data } = await source
    .removeAlpha()
    .toColourspace('srgb')
    .resize(side, side, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/**
 * Reads one image: its explicit-content score and class probabilities. The entry point for uploads
 * (bytes that have passed `src/intake`) and generated images alike; `decideModeration` in
 * `commands/moderation.ts` turns the score into allow, spoiler or block under a channel's policy.
 */
export async function moderateImage(
  classifier: NsfwClassifier,
  image: ClassifierInput,
): Promise<NsfwReading> {
  const [reading] = await classifier.classify([image]);
  return reading!;
}
