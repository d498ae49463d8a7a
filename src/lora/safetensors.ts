/**
 * Reading `.safetensors` files (Hugging Face's format: an 8-byte little-endian header length, a JSON
 * header naming each tensor's dtype, shape and byte range, then the data). Everything the header says
 * is checked before any tensor is read: a file that is too large, not safetensors, or whose header
 * lies about lengths or offsets is refused with a message, never a crash.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, UserError } from '../errors.js';
import { fromFloat16 } from '../pipeline/onnx.js';

/** Bytes per element of the dtypes LoRA files use. */
const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2, F64: 8 } as const;
/** A tensor's element type, as the header names it. */
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

/** The header may not be larger than this (the format's own reference reader uses 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Where one tensor is in the file. */
export interface TensorEntry {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte range within the data section (after the header). */
  readonly begin: number;
  readonly end: number;
}

const entrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});

/** A safetensors file whose header has been read and checked; tensors are read on demand. */
export class SafetensorsFile {
  /** Tensors by name. */
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  /** The header's `__metadata__` strings. */
  readonly metadata: Readonly<Record<string, string>>;
  private readonly file: string;
  private readonly dataStart: number;

  private constructor(
    file: string,
    dataStart: number,
    tensors: Map<string, TensorEntry>,
    metadata: Record<string, string>,
  ) {
    this.file = file;
    this.dataStart = dataStart;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /**
   * Opens a file and checks its header against its size. `label` names the file in messages (never
   * the host's path); files over `maxBytes` are refused before anything is read.
   */
  static open(file: string, options: { maxBytes: number; label?: string }): SafetensorsFile {
    const label = options.label ?? path.basename(file);
    const refuse = (problem: string) =>
      new UserError(ErrorCode.FlagValue, `The LoRA ${label} cannot be used: ${problem}.`);
    const size = statSync(file).size;
    if (size > options.maxBytes) {
      throw refuse(
        `it is ${megabytes(size)}, over the limit of ${megabytes(options.maxBytes)} (LORA_MAX_MB)`,
      );
    }
    if (size < 8) throw refuse('it is not a safetensors file (too short)');
    const fd = openSync(file, 'r');
    try {
      const prefix = Buffer.alloc(8);
      readSync(fd, prefix, 0, 8, 0);
      const headerLength = Number(prefix.readBigUInt64LE(0));
      if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
        throw refuse(
          `it is not a safetensors file (its header claims ${headerLength} bytes of a ${size}-byte file)`,
        );
      }
      const header = Buffer.alloc(headerLength);
      readSync(fd, header, 0, headerLength, 8);
      let json: unknown;
      try {
        json = JSON.parse(header.toString('utf8'));
      } catch {
        throw refuse('it is not a safetensors file (its header is not JSON)');
      }
      if (json === null || typeof json !== 'object' || Array.isArray(json)) {
        throw refuse('it is not a safetensors file (its header is not a JSON object)');
      }
      const dataStart = 8 + headerLength;
      const { tensors, metadata } = parseHeader(json as Record<string, unknown>, size - dataStart, refuse);
      return new SafetensorsFile(file, dataStart, tensors, metadata);
    } finally {
      closeSync(fd);
    }
  }

  /** A tensor's values as float32 (F32, F16, BF16 and F64 are converted). */
  float32(name: string): Float32Array {
    const entry = this.tensors.get(name);
    if (!entry) throw new Error(`no tensor "${name}"`);
    const bytes = Buffer.alloc(entry.end - entry.begin);
    const fd = openSync(this.file, 'r');
    try {
      readSync(fd, bytes, 0, bytes.length, this.dataStart + entry.begin);
    } finally {
      closeSync(fd);
    }
    return toFloat32(entry.dtype, bytes);
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Checks every entry (dtype, shape × dtype = its byte length, ranges within the data, no overlaps). */
function parseHeader(
  json: Record<string, unknown>,
  dataBytes: number,
  refuse: (problem: string) => UserError,
): { tensors: Map<string, TensorEntry>; metadata: Record<string, string> } {
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      const parsed = z.record(z.string(), z.string()).safeParse(value);
      if (!parsed.success) throw refuse('its __metadata__ is not a map of strings');
      metadata = parsed.data;
      continue;
    }
    const parsed = entrySchema.safeParse(value);
    if (!parsed.success) throw refuse(`the header entry of "${name}" is malformed`);
    const { dtype, shape, data_offsets: offsets } = parsed.data;
    if (!(dtype in DTYPE_BYTES)) throw refuse(`"${name}" has dtype ${dtype}; LoRAs are F32, F16 or BF16`);
    const elements = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offsets;
    if (end < begin || end > dataBytes || end - begin !== elements * DTYPE_BYTES[dtype as SafetensorsDtype]) {
      throw refuse(`the header lies about the length of "${name}" (bytes ${begin}–${end} of ${dataBytes})`);
    }
    tensors.set(name, { dtype: dtype as SafetensorsDtype, shape, begin, end });
  }
  const ranges = [...tensors.values()].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.begin < ranges[i - 1]!.end) throw refuse('the header gives two tensors the same bytes');
  }
  return { tensors, metadata };
}

function toFloat32(dtype: SafetensorsDtype, bytes: Buffer): Float32Array {
  const aligned = new Uint8Array(bytes).buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned);
    case 'F64':
      return Float32Array.from(new Float64Array(aligned));
    case 'F16':
      return fromFloat16(new Uint16Array(aligned));
    case 'BF16': {
      const halves = new Uint16Array(aligned);
      const words = new Uint32Array(halves.length);
      for (let i = 0; i < halves.length; i++) words[i] = halves[i]! << 16;
      return new Float32Array(words.buffer);
    }
  }
}
