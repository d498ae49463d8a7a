/**
 * Reading and rewriting ONNX files without ONNX Runtime (`protobuf.ts`, `onnx-file.ts`): lossless round
 * trips, attributes and initializers, weight edits and external data, checked by running the results.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CIRCULAR } from '../src/pipeline/circular.js';
import { OnnxBackend } from '../src/pipeline/onnx.js';
import {
  externalInitializerFields,
  initializerFields,
  intsAttribute,
  OnnxFile,
  TensorDataType,
} from '../src/pipeline/onnx-file.js';
import { ProtobufError, readFields, varintField, writeFields } from '../src/pipeline/protobuf.js';
import { FIXTURE_MODELS } from './helpers/bot.js';
import { tempDir } from './helpers/tmp.js';

const root = path.resolve(import.meta.dirname, '..');
const backend = new OnnxBackend({ executionProvider: 'cpu', threads: 1 });
const t = tempDir();
afterAll(async () => {
  await backend.dispose();
  t.cleanup();
});

const MODEL_FILES = [
  'models/flowbot-emoji/denoiser.onnx',
  'models/flowbot-emoji/vae_decoder.onnx',
  'models/flowbot-emoji/draft_denoiser.onnx',
  'test/fixtures/models/sd-tiny/unet/model.onnx',
  'test/fixtures/models/sd-tiny-fp16/unet/model.onnx',
  'test/fixtures/models/sdxl-tiny/unet/model.onnx',
  'test/fixtures/models/sd3-tiny/transformer/model.onnx',
  'test/fixtures/models/flux-dev-tiny/transformer/model.onnx',
];

/** A decoder input and its output through a session. */
async function decode(file: string, variant?: typeof CIRCULAR): Promise<Float32Array> {
  const model = await backend.load(file, variant);
  const latents = Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.sin(i * 0.37));
  const out = await model.run({ [model.inputs[0]!.name]: { data: latents, dims: [1, 4, 8, 8] } });
  return Object.values(out)[0]!.data as Float32Array;
}

describe('protobuf wire format', () => {
  it('reads and writes varints (negative int64 too), fixed and length-delimited fields', () => {
    const fields = [
      varintField(1, 150),
      varintField(2, -3),
      { field: 3, wire: 5 as const, value: Uint8Array.from([1, 2, 3, 4]) },
      { field: 4, wire: 2 as const, value: new TextEncoder().encode('pads') },
    ];
    const bytes = writeFields(fields);
    expect(Array.from(bytes.subarray(0, 3))).toEqual([0x08, 0x96, 0x01]);
    expect(readFields(bytes)).toEqual(fields);
    expect(() => readFields(Uint8Array.from([0x0a, 0x05, 1]))).toThrow(ProtobufError);
    expect(() => readFields(Uint8Array.from([0x0b]))).toThrow(/wire type 3/);
  });
});

describe('ONNX files', () => {
  it('reads and writes every model unedited to the same bytes', () => {
    for (const file of MODEL_FILES) {
      const bytes = readFileSync(path.join(root, file));
      expect(Buffer.from(OnnxFile.read(bytes).write()).equals(bytes), file).toBe(true);
    }
  });

  it('reads opsets, node attributes and initializers, including external data', () => {
    const denoiser = OnnxFile.read(readFileSync(path.join(root, 'models/flowbot-emoji/denoiser.onnx')));
    expect(denoiser.opsetVersion()).toBe(17);
    const convs = denoiser.nodes.filter((n) => n.opType === 'Conv');
    expect(convs).toHaveLength(14);
    expect(intsAttribute(convs[0]!, 'kernel_shape')).toEqual([3, 3]);
    expect(intsAttribute(convs[0]!, 'pads')).toEqual([1, 1, 1, 1]);
    // The shipped export stores weights in fp16, cast to float where they are used.
    const cast = denoiser.nodes.find((n) => n.outputs.includes(convs[0]!.inputs[1]!));
    expect(cast?.opType).toBe('Cast');
    const weight = denoiser.initializers().find((i) => i.name === cast!.inputs[0]);
    expect(weight).toMatchObject({ dataType: TensorDataType.float16, external: undefined });
    expect(weight!.rawData!.length).toBe(2 * weight!.dims.reduce((a, b) => a * b, 1));
    const sd3 = OnnxFile.read(readFileSync(path.join(FIXTURE_MODELS, 'sd3-tiny/transformer/model.onnx')));
    const external = sd3.initializers().filter((i) => i.external);
    expect(external.length).toBeGreaterThan(0);
    expect(external[0]!.external).toMatchObject({ location: 'model.onnx.data', offset: expect.any(Number) });
  });

  it('edits a weight: the session runs the edited graph', async () => {
    const file = path.join(FIXTURE_MODELS, 'sd-tiny/vae_decoder/model.onnx');
    const model = OnnxFile.read(readFileSync(file));
    const conv = model.nodes.find((n) => n.opType === 'Conv')!;
    const weight = model.initializers().find((i) => i.name === conv.inputs[1])!;
    const doubled = new Float32Array(new Uint8Array(weight.rawData!).buffer).map((v) => 2 * v);
    model.replaceInitializer(
      weight.name,
      initializerFields(weight.name, weight.dims, weight.dataType, new Uint8Array(doubled.buffer)),
    );
    const edited = path.join(t.dir, 'edited.onnx');
    writeFileSync(edited, model.write());
    expect(Array.from(await decode(edited)).slice(0, 8)).not.toEqual(
      Array.from(await decode(file)).slice(0, 8),
    );
  });

  it('moves weights to an external data file, and a rewritten model still finds them', async () => {
    const file = path.join(FIXTURE_MODELS, 'sd-tiny/vae_decoder/model.onnx');
    const model = OnnxFile.read(readFileSync(file));
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const initializer of model.initializers()) {
      if (!initializer.rawData || initializer.rawData.length < 64) continue;
      const length = initializer.rawData.length;
      chunks.push(initializer.rawData);
      model.replaceInitializer(
        initializer.name,
        externalInitializerFields(initializer.name, initializer.dims, initializer.dataType, {
          location: 'weights.bin',
          offset,
          length,
        }),
      );
      offset += length;
    }
    const dir = path.join(t.dir, 'external');
    (await import('node:fs')).mkdirSync(dir);
    writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(chunks));
    writeFileSync(path.join(dir, 'model.onnx'), model.write());
    expect(
      OnnxFile.read(readFileSync(path.join(dir, 'model.onnx')))
        .initializers()
        .filter((i) => i.external).length,
    ).toBe(chunks.length);
    expect(await decode(path.join(dir, 'model.onnx'))).toEqual(await decode(file));
    // Made from bytes, the circular form finds its external data beside the file.
    expect(await decode(path.join(dir, 'model.onnx'), CIRCULAR)).toEqual(await decode(file, CIRCULAR));
  });
});
