/**
 * Building denoiser inputs from what the graph declares: the timestep's rank and type, conditioning
 * stacked into a batch, ids as float or integer tensors. Every width comes from the graph or the data,
 * never from a constant.
 */
import { ErrorCode, FlowbotError } from '../../errors.js';
import type { HostTensor, OnnxModel, ValueInfo } from '../onnx.js';

/**
 * One prompt's conditioning: batch-1 tensors keyed by the denoiser input they feed. Defined here, the
 * leaf that stacks it, so that text.ts can use these helpers without an import circle through types.ts.
 */
export type Conditioning = Readonly<Record<string, HostTensor>>;

/** True for a symbolic or unknown dimension. */
export function isDynamic(dim: number | string | undefined): boolean {
  return typeof dim !== 'number' || dim < 0;
}

/** The named inputs, or an error naming the file, what was expected and what it has. */
export function requireInputs(model: OnnxModel, names: readonly string[]): ValueInfo[] {
  const missing = names.filter((name) => !model.input(name));
  if (missing.length > 0) {
    throw new FlowbotError(
      ErrorCode.ModelInvalid,
      `${model.file}: expected inputs ${names.join(', ')} but found ${model.inputs.map((i) => i.name).join(', ')}`,
    );
  }
  return names.map((name) => model.input(name)!);
}

/** A fixed dimension of an input, or an error naming it. */
export function fixedDim(model: OnnxModel, input: ValueInfo, axis: number, what: string): number {
  const dim = input.shape[axis];
  if (typeof dim !== 'number' || dim <= 0) {
    throw new FlowbotError(
      ErrorCode.ModelInvalid,
      `${model.file}: input "${input.name}" needs a fixed ${what}`,
    );
  }
  return dim;
}

/** The output named `name`, or (for single-output graphs) the only one. */
export function outputOf(
  model: OnnxModel,
  outputs: Readonly<Record<string, HostTensor>>,
  name: string,
): HostTensor {
  const tensor = outputs[name] ?? (model.outputs.length === 1 ? Object.values(outputs)[0] : undefined);
  if (!tensor) {
    throw new FlowbotError(
      ErrorCode.ModelInvalid,
      `${model.file}: expected an output "${name}" but found ${model.outputs.map((o) => o.name).join(', ')}`,
    );
  }
  return tensor;
}

function isInteger(info: ValueInfo): boolean {
  return info.type.startsWith('int') || info.type.startsWith('uint');
}

/** Values as the input's type wants them (integers rounded for integer inputs). */
export function tensorFor(info: ValueInfo, values: ArrayLike<number>, dims: readonly number[]): HostTensor {
  if (isInteger(info)) return { data: Int32Array.from(values, (v) => Math.round(v)), dims };
  return { data: Float32Array.from(values), dims };
}

/**
 * The timestep in the rank the graph declares: a scalar, [1], or one per image ([batch]); integer or
 * float as declared.
 */
export function timestepTensor(info: ValueInfo, value: number, batch: number): HostTensor {
  if (info.shape.length === 0) return tensorFor(info, [value], []);
  const count = info.shape[0] === 1 ? 1 : batch;
  return tensorFor(info, new Array<number>(count).fill(value), [count]);
}

/** One conditioning tensor of every image, stacked on the batch axis. */
export function stack(conditioning: readonly Conditioning[], name: string): HostTensor {
  const first = conditioning[0]?.[name];
  if (!first) throw new Error(`no conditioning "${name}"`);
  const size = first.data.length;
  const data = new Float32Array(conditioning.length * size);
  conditioning.forEach((c, k) => {
    data.set(c[name]!.data as Float32Array, k * size);
  });
  return { data, dims: [conditioning.length, ...first.dims.slice(1)] };
}

/** The same tensor for every image of a batch (a [1, …] tensor repeated). */
export function repeat(tensor: HostTensor, batch: number): HostTensor {
  const data = new Float32Array(batch * tensor.data.length);
  for (let k = 0; k < batch; k++) data.set(tensor.data as Float32Array, k * tensor.data.length);
  return { data, dims: [batch, ...tensor.dims.slice(1)] };
}
