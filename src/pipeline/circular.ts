/**
 * `--tile`: makes every 2-D convolution of a graph wrap around the image's edges, so what it paints is
 * a seamless tile. ONNX's Conv pads with zeros only, and `Pad`'s `wrap` mode needs opset 19 (a model
 * exported at an older opset cannot take one newer operator), so each padded Conv instead gets an input
 * padded circularly with Slice and Concat (opset 10 and later): the last `left` columns are put before
 * the first and the first `right` after the last, then the same for rows; the Conv's own pads become 0.
 * Nothing else changes, so a model whose other operators do not depend on position (a UNet and a VAE
 * decoder: normalisation, attention without positional embeddings, nearest upsampling) becomes
 * translation-equivariant on the torus.
 */
import { ErrorCode, UserError } from '../errors.js';
import { createLogger } from '../log.js';
import type { ModelSpec } from './families/types.js';
import type { ModelVariant } from './onnx.js';
import {
  initializerFields,
  intsAttribute,
  OnnxFile,
  type OnnxNode,
  removeAttribute,
  setIntAttribute,
  setIntsAttribute,
  stringAttribute,
  TensorDataType,
} from './onnx-file.js';

const log = createLogger('tile');

/** The largest int64, Slice's "to the end". */
const INT64_MAX = 9_223_372_036_854_775_807n;
/** Every name this rewrite adds starts with this, so it never collides with the graph's own. */
const PREFIX = 'flowbot_wrap';

/** What the rewrite did. */
export interface CircularReport {
  /** Convolutions now padded circularly. */
  readonly wrapped: number;
  /** Convolutions with padding that could not be wrapped, and why (strided "SAME" padding, 3-D). */
  readonly skipped: readonly string[];
}

/** A Conv's spatial padding as [top, left, bottom, right], or why it cannot be wrapped. */
function paddingOf(node: OnnxNode): { pads: number[] } | { reason: string } {
  const kernel = intsAttribute(node, 'kernel_shape');
  const pads = intsAttribute(node, 'pads');
  const rank = kernel?.length ?? (pads ? pads.length / 2 : 2);
  if (rank !== 2) return { reason: `${rank}-D convolution` };
  const autoPad = stringAttribute(node, 'auto_pad') ?? 'NOTSET';
  if (autoPad === 'NOTSET') return { pads: pads ?? [0, 0, 0, 0] };
  if (autoPad === 'VALID') return { pads: [0, 0, 0, 0] };
  const strides = intsAttribute(node, 'strides') ?? [1, 1];
  if (!kernel || strides.some((s) => s !== 1)) return { reason: `${autoPad} padding with strides` };
  // With stride 1, SAME pads (kernel − 1)·dilation in all, the extra one at the end (UPPER) or start.
  const dilations = intsAttribute(node, 'dilations') ?? [1, 1];
  const total = kernel.map((k, i) => (k - 1) * dilations[i]!);
  const [small, large] = [total.map((t) => Math.floor(t / 2)), total.map((t) => Math.ceil(t / 2))];
  return { pads: autoPad === 'SAME_UPPER' ? [...small, ...large] : [...large, ...small] };
}

/** A node of the default domain with no attributes yet. */
function plainNode(opType: string, inputs: string[], output: string): OnnxNode {
  return { inputs, outputs: [output], name: output, opType, domain: '', attributes: [], other: [] };
}

/** Builds the rewrite's nodes, and its shared constants, on one model. */
class Wrapper {
  private readonly constants = new Set<string>();
  private count = 0;
  /** The nodes to insert before the Conv being wrapped. */
  private added: OnnxNode[] = [];

  constructor(private readonly model: OnnxFile) {}

  /** Pads the Conv's input circularly and sets its own pads to 0; returns the nodes to put before it. */
  wrap(conv: OnnxNode, [top, left, bottom, right]: readonly number[]): OnnxNode[] {
    this.added = [];
    this.count++;
    const wide = this.wrapAxis(conv.inputs[0]!, 3, left!, right!);
    conv.inputs[0] = this.wrapAxis(wide, 2, top!, bottom!);
    removeAttribute(conv, 'auto_pad');
    setIntsAttribute(conv, 'pads', [0, 0, 0, 0]);
    return this.added;
  }

  /** `input` with its last `before` entries put before it and its first `after` after it, on `axis`. */
  private wrapAxis(input: string, axis: number, before: number, after: number): string {
    if (before === 0 && after === 0) return input;
    const name = `${PREFIX}_${this.count}_axis${axis}`;
    const pieces = [
      ...(before > 0 ? [this.slice(input, BigInt(-before), INT64_MAX, axis, `${name}_last`)] : []),
      input,
      ...(after > 0 ? [this.slice(input, 0n, BigInt(after), axis, `${name}_first`)] : []),
    ];
    const concat = plainNode('Concat', pieces, name);
    setIntAttribute(concat, 'axis', axis);
    this.added.push(concat);
    return name;
  }

  private slice(input: string, from: bigint, to: bigint, axis: number, output: string): string {
    const bounds = [this.constant(from), this.constant(to), this.constant(BigInt(axis))];
    this.added.push(plainNode('Slice', [input, ...bounds], output));
    return output;
  }

  /** A 1-element int64 initializer, added once per value. */
  private constant(value: bigint): string {
    const name = `${PREFIX}_const_${value}`;
    if (!this.constants.has(name)) {
      this.constants.add(name);
      const raw = new Uint8Array(BigInt64Array.from([value]).buffer);
      this.model.addInitializer(initializerFields(name, [1], TensorDataType.int64, raw));
    }
    return name;
  }
}

/**
 * Rewrites every padded 2-D Conv of the model's graph to pad circularly. Refused (a UserError) when the
 * model's opset is older than 10, where Slice takes no inputs.
 */
export function wrapConvolutions(model: OnnxFile): CircularReport {
  const opset = model.opsetVersion('') ?? 0;
  if (opset < 10) {
    throw new UserError(
      ErrorCode.ModelInvalid,
      `--tile needs a model exported at ONNX opset 10 or later; this one uses opset ${opset}.`,
    );
  }
  const wrapper = new Wrapper(model);
  const skipped: string[] = [];
  let wrapped = 0;
  const nodes: OnnxNode[] = [];
  for (const node of model.nodes) {
    if (node.opType === 'Conv' && (node.domain === '' || node.domain === 'ai.onnx')) {
      const padding = paddingOf(node);
      if ('reason' in padding) skipped.push(`${node.name ?? node.outputs[0]}: ${padding.reason}`);
      else if (padding.pads.some((p) => p > 0)) {
        nodes.push(...wrapper.wrap(node, padding.pads));
        wrapped++;
      }
    }
    nodes.push(node);
  }
  model.nodes = nodes;
  return { wrapped, skipped };
}

/** The `--tile` form of a model file, for `OnnxBackend.load`: its padded convolutions wrap around. */
export const CIRCULAR: ModelVariant & { rewrite: (bytes: Uint8Array, file: string) => Uint8Array } = {
  name: 'circular',
  rewrite: (bytes, file) => {
    const model = OnnxFile.read(bytes);
    const report = wrapConvolutions(model);
    if (report.skipped.length > 0)
      log.warn('some convolutions cannot wrap around; tiles may show seams', {
        file,
        skipped: report.skipped,
      });
    return model.write();
  },
};

/**
 * Why a model cannot make tiles, if it cannot: transformers (SD3, FLUX.1) place tokens by position, so
 * wrapping their few convolutions would not make a tile.
 */
export function tileRefusal(spec: ModelSpec): UserError | undefined {
  if (spec.family !== 'sd3' && spec.family !== 'flux') return undefined;
  return new UserError(
    ErrorCode.FlagValue,
    `--tile works with UNet models (SD 1.x/2.x, SDXL and flowbot's own); ${spec.name} is a transformer, which places everything by position.`,
  );
}

/** A denoiser's form for `--tile` (undefined without it); refused for models that cannot tile. */
export function circularFor(spec: ModelSpec, tile: boolean | undefined): ModelVariant | undefined {
  if (!tile) return undefined;
  const refused = tileRefusal(spec);
  if (refused) throw refused;
  return CIRCULAR;
}
