/**
 * Protocol Buffers' wire format, losslessly: a message is read as its list of fields (number, wire
 * type, value) and written back from such a list, so a field nobody looked at is written exactly as it
 * was read. Length-delimited values are views into the input (no copies), which keeps a rewrite of a
 * large model to one extra buffer. Only what ONNX files use is supported: varints, fixed 32/64-bit
 * values and length-delimited values (no groups).
 */

/** The wire types: varint, 64-bit, length-delimited, 32-bit. */
export type WireType = 0 | 1 | 2 | 5;

/** One field of a message as it is on the wire. */
export type ProtoField =
  | { readonly field: number; readonly wire: 0; readonly value: bigint }
  | { readonly field: number; readonly wire: 1 | 2 | 5; readonly value: Uint8Array };

/** A malformed message (truncated, or a wire type ONNX does not use). */
export class ProtobufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtobufError';
  }
}

/** Reads a varint at `offset`; returns it with the offset after it. */
function readVarint(bytes: Uint8Array, offset: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = offset; i < bytes.length && shift < 70n; i++) {
    const byte = bytes[i]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [BigInt.asUintN(64, result), i + 1];
    shift += 7n;
  }
  throw new ProtobufError(`truncated varint at byte ${offset}`);
}

/** A length or tag varint as a safe integer. */
function readSmall(bytes: Uint8Array, offset: number): [number, number] {
  const [value, next] = readVarint(bytes, offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtobufError(`value too large at byte ${offset}`);
  return [Number(value), next];
}

/** The fields of one message, in order. */
export function readFields(bytes: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const [tag, afterTag] = readSmall(bytes, offset);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw new ProtobufError(`field number 0 at byte ${offset}`);
    if (wire === 0) {
      const [value, next] = readVarint(bytes, afterTag);
      fields.push({ field, wire, value });
      offset = next;
      continue;
    }
    let start = afterTag;
    let length: number;
    if (wire === 2) [length, start] = readSmall(bytes, afterTag);
    else if (wire === 1) length = 8;
    else if (wire === 5) length = 4;
    else throw new ProtobufError(`unsupported wire type ${wire} at byte ${offset}`);
    if (start + length > bytes.length) throw new ProtobufError(`truncated field ${field} at byte ${offset}`);
    fields.push({ field, wire, value: bytes.subarray(start, start + length) });
    offset = start + length;
  }
  return fields;
}

function varintBytes(value: bigint): number[] {
  let rest = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest === 0n ? low : low | 0x80);
  } while (rest !== 0n);
  return out;
}

/** Writes fields as one message. */
export function writeFields(fields: readonly ProtoField[]): Uint8Array {
  const heads = fields.map((f) => {
    const tag = varintBytes(BigInt(f.field * 8 + f.wire));
    if (f.wire === 0) return [...tag, ...varintBytes(f.value)];
    return f.wire === 2 ? [...tag, ...varintBytes(BigInt(f.value.length))] : tag;
  });
  const size = fields.reduce((sum, f, i) => sum + heads[i]!.length + (f.wire === 0 ? 0 : f.value.length), 0);
  const out = new Uint8Array(size);
  let offset = 0;
  fields.forEach((f, i) => {
    out.set(heads[i]!, offset);
    offset += heads[i]!.length;
    if (f.wire !== 0) {
      out.set(f.value, offset);
      offset += f.value.length;
    }
  });
  return out;
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** A length-delimited field holding a string. */
export function stringField(field: number, value: string): ProtoField {
  return { field, wire: 2, value: encoder.encode(value) };
}

/** A length-delimited field holding a message. */
export function messageField(field: number, fields: readonly ProtoField[]): ProtoField {
  return { field, wire: 2, value: writeFields(fields) };
}

/** A varint field (int64 values are two's complement). */
export function varintField(field: number, value: number | bigint): ProtoField {
  return { field, wire: 0, value: BigInt.asUintN(64, BigInt(value)) };
}

/** A length-delimited field's text. */
export function textOf(field: ProtoField): string {
  return field.wire === 2 ? utf8.decode(field.value) : '';
}

/** A varint field as a signed 64-bit number. */
export function int64Of(field: ProtoField): number {
  return field.wire === 0 ? Number(BigInt.asIntN(64, field.value)) : 0;
}

/**
 * The values of a repeated int64 field, whether packed (one length-delimited field) or not (one
 * varint field per value).
 */
export function int64sOf(fields: readonly ProtoField[], number: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.field !== number) continue;
    if (f.wire === 0) out.push(int64Of(f));
    else if (f.wire === 2)
      for (let offset = 0; offset < f.value.length; ) {
        const [value, next] = readVarint(f.value, offset);
        out.push(Number(BigInt.asIntN(64, value)));
        offset = next;
      }
  }
  return out;
}

/** A repeated int64 field, one varint per value (as onnx.proto, a proto2 file, writes them). */
export function int64Fields(field: number, values: readonly number[]): ProtoField[] {
  return values.map((value) => varintField(field, value));
}

/** Fields in field-number order, keeping the order within each number: how protobuf serializes. */
export function canonicalOrder(fields: readonly ProtoField[]): ProtoField[] {
  return fields
    .map((f, index) => ({ f, index }))
    .sort((a, b) => a.f.field - b.f.field || a.index - b.index)
    .map(({ f }) => f);
}
