/**
 * LoRAs against diffusers: random rank-4 LoRAs made with PEFT for the tiny SD 1.5, SDXL, SD3 and FLUX.1
 * schnell folders, saved in diffusers' format and (SD 1.5, SDXL) kohya's, committed in each folder's
 * `loras/` as a host lays them out; diffusers' `load_lora_weights` + `set_adapters` + `fuse_lora` is the
 * reference (test/conformance/make_loras.py). flowbot merges the same files into the ONNX weights.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LoraLibrary } from '../src/lora/library.js';
import { readImage } from '../src/pipeline/image.js';
import { loadModelSpec } from '../src/pipeline/model.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import { OnnxFile } from '../src/pipeline/onnx-file.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { maxDiff } from './helpers/images.js';

const root = path.join(import.meta.dirname, 'conformance');
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
const pipeline = new Pipeline(backend);
const library = new LoraLibrary(path.join(root, 'models'));
afterAll(() => backend.dispose());

interface LoraCase {
  id: string;
  loras: { name: string; weight: number }[];
  prompt: string;
  negative: string;
  steps: number;
  guidance: number;
  width: number;
  height: number;
  noise: number[];
  latents: number[];
  pixels: string;
}

interface LoraReference {
  versions: Record<string, string>;
  rank: number;
  alpha: number;
  cases: LoraCase[];
}

function relativeError(actual: Float32Array, expected: readonly number[]): number {
  const scale = Math.max(...expected.map(Math.abs));
  return Math.max(...expected.map((v, i) => Math.abs(actual[i]! - v))) / scale;
}

async function run(folder: string, c: LoraCase, loras = c.loras) {
  const spec = loadModelSpec(path.join(root, 'models', folder));
  let latents: Float32Array = new Float32Array();
  const result = await pipeline.generate(
    {
      model: spec,
      prompt: c.prompt,
      negativePrompt: c.negative,
      steps: c.steps,
      guidance: c.guidance,
      width: c.width,
      height: c.height,
      seed: 0,
      n: 1,
      loras: loras.map((use) => library.resolve(use, spec.dir)),
    },
    { initialNoise: () => Float32Array.from(c.noise), onLatents: (final) => (latents = final) },
  );
  return { result, latents };
}

for (const folder of ['sd15', 'sdxl', 'sd3', 'flux-schnell']) {
  const ref = JSON.parse(
    readFileSync(path.join(root, 'references', `loras-${folder}.json`), 'utf8'),
  ) as LoraReference;
  describe(`${folder} with LoRAs matches diffusers ${ref.versions.diffusers} (load_lora_weights + fuse_lora)`, () => {
    for (const c of ref.cases) {
      const label = c.loras.map((l) => `${l.name}:${l.weight}`).join(' + ');
      it(`${c.id}: ${label}`, async () => {
        const { result, latents } = await run(folder, c);
        expect(result.notes ?? [], 'every key of the LoRA matched a weight').toEqual([]);
        expect(relativeError(latents, c.latents), 'final latents').toBeLessThan(1e-3);
        const expected = await readImage(path.join(root, 'references', c.pixels));
        expect(maxDiff(result.images[0]!, expected)).toBeLessThanOrEqual(1);
      });
    }
  });
}

describe('LoRA weights and the merged-session cache', () => {
  const ref = JSON.parse(
    readFileSync(path.join(root, 'references', 'loras-sd15.json'), 'utf8'),
  ) as LoraReference;
  const c = ref.cases[0]!;

  it('weight 0 gives the same bytes as no LoRA', async () => {
    const plain = await run('sd15', c, []);
    const zero = await run('sd15', c, [{ name: 'tiny-style', weight: 0 }]);
    expect(
      Buffer.from(zero.result.images[0]!.pixels).equals(Buffer.from(plain.result.images[0]!.pixels)),
    ).toBe(true);
    const applied = await run('sd15', c, [{ name: 'tiny-style', weight: 1 }]);
    expect(maxDiff(applied.result.images[0]!, plain.result.images[0]!)).toBeGreaterThan(10);
  });

  it('a second job with the same LoRAs merges nothing; other weights merge again', async () => {
    const loras = [{ name: 'tiny-detail', weight: 0.7 }];
    await run('sd15', c, loras);
    const after = pipeline.loras.merges;
    const second = await run('sd15', c, loras);
    expect(pipeline.loras.merges).toBe(after);
    await run('sd15', c, [{ name: 'tiny-detail', weight: 0.6 }]);
    // The UNet and the text encoder: one merge each.
    expect(pipeline.loras.merges).toBe(after + 2);
    expect(second.result.images).toHaveLength(1);
  });

  it('merged weights go to a page-aligned external-data file, the same values as kept inline', async () => {
    const spec = loadModelSpec(path.join(root, 'models', 'sd15'));
    const unet = path.resolve(spec.dir, 'unet', 'model.onnx');
    const variant = pipeline.loras
      .variants(spec, [library.resolve({ name: 'tiny-style', weight: 0.8 }, spec.dir)])
      .byFile.get(unet)!;
    const bytes = readFileSync(unet);
    const inline = OnnxFile.read(await variant.rewrite(bytes, unet, undefined));
    const scratch = mkdtempSync(path.join(path.dirname(unet), '.flowbot-session-'));
    try {
      const external = OnnxFile.read(await variant.rewrite(bytes, unet, scratch));
      const moved = external
        .initializers()
        .filter((i) => i.external?.location.startsWith('.flowbot-session-'));
      expect(moved.length).toBeGreaterThan(10);
      for (const weight of moved) {
        const { location, offset, length } = weight.external!;
        expect(offset % 4096).toBe(0);
        const written = readFileSync(path.join(path.dirname(unet), location)).subarray(
          offset,
          offset + length!,
        );
        const kept = inline.initializers().find((i) => i.name === weight.name)!.rawData!;
        expect(Buffer.from(written).equals(Buffer.from(kept)), weight.name).toBe(true);
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('leaves no scratch folder in the model folders once the sessions exist', () => {
    for (const folder of ['sd15', 'sdxl', 'sd3', 'flux-schnell'])
      for (const component of readdirSync(path.join(root, 'models', folder), { withFileTypes: true }))
        if (component.isDirectory())
          expect(
            readdirSync(path.join(root, 'models', folder, component.name)).filter((n) =>
              n.startsWith('.flowbot-session-'),
            ),
          ).toEqual([]);
  });

  it('merged sessions are kept within the budget, least recently used out first', async () => {
    const small = new OnnxBackend({ executionProvider: 'cpu', threads: 1, mergedSessionBudgetMB: 3 });
    const limited = new Pipeline(small);
    try {
      const one = { ...c, steps: 1 };
      await run2(limited, one, [{ name: 'tiny-style', weight: 0.3 }]);
      await run2(limited, one, [{ name: 'tiny-style', weight: 0.4 }]);
      // The UNet (1.1 MB) and text encoder (1.6 MB) of one set fit in 3 MB; the older set went.
      expect(small.mergedSessions).toBe(2);
      const merges = limited.loras.merges;
      await run2(limited, one, [{ name: 'tiny-style', weight: 0.3 }]);
      expect(limited.loras.merges, 'the evicted set is merged again').toBe(merges + 2);
    } finally {
      await small.dispose();
    }
  });
});

async function run2(p: Pipeline, c: LoraCase, loras: { name: string; weight: number }[]) {
  const spec = loadModelSpec(path.join(root, 'models', 'sd15'));
  return p.generate({
    model: spec,
    prompt: c.prompt,
    steps: c.steps,
    width: c.width,
    height: c.height,
    seed: 0,
    n: 1,
    loras: loras.map((use) => library.resolve(use, spec.dir)),
  });
}
