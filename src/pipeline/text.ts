/**
 * Text encoders: tokenize, run the encoder (prompt and negative prompt in one batch where the graph
 * allows), and hand back the outputs a family asks for, one batch-1 tensor per text.
 */
import { ErrorCode, FlowbotError } from '../errors.js';
import { isDynamic, requireInputs } from './families/inputs.js';
import type { HostTensor, ModelVariant, OnnxBackend, OnnxModel } from './onnx.js';
import { loadTokenizer, type PromptTokenizer, type TokenizerSpec } from './tokenizers.js';

/** The outputs of one text, keyed by output name. */
export type EncoderOutputs = Readonly<Record<string, HostTensor>>;

/**
 * `hidden_states.(N−1)`: the penultimate layer of a CLIP export with output_hidden_states, where
 * `hidden_states.N` is the last layer before the final layer norm. N is read from the graph.
 */
export function penultimateHiddenState(model: OnnxModel): string {
  const layers = model.outputs
    .map((o) => /^hidden_states\.(\d+)$/.exec(o.name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  if (layers.length < 2) {
    throw new FlowbotError(
      ErrorCode.ModelInvalid,
      `${model.file}: expected outputs hidden_states.0 … hidden_states.N (export it with output_hidden_states) but found ${model.outputs.map((o) => o.name).join(', ')}`,
    );
  }
  return `hidden_states.${Math.max(...layers) - 1}`;
}

/** Runs text encoders, caching tokenizers. */
export class TextEncoders {
  private readonly backend: OnnxBackend;
  private readonly tokenizers: Map<string, PromptTokenizer>;
  /** The form of each encoder file to load (LoRA merges), when a request has one. */
  private readonly variantOf: (file: string) => ModelVariant | undefined;

  constructor(
    backend: OnnxBackend,
    variantOf: (file: string) => ModelVariant | undefined = () => undefined,
    tokenizers = new Map<string, PromptTokenizer>(),
  ) {
    this.backend = backend;
    this.variantOf = variantOf;
    this.tokenizers = tokenizers;
  }

  /** These encoders loading each file in the form `variantOf` gives (sharing the tokenizers). */
  withVariants(variantOf: (file: string) => ModelVariant | undefined): TextEncoders {
    return new TextEncoders(this.backend, variantOf, this.tokenizers);
  }

  /** The encoder at `file`, in the form this request's variants give (LoRA merges). */
  load(file: string): Promise<OnnxModel> {
    return this.backend.load(file, this.variantOf(file));
  }

  /** The tokenizer a spec describes, loaded once. */
  tokenizer(spec: TokenizerSpec): PromptTokenizer {
    const key = JSON.stringify(spec);
    let tokenizer = this.tokenizers.get(key);
    if (!tokenizer) {
      tokenizer = loadTokenizer(spec);
      this.tokenizers.set(key, tokenizer);
    }
    return tokenizer;
  }

  /**
   * Encodes each text with the encoder at `file` and returns the outputs `choose` names (it sees the
   * loaded model, so names such as the penultimate layer can be read from the graph).
   */
  async encode(
    file: string,
    tokenizerSpec: TokenizerSpec,
    texts: readonly string[],
    choose: (model: OnnxModel) => readonly string[],
  ): Promise<EncoderOutputs[]> {
    const model = await this.load(file);
    const [input] = requireInputs(model, ['input_ids']);
    const tokenizer = this.tokenizer(tokenizerSpec);
    const names = choose(model);
    const missing = names.filter((name) => !model.output(name));
    if (missing.length > 0) {
      throw new FlowbotError(
        ErrorCode.ModelInvalid,
        `${model.file}: expected outputs ${names.join(', ')} but found ${model.outputs.map((o) => o.name).join(', ')}`,
      );
    }
    const length = tokenizer.length;
    const batched = texts.length > 1 && isDynamic(input!.shape[0]);
    const groups = batched ? [texts] : texts.map((text) => [text]);
    const results: EncoderOutputs[] = [];
    for (const group of groups) {
      const ids = new Int32Array(group.length * length);
      const weights = group.map((text, k) => {
        const tokens = tokenizer.weighted(text);
        ids.set(tokens.ids, k * length);
        return tokens.weights;
      });
      const release = model.hold();
      const out = await model
        .run({ input_ids: { data: ids, dims: [group.length, length] } })
        .finally(release);
      for (let k = 0; k < group.length; k++) {
        const picked: Record<string, HostTensor> = {};
        for (const name of names) picked[name] = weigh(batchItem(out[name]!, k, group.length), weights[k]!);
        results.push(picked);
      }
    }
    return results;
  }
}

/**
 * Runs a sentence encoder (input_ids and attention_mask) on one text at its own length, unpadded, as
 * it was trained: no padding tokens reach its attention. Returns every output of the graph.
 */
export async function encodeUnpadded(
  text: TextEncoders,
  file: string,
  tokenizerSpec: TokenizerSpec,
  prompt: string,
): Promise<EncoderOutputs> {
  const model = await text.load(file);
  requireInputs(model, ['input_ids', 'attention_mask']);
  const ids = text.tokenizer(tokenizerSpec).tokens(prompt);
  const dims = [1, ids.length];
  const release = model.hold();
  return model
    .run({
      input_ids: { data: Int32Array.from(ids), dims },
      attention_mask: { data: new Int32Array(ids.length).fill(1), dims },
    })
    .finally(release);
}

/**
 * Scales each token's embedding of a [1, length, D] output by its prompt weight, then restores the
 * sequence's mean, as the common `(words:1.3)` implementations do. Pooled outputs are left alone.
 */
function weigh(tensor: HostTensor, weights: Float32Array): HostTensor {
  if (tensor.dims.length !== 3 || tensor.dims[1] !== weights.length || weights.every((w) => w === 1))
    return tensor;
  const data = tensor.data as Float32Array;
  const width = tensor.dims[2]!;
  const before = data.reduce((sum, v) => sum + v, 0);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! * weights[Math.floor(i / width)]!;
  const after = out.reduce((sum, v) => sum + v, 0);
  if (after !== 0) {
    const restore = before / after;
    for (let i = 0; i < out.length; i++) out[i]! *= restore;
  }
  return { data: out, dims: tensor.dims };
}

/** Item `k` of a batched tensor, as a batch-1 tensor. */
function batchItem(tensor: HostTensor, k: number, batch: number): HostTensor {
  const size = tensor.data.length / batch;
  const data = (tensor.data as Float32Array).slice(k * size, (k + 1) * size);
  return { data, dims: [1, ...tensor.dims.slice(1)] };
}
