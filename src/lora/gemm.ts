/**
 * The merge's arithmetic on ONNX Runtime: W + up × down is one Gemm (`Y = A·B + C`), which ONNX
 * Runtime's MLAS runs on every core many times faster than a JavaScript loop (a rank-16 LoRA on the
 * full SD 1.5 UNet is ~4·10⁹ multiply-adds). The two tiny graphs (for [out, in] weights, and for
 * MatMul's transposed [in, out] ones) are written here with the protobuf helpers and created once.
 */
import type { OnnxBackend } from '../pipeline/onnx.js';
import {
  messageField,
  type ProtoField,
  stringField,
  varintField,
  writeFields,
} from '../pipeline/protobuf.js';

/** W + up·down for W [out, in] ("out-in"), or its transpose for W [in, out] ("in-out"). */
export type Layout = 'out-in' | 'in-out';

/** Adds `up` (already scaled) × `down` to a weight, returning the new values. */
export type AddUpdate = (
  weights: Float32Array,
  layout: Layout,
  up: Float32Array,
  down: Float32Array,
  rank: number,
) => Promise<Float32Array>;

const FLOAT = 1;
const ATTRIBUTE_INT = 2;

function tensorInput(name: string, dims: readonly string[]): ProtoField {
  const shape = dims.map((d) => messageField(1, [stringField(2, d)]));
  const tensorType = messageField(1, [varintField(1, FLOAT), messageField(2, shape)]);
  return messageField(11, [stringField(1, name), messageField(2, [tensorType])]);
}

/** Y = A·B + C (transposed A and B for the [in, out] layout), opset 13. */
function gemmModel(transposed: boolean): Uint8Array {
  const int = (name: string, value: number) =>
    messageField(5, [stringField(1, name), varintField(3, value), varintField(20, ATTRIBUTE_INT)]);
  const node = messageField(1, [
    stringField(1, 'A'),
    stringField(1, 'B'),
    stringField(1, 'C'),
    stringField(2, 'Y'),
    stringField(3, 'lora_update'),
    stringField(4, 'Gemm'),
    ...(transposed ? [int('transA', 1), int('transB', 1)] : []),
  ]);
  const [a, b, c] = transposed
    ? [
        ['rank', 'inner'],
        ['out', 'rank'],
        ['inner', 'out'],
      ]
    : [
        ['out', 'rank'],
        ['rank', 'inner'],
        ['out', 'inner'],
      ];
  const output = messageField(12, [stringField(1, 'Y')]);
  const graph = messageField(7, [
    node,
    stringField(2, 'flowbot_lora_update'),
    tensorInput('A', a!),
    tensorInput('B', b!),
    tensorInput('C', c!),
    output,
  ]);
  return writeFields([
    varintField(1, 7),
    stringField(2, 'flowbot'),
    graph,
    messageField(8, [stringField(1, ''), varintField(2, 13)]),
  ]);
}

/** The merge's update step on ONNX Runtime, through the backend. */
export function ortAddUpdate(backend: OnnxBackend): AddUpdate {
  return async (weights, layout, up, down, rank) => {
    const inner = down.length / rank;
    const out = up.length / rank;
    const transposed = layout === 'in-out';
    const model = await backend.loadBytes(`flowbot:lora-gemm:${layout}`, () => gemmModel(transposed));
    const a = transposed ? { data: down, dims: [rank, inner] } : { data: up, dims: [out, rank] };
    const b = transposed ? { data: up, dims: [out, rank] } : { data: down, dims: [rank, inner] };
    const c = { data: weights, dims: transposed ? [inner, out] : [out, inner] };
    const result = await model.run({ A: a, B: b, C: c });
    return result.Y!.data as Float32Array;
  };
}

/** The same update in JavaScript (no backend at hand): row by row, cache-friendly. */
export const jsAddUpdate: AddUpdate = async (weights, layout, up, down, rank) => {
  const inner = down.length / rank;
  const out = up.length / rank;
  if (layout === 'out-in') {
    for (let o = 0; o < out; o++) {
      const row = o * inner;
      for (let r = 0; r < rank; r++) {
        const a = up[o * rank + r]!;
        if (a === 0) continue;
        const from = r * inner;
        for (let k = 0; k < inner; k++) weights[row + k]! += a * down[from + k]!;
      }
    }
    return weights;
  }
  const upT = new Float32Array(rank * out);
  for (let o = 0; o < out; o++) for (let r = 0; r < rank; r++) upT[r * out + o] = up[o * rank + r]!;
  for (let k = 0; k < inner; k++) {
    const row = k * out;
    for (let r = 0; r < rank; r++) {
      const a = down[r * inner + k]!;
      if (a === 0) continue;
      const from = r * out;
      for (let o = 0; o < out; o++) weights[row + o]! += a * upT[from + o]!;
    }
  }
  return weights;
};
