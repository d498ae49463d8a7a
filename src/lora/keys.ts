/**
 * What a LoRA file holds, whatever wrote it: kohya/A1111 keys (`lora_unet_<module_with_underscores>`,
 * `lora_te_…`, `lora_te1_…`/`lora_te2_…`, with `.lora_down`, `.lora_up` and `.alpha`, convolutions
 * included: LoCon) and diffusers/PEFT keys (`unet.<module>.lora_A.weight`/`lora_B`, `transformer.…`,
 * `text_encoder.…`, and the older `.lora.down`/`.lora.up`). Each becomes a layer: the component it
 * belongs to, the module it changes, its down and up matrices and its scale (alpha / rank).
 */
import { z } from 'zod';
import type { SafetensorsFile } from './safetensors.js';

/** The components a LoRA can change. */
export type LoraComponent = 'denoiser' | 'text_encoder' | 'text_encoder_2' | 'text_encoder_3';

/** One low-rank update: W' = W + weight × scale × up × down. */
export interface LoraLayer {
  readonly component: LoraComponent;
  /** The module path, dotted (`down_blocks.0.attentions.0…to_q`) or, for kohya keys, underscored. */
  readonly module: string;
  readonly underscored: boolean;
  /** The file's keys this layer was read from (for "N of M keys matched nothing"). */
  readonly keys: readonly string[];
  readonly downKey: string;
  readonly upKey: string;
  /** [rank, in, (kh, kw)] and [out, rank, (1, 1)]. */
  readonly downShape: readonly number[];
  readonly upShape: readonly number[];
  /** alpha / rank (1 when the file gives no alpha). */
  readonly scale: number;
}

/** The layers of a file, and the keys that are not LoRA layers flowbot can read. */
export interface LoraContents {
  readonly layers: readonly LoraLayer[];
  readonly unreadKeys: readonly string[];
  readonly totalKeys: number;
  /** The family the keys point to, when they say ("SDXL" for lora_te2_ / text_encoder_2 on a UNet). */
  readonly familyHint: LoraFamilyHint | undefined;
}

/** Families a LoRA's own keys can reveal. */
export type LoraFamilyHint = 'unet' | 'sdxl' | 'sd3' | 'flux';

const KOHYA_PREFIXES: Readonly<Record<string, LoraComponent>> = {
  lora_unet_: 'denoiser',
  lora_transformer_: 'denoiser',
  lora_te_: 'text_encoder',
  lora_te1_: 'text_encoder',
  lora_te2_: 'text_encoder_2',
  lora_te3_: 'text_encoder_3',
};
const DIFFUSERS_PREFIXES: Readonly<Record<string, LoraComponent>> = {
  'unet.': 'denoiser',
  'transformer.': 'denoiser',
  'text_encoder.': 'text_encoder',
  'text_encoder_2.': 'text_encoder_2',
  'text_encoder_3.': 'text_encoder_3',
};
/** The down/up suffix pairs writers use. */
const SUFFIXES = [
  ['.lora_down.weight', '.lora_up.weight'],
  ['.lora_A.weight', '.lora_B.weight'],
  ['.lora.down.weight', '.lora.up.weight'],
  ['_lora.down.weight', '_lora.up.weight'],
] as const;

const peftMetadata = z.record(z.string(), z.unknown());

/** PEFT's config as diffusers saves it (`lora_adapter_metadata`): alpha and rank per component prefix. */
function peftScales(
  file: SafetensorsFile,
): (prefix: string, module: string, rank: number) => number | undefined {
  const raw = file.metadata.lora_adapter_metadata;
  let config: Record<string, unknown> = {};
  if (raw) {
    try {
      config = peftMetadata.parse(JSON.parse(raw));
    } catch {
      config = {};
    }
  }
  return (prefix, module, rank) => {
    const component = prefix.slice(0, -1);
    const pattern = config[`${component}.alpha_pattern`];
    let alpha =
      typeof config[`${component}.lora_alpha`] === 'number'
        ? (config[`${component}.lora_alpha`] as number)
        : undefined;
    if (pattern && typeof pattern === 'object') {
      for (const [key, value] of Object.entries(pattern as Record<string, unknown>)) {
        if (typeof value === 'number' && (module === key || module.endsWith(`.${key}`))) alpha = value;
      }
    }
    if (alpha === undefined) return undefined;
    return config[`${component}.use_rslora`] === true ? alpha / Math.sqrt(rank) : alpha / rank;
  };
}

function componentOf(
  key: string,
): { component: LoraComponent; prefix: string; underscored: boolean } | undefined {
  for (const [prefix, component] of Object.entries(KOHYA_PREFIXES)) {
    if (key.startsWith(prefix)) return { component, prefix, underscored: true };
  }
  for (const [prefix, component] of Object.entries(DIFFUSERS_PREFIXES)) {
    if (key.startsWith(prefix)) return { component, prefix, underscored: false };
  }
  return undefined;
}

/** Reads the layers of a LoRA file (the header only; values are read when merged). */
export function readLoraLayers(file: SafetensorsFile): LoraContents {
  const keys = [...file.tensors.keys()];
  const used = new Set<string>();
  const layers: LoraLayer[] = [];
  const scaleFromMetadata = peftScales(file);
  for (const key of keys) {
    const suffix = SUFFIXES.find(([down]) => key.endsWith(down));
    const where = componentOf(key);
    if (!suffix || !where) continue;
    const base = key.slice(0, -suffix[0].length);
    const upKey = base + suffix[1];
    const down = file.tensors.get(key)!;
    const up = file.tensors.get(upKey);
    if (!up) continue;
    const rank = down.shape[0] ?? 0;
    if (rank === 0 || up.shape[1] !== rank) continue;
    const module = base.slice(where.prefix.length);
    const alphaKey = `${base}.alpha`;
    const alphaEntry = file.tensors.get(alphaKey);
    let scale = 1;
    if (alphaEntry && alphaEntry.shape.reduce((a, b) => a * b, 1) === 1) {
      scale = file.float32(alphaKey)[0]! / rank;
    } else {
      scale = scaleFromMetadata(where.prefix, module, rank) ?? 1;
    }
    const layerKeys = [key, upKey, ...(alphaEntry ? [alphaKey] : [])];
    for (const k of layerKeys) used.add(k);
    layers.push({
      component: where.component,
      module,
      underscored: where.underscored,
      keys: layerKeys,
      downKey: key,
      upKey,
      downShape: down.shape,
      upShape: up.shape,
      scale,
    });
  }
  return {
    layers,
    unreadKeys: keys.filter((k) => !used.has(k)),
    totalKeys: keys.length,
    familyHint: familyHint(keys),
  };
}

/** What the keys alone say about the model the LoRA was made for. */
function familyHint(keys: readonly string[]): LoraFamilyHint | undefined {
  const has = (pattern: RegExp) => keys.some((k) => pattern.test(k));
  if (
    has(
      /single_transformer_blocks|lora_unet_(double|single)_blocks|^(diffusion_model|transformer)\.(double|single)_blocks/,
    )
  )
    return 'flux';
  if (has(/joint_blocks|context_block|lora_transformer_/)) return 'sd3';
  if (has(/^lora_te2_|^text_encoder_2\./) && has(/^lora_unet_|^unet\./)) return 'sdxl';
  if (has(/^lora_unet_(down|up|mid|input|output|middle)_block|^unet\./)) return 'unet';
  if (has(/^transformer\.transformer_blocks/)) return undefined;
  return undefined;
}
