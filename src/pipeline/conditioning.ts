/**
 * A prompt's conditioning for any family, with multi-prompts (`cat::2 dog`) mixed: each part is encoded
 * by the family's own encoders and every conditioning tensor (CLIP hidden states and pooled vectors, T5
 * states, the shipped model's encoder) is the weighted sum of the parts', weights divided by their sum.
 * A prompt of one part is encoded as it is, so `cat::1 dog::0` gives exactly the bytes of `cat`.
 */
import { parseMultiPrompt } from '../prompt/multiprompt.js';
import type { Conditioning, ModelFamily, ModelSpec, PromptConditioning } from './families/types.js';
import type { HostTensor } from './onnx.js';
import type { TextEncoders } from './text.js';

/** Encodes the prompt (mixing a multi-prompt's parts) and, when guided, the negative prompt. */
export async function encodeConditioning(
  family: ModelFamily,
  text: TextEncoders,
  spec: ModelSpec,
  prompt: string,
  negative: string,
  guided: boolean,
): Promise<PromptConditioning> {
  const parts = parseMultiPrompt(prompt);
  if (!parts.ok) throw parts.error;
  const [first, ...rest] = parts.value;
  const head = await family.encodePrompt(text, spec, first!.text, negative, guided);
  if (rest.length === 0) return head;
  const conds = [head.cond];
  for (const part of rest) conds.push((await family.encodePrompt(text, spec, part.text, '', false)).cond);
  const total = parts.value.reduce((sum, part) => sum + part.weight, 0);
  return {
    cond: weightedSum(
      conds,
      parts.value.map((part) => part.weight / total),
    ),
    uncond: head.uncond,
  };
}

/** Σ wᵢ·cᵢ for every conditioning tensor (they share names and shapes: same encoders, fixed lengths). */
export function weightedSum(
  conditionings: readonly Conditioning[],
  weights: readonly number[],
): Conditioning {
  const out: Record<string, HostTensor> = {};
  for (const [name, first] of Object.entries(conditionings[0]!)) {
    const data = new Float32Array(first.data.length);
    conditionings.forEach((conditioning, k) => {
      const values = conditioning[name]!.data as Float32Array;
      for (let i = 0; i < data.length; i++) data[i]! += weights[k]! * values[i]!;
    });
    out[name] = { data, dims: first.dims };
  }
  return out;
}
