/**
 * One measurement of `npm run bench -- lora`, in a process of its own so that its peak memory is its
 * own:
 *
 *   node --import tsx test/bench/lora-child.ts make <unet.onnx> <out.safetensors> <rank>
 *   node --import tsx test/bench/lora-child.ts plain <unet.onnx>
 *   node --import tsx test/bench/lora-child.ts lora <unet.onnx> <lora.safetensors>
 *
 * `make` writes a random kohya-format LoRA (seeded) for every weight kohya's sd-scripts trains in the
 * UNet's Transformer2DModels (attention q/k/v/out, the feed-forward, proj_in/proj_out), read off the
 * graph. `plain` creates the UNet's session; `lora` the session with the LoRA merged (read, merge,
 * session creation). Each prints one JSON line: milliseconds, the peak RSS rise (MB).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ortAddUpdate } from '../../src/lora/gemm.js';
import { weightSites } from '../../src/lora/merge.js';
import { LoraMerger } from '../../src/lora/variant.js';
import { loadModelSpec } from '../../src/pipeline/model.js';
import { OnnxBackend } from '../../src/pipeline/onnx.js';
import { OnnxFile } from '../../src/pipeline/onnx-file.js';
import { watchPeakRss } from '../helpers/memory.js';

const [mode, unet, second, rankText] = process.argv.slice(2);
if (!mode || !unet) throw new Error('usage: lora-child.ts make|plain|lora <unet.onnx> …');

/** sd-scripts' LoRA targets: the Linear and 1×1 Conv layers inside each Transformer2DModel. */
const TARGET =
  /attentions\.\d+\.(proj_in|proj_out|transformer_blocks\.\d+\.(attn[12]\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2)))$/;

function makeLora(out: string, rank: number): void {
  const model = OnnxFile.read(readFileSync(unet!));
  const header: Record<string, unknown> = { __metadata__: { ss_network_dim: String(rank) } };
  const chunks: Buffer[] = [];
  let offset = 0;
  let seed = 1;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return (seed / 2_147_483_648 - 0.5) * 0.02;
  };
  const add = (name: string, shape: number[]) => {
    const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, random);
    const data = Buffer.from(values.buffer);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  };
  let layers = 0;
  for (const [module, site] of weightSites(model)) {
    if (module.startsWith('_') || !TARGET.test(module)) continue;
    const dims = site.initializer.dims;
    const [out, inner] =
      site.layout === 'in-out' ? [dims[1]!, dims[0]!] : [dims[0]!, dims.slice(1).reduce((a, b) => a * b, 1)];
    const base = `lora_unet_${module.replace(/\./g, '_')}`;
    add(`${base}.lora_down.weight`, [rank, inner]);
    add(`${base}.lora_up.weight`, [out, rank]);
    add(`${base}.alpha`, []);
    layers++;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(out, Buffer.concat([length, json, ...chunks]));
  console.log(JSON.stringify({ layers, mb: Math.round(statSync(out).size / 1e6) }));
}

async function measure(withLora: boolean): Promise<void> {
  const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 2 });
  const spec = loadModelSpec(path.dirname(path.dirname(unet!)));
  const merger = new LoraMerger({ maxMB: 16_384, addUpdate: ortAddUpdate(backend) });
  global.gc?.();
  const peak = watchPeakRss();
  const started = performance.now();
  let mergeMs = 0;
  if (withLora) {
    const variants = merger.variants(spec, [{ name: 'bench', weight: 0.8, file: second! }]);
    const variant = variants.byFile.get(path.resolve(unet!))!;
    const timed = {
      ...variant,
      rewrite: async (bytes: Uint8Array, file: string, scratch: string | undefined) => {
        const start = performance.now();
        const out = await variant.rewrite(bytes, file, scratch);
        mergeMs = performance.now() - start;
        return out;
      },
    };
    await backend.load(unet!, timed);
  } else {
    await backend.load(unet!);
  }
  const ms = performance.now() - started;
  console.log(
    JSON.stringify({ ms: Math.round(ms), mergeMs: Math.round(mergeMs), peakRiseMB: Math.round(peak()) }),
  );
  await backend.dispose();
}

if (mode === 'make') makeLora(second!, Number(rankText ?? 16));
else await measure(mode === 'lora');
