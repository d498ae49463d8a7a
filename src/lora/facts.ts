/**
 * What an image records about its LoRAs: name, weight and A1111's short hash (the first 12 hex digits
 * of the SHA-256 of the file's tensor data after the header, kohya's "addnet" hash that A1111 writes as
 * `Lora hashes`), and how they are written in the PNG's `parameters` text, the result line and `info`.
 */

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { z } from 'zod';
import type { LoraUse, ResolvedLora } from './library.js';

/** A LoRA as an image records it. */
export const loraFactSchema = z.object({
  name: z.string().max(100),
  weight: z.number(),
  hash: z
    .string()
    .regex(/^[0-9a-f]{12}$/)
    .optional(),
});
/** A LoRA as an image records it. */
export type LoraFact = z.infer<typeof loraFactSchema>;

const hashes = new Map<string, string>();

/** A1111's short hash of a safetensors LoRA (cached by path, size and time). */
export function loraShortHash(file: string): string {
  const stat = statSync(file);
  const key = `${file}#${stat.size}#${stat.mtimeMs}`;
  const known = hashes.get(key);
  if (known) return known;
  const fd = openSync(file, 'r');
  try {
    const prefix = Buffer.alloc(8);
    readSync(fd, prefix, 0, 8, 0);
    let position = 8 + Number(prefix.readBigUInt64LE(0));
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(1 << 20);
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, position);
      if (read === 0) break;
      hash.update(chunk.subarray(0, read));
      position += read;
    }
    const short = hash.digest('hex').slice(0, 12);
    hashes.set(key, short);
    return short;
  } finally {
    closeSync(fd);
  }
}

/** The facts of resolved LoRAs (weight-0 ones included: they were asked for). */
export function loraFacts(loras: readonly ResolvedLora[]): LoraFact[] {
  return loras.map((l) => ({ name: l.name, weight: l.weight, hash: loraShortHash(l.file) }));
}

/** The LoRAs an image's `extra` records, if any (read, not trusted). */
export function lorasOfExtra(extra: unknown): LoraFact[] {
  const parsed = z.object({ loras: z.array(loraFactSchema).max(8) }).safeParse(extra);
  return parsed.success ? parsed.data.loras : [];
}

/** `<lora:name:0.8> <lora:other:-0.5>`, as A1111 writes them into the prompt. */
export function loraTags(loras: readonly LoraUse[]): string {
  return loras.map((l) => `<lora:${l.name}:${l.weight}>`).join(' ');
}

/** A1111's `Lora hashes: "name: 0123456789ab, other: …"` field. */
export function loraHashesField(loras: readonly LoraFact[]): string | undefined {
  const hashed = loras.filter((l) => l.hash);
  if (hashed.length === 0) return undefined;
  return `Lora hashes: "${hashed.map((l) => `${l.name}: ${l.hash}`).join(', ')}"`;
}

/** "LoRA tiny-style 0.8, detail −0.5", for result lines and `info`. */
export function describeLoras(loras: readonly LoraUse[]): string {
  return `LoRA ${loras.map((l) => `${l.name} ${l.weight < 0 ? `−${-l.weight}` : l.weight}`).join(', ')}`;
}
