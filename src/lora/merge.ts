/**
 * Merging LoRAs into an ONNX graph's weights: W' = W + weight × (alpha / rank) × up × down.
 *
 * LoRA keys name torch modules; the ONNX file names initializers. torch's exporter keeps module paths
 * in node names (`/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul`) and keeps
 * parameter names for Gemm and Conv weights (`conv_in.weight`), so each MatMul, Gemm and Conv whose
 * weight is an initializer is indexed by its module path, dotted and underscored (kohya's keys). The
 * exporter stores a Linear feeding a MatMul transposed ([in, out]) and a Gemm as [out, in] with transB
 * (or [in, out] without); a Conv as [out, in, kh, kw]. Weights in external data files are read from
 * beside the model; merged ones are written into the rewritten model itself.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { fromFloat16, toFloat16 } from '../pipeline/onnx.js';
import {
  externalInitializerFields,
  initializerFields,
  intAttribute,
  type OnnxFile,
  type OnnxInitializer,
  TensorDataType,
} from '../pipeline/onnx-file.js';
import type { ProtoField } from '../pipeline/protobuf.js';
import { type AddUpdate, jsAddUpdate, type Layout } from './gemm.js';
import type { LoraLayer } from './keys.js';

/** A weight a LoRA layer can change. */
interface WeightSite {
  readonly initializer: OnnxInitializer;
  readonly layout: Layout;
}

/** One layer to merge, with the file it is read from and its weight. */
export interface WeightedLayer {
  readonly layer: LoraLayer;
  readonly weight: number;
  /** Reads a tensor of the layer's file as float32. */
  readonly read: (key: string) => Float32Array;
}

/** What a merge did. */
export interface MergeReport {
  /** Layers merged into a weight. */
  readonly merged: number;
  /** Layers that matched no weight, or one of another shape. */
  readonly unmatched: readonly WeightedLayer[];
}

/** `/a.b/c/d/MatMul` → `a.b.c.d`; undefined for names that are not module paths. */
function moduleOfNode(name: string | undefined): string | undefined {
  if (!name?.startsWith('/')) return undefined;
  const parts = name.slice(1).split('/');
  return parts.length >= 2 ? parts.slice(0, -1).join('.') : undefined;
}

/** Every weight of the graph a LoRA can reach, by dotted and by underscored module path. */
export function weightSites(model: OnnxFile): Map<string, WeightSite> {
  const initializers = new Map(model.initializers().map((i) => [i.name, i]));
  const sites = new Map<string, WeightSite>();
  for (const node of model.nodes) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm' && node.opType !== 'Conv') continue;
    const initializer = initializers.get(node.inputs[1] ?? '');
    if (!initializer) continue;
    const layout: Layout =
      node.opType === 'Conv' || (node.opType === 'Gemm' && intAttribute(node, 'transB') === 1)
        ? 'out-in'
        : 'in-out';
    const fromName = initializer.name.endsWith('.weight')
      ? initializer.name.slice(0, -'.weight'.length)
      : undefined;
    for (const module of [fromName, moduleOfNode(node.name)]) {
      if (!module || sites.has(module)) continue;
      sites.set(module, { initializer, layout });
      sites.set(`_${module.replace(/\./g, '_')}`, { initializer, layout });
    }
  }
  return sites;
}

function siteOf(sites: Map<string, WeightSite>, layer: LoraLayer): WeightSite | undefined {
  return layer.underscored ? sites.get(`_${layer.module}`) : sites.get(layer.module);
}

/** Whether the layer's update has the weight's shape. */
function fits(site: WeightSite, layer: LoraLayer): boolean {
  const dims = site.initializer.dims;
  const out = layer.upShape[0]!;
  const inner = layer.downShape.slice(1).reduce((a, b) => a * b, 1);
  const upRest = layer.upShape.slice(2).reduce((a, b) => a * b, 1);
  if (upRest !== 1) return false;
  if (site.layout === 'in-out') return dims.length === 2 && dims[0] === inner && dims[1] === out;
  return dims[0] === out && dims.slice(1).reduce((a, b) => a * b, 1) === inner;
}

/** An initializer's values as float32, from the file or its external data beside `modelFile`. */
function readWeight(initializer: OnnxInitializer, modelFile: string): Float32Array {
  // A buffer of its own (offset 0, not pooled, not zeroed first): float32 values are viewed in place, and
  // the merge writes into it. Values inside the model's bytes are copied, as those bytes are shared.
  let buffer: ArrayBuffer;
  if (initializer.rawData) buffer = new Uint8Array(initializer.rawData).buffer;
  else if (initializer.external) {
    const { location, offset } = initializer.external;
    const elements = initializer.dims.reduce((a, b) => a * b, 1);
    const length =
      initializer.external.length ?? elements * (initializer.dataType === TensorDataType.float16 ? 2 : 4);
    const read = Buffer.allocUnsafeSlow(length);
    const fd = openSync(path.join(path.dirname(modelFile), location), 'r');
    try {
      readSync(fd, read, 0, length, offset);
    } finally {
      closeSync(fd);
    }
    buffer = read.buffer;
  } else throw new Error(`${initializer.name}: its values are neither raw_data nor external`);
  if (initializer.dataType === TensorDataType.float) return new Float32Array(buffer);
  if (initializer.dataType === TensorDataType.float16) return fromFloat16(new Uint16Array(buffer));
  throw new Error(`${initializer.name}: data type ${initializer.dataType} cannot take a LoRA`);
}

/** Where a merged weight's values go: its initializer's fields, given its values. */
export type WeightSink = (
  name: string,
  dims: readonly number[],
  dataType: number,
  raw: Uint8Array,
) => readonly ProtoField[] | Promise<readonly ProtoField[]>;

/** Merged weights kept inside the model's bytes. */
export const inlineWeights: WeightSink = (name, dims, dataType, raw) =>
  initializerFields(name, dims, dataType, raw);

/** Offsets of merged weights in their file: page-aligned, so each can be mapped where it lies. */
const PAGE = 4096;

/**
 * Merged weights appended to one external-data file in `folder` (the session's scratch folder inside
 * the model's folder), so ONNX Runtime maps them like the model's own external data instead of parsing a
 * gigabyte of model bytes. Locations are relative to the model's folder, as ONNX requires.
 */
export async function externalWeights(
  folder: string,
  modelFile: string,
): Promise<{ readonly sink: WeightSink; close(): Promise<void> }> {
  const file = path.join(folder, 'lora-merged.bin');
  const location = path
    .relative(path.dirname(path.resolve(modelFile)), file)
    .split(path.sep)
    .join('/');
  const handle = await open(file, 'w');
  let end = 0;
  return {
    sink: async (name, dims, dataType, raw) => {
      const offset = Math.ceil(end / PAGE) * PAGE;
      end = offset + raw.length;
      await handle.write(raw, 0, raw.length, offset);
      return externalInitializerFields(name, dims, dataType, { location, offset, length: raw.length });
    },
    close: () => handle.close(),
  };
}

/**
 * Merges the layers into the model's weights (in place in `model`); `modelFile` locates external
 * data, and `sink` says where merged values go. Layers of weight 0 change nothing and are skipped.
 */
export async function mergeLayers(
  model: OnnxFile,
  modelFile: string,
  layers: readonly WeightedLayer[],
  addUpdate: AddUpdate = jsAddUpdate,
  sink: WeightSink = inlineWeights,
): Promise<MergeReport> {
  const sites = weightSites(model);
  const byWeight = new Map<string, { site: WeightSite; layers: WeightedLayer[] }>();
  const unmatched: WeightedLayer[] = [];
  for (const entry of layers) {
    const site = siteOf(sites, entry.layer);
    if (!site || !fits(site, entry.layer)) {
      unmatched.push(entry);
      continue;
    }
    if (entry.weight === 0) continue;
    const group = byWeight.get(site.initializer.name) ?? { site, layers: [] };
    group.layers.push(entry);
    byWeight.set(site.initializer.name, group);
  }
  let merged = 0;
  for (const { site, layers: group } of byWeight.values()) {
    let weights = readWeight(site.initializer, modelFile);
    for (const { layer, weight, read } of group) {
      const rank = layer.downShape[0]!;
      const up = read(layer.upKey);
      const scale = weight * layer.scale;
      for (let i = 0; i < up.length; i++) up[i]! *= scale;
      weights = await addUpdate(weights, site.layout, up, read(layer.downKey), rank);
      merged++;
    }
    const { name, dims, dataType } = site.initializer;
    const raw =
      dataType === TensorDataType.float16
        ? new Uint8Array(toFloat16(weights).buffer)
        : new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
    model.replaceInitializer(name, await sink(name, dims, dataType, raw));
  }
  return { merged, unmatched };
}
