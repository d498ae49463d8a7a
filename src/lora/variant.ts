/**
 * LoRAs as model variants: for each component a request's LoRAs touch (the denoiser, the text
 * encoders), a {@link ModelVariant} whose rewrite merges them into the ONNX weights when the session
 * is created. The backend caches one session per (file, variant name), so the variant's name is the
 * set of LoRAs and weights (and each file's size and time): a second job with the same LoRAs merges
 * nothing. A LoRA made for another family is refused naming both; keys that match nothing are counted
 * for the result's note ("12 of 264 LoRA keys matched no weight of this model").
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, UserError } from '../errors.js';
import { createLogger } from '../log.js';
import type { FamilyId, ModelSpec } from '../pipeline/families/types.js';
import type { ModelVariant } from '../pipeline/onnx.js';
import { OnnxFile } from '../pipeline/onnx-file.js';
import type { AddUpdate } from './gemm.js';
import { type LoraComponent, type LoraContents, type LoraFamilyHint, readLoraLayers } from './keys.js';
import type { ResolvedLora } from './library.js';
import { externalWeights, mergeLayers, type WeightedLayer } from './merge.js';
import { SafetensorsFile } from './safetensors.js';

const log = createLogger('lora');

/** Default largest LoRA file (LORA_MAX_MB): the biggest common SDXL/FLUX LoRAs are a few hundred MB. */
export const DEFAULT_LORA_MAX_MB = 1024;

const FAMILY_NAMES: Record<FamilyId | LoraFamilyHint, string> = {
  sd: 'SD 1.x/2.x',
  sdxl: 'SDXL',
  sd3: 'SD3',
  flux: 'FLUX.1',
  flowbot: "flowbot's own model",
  unet: 'a UNet model (SD 1.x/2.x or SDXL)',
};

/** The ONNX file of each component a LoRA can change, where the model has it. */
function componentFiles(spec: ModelSpec): Partial<Record<LoraComponent, string>> {
  return {
    denoiser: spec.files.denoiser,
    text_encoder: spec.files.textEncoder,
    ...(spec.files.textEncoder2 ? { text_encoder_2: spec.files.textEncoder2 } : {}),
    ...(spec.files.textEncoder3 ? { text_encoder_3: spec.files.textEncoder3 } : {}),
  };
}

/** An opened LoRA: its header and layers. */
interface OpenLora {
  readonly lora: ResolvedLora;
  readonly file: SafetensorsFile;
  readonly contents: LoraContents;
  /** Size and time of the file, so an edited file makes a new variant. */
  readonly stamp: string;
}

/** Makes and remembers LoRA variants for one backend. */
export class LoraMerger {
  /** Merges done (one per component session created with LoRAs); the cache test reads it. */
  merges = 0;
  private readonly maxBytes: number;
  /** Unmatched keys per variant key, then per LoRA name. */
  private readonly unmatched = new Map<string, Map<string, number>>();

  private readonly addUpdate: AddUpdate | undefined;

  /** `addUpdate`: the merge's arithmetic (ONNX Runtime's Gemm through the backend; JavaScript without). */
  constructor(options: { maxMB?: number; addUpdate?: AddUpdate } = {}) {
    this.maxBytes = (options.maxMB ?? DEFAULT_LORA_MAX_MB) * 1024 * 1024;
    this.addUpdate = options.addUpdate;
  }

  /** Opens the LoRAs (header checks, size limit) and refuses those of another family. */
  open(spec: ModelSpec, loras: readonly ResolvedLora[]): OpenLora[] {
    return loras.map((lora) => {
      const file = SafetensorsFile.open(lora.file, { maxBytes: this.maxBytes, label: lora.name });
      const contents = readLoraLayers(file);
      if (contents.layers.length === 0) {
        throw new UserError(
          ErrorCode.FlagValue,
          `The LoRA ${lora.name} has no LoRA layers flowbot can read (${contents.totalKeys} keys; expected lora_up/lora_down or lora_A/lora_B pairs).`,
        );
      }
      refuseOtherFamily(spec, lora.name, contents.familyHint);
      const stat = statSync(lora.file);
      return { lora, file, contents, stamp: `${stat.size}-${Math.round(stat.mtimeMs)}` };
    });
  }

  /**
   * The variant of a component's file for these LoRAs, or undefined when none of them changes it
   * (no layers for it, or weight 0: then the file's own session runs, byte for byte).
   */
  variant(spec: ModelSpec, component: LoraComponent, opened: readonly OpenLora[]): ModelVariant | undefined {
    const active = opened.filter(
      (o) => o.lora.weight !== 0 && o.contents.layers.some((l) => l.component === component),
    );
    if (active.length === 0) return undefined;
    const name = `lora:${active.map((o) => `${o.lora.name}@${o.lora.weight}#${o.stamp}`).join(',')}`;
    return {
      name,
      evictable: true,
      writesExternalData: true,
      rewrite: async (bytes, file, scratch) => {
        const model = OnnxFile.read(bytes);
        const layers: WeightedLayer[] = active.flatMap((o) =>
          o.contents.layers
            .filter((layer) => layer.component === component)
            .map((layer) => ({ layer, weight: o.lora.weight, read: (key: string) => o.file.float32(key) })),
        );
        const merged = scratch ? await externalWeights(scratch, file) : undefined;
        const report = await mergeLayers(model, file, layers, this.addUpdate, merged?.sink).finally(() =>
          merged?.close(),
        );
        this.merges++;
        const missed = new Map<string, number>();
        for (const o of active) {
          const mine = report.unmatched.filter((u) => o.contents.layers.includes(u.layer));
          const total = o.contents.layers.filter((l) => l.component === component).length;
          if (total > 0 && mine.length === total) {
            refuseUnmatched(spec, o.lora.name, component, o.contents.familyHint);
          }
          missed.set(
            o.lora.name,
            mine.reduce((n, u) => n + u.layer.keys.length, 0),
          );
        }
        this.unmatched.set(`${path.resolve(file)}#${name}`, missed);
        log.info('merged LoRAs', {
          file,
          loras: name,
          layers: report.merged,
          unmatched: report.unmatched.length,
        });
        return model.write();
      },
    };
  }

  /** Variants for every component of the model the LoRAs change. */
  variants(spec: ModelSpec, loras: readonly ResolvedLora[]): LoraVariants {
    const opened = this.open(spec, loras);
    const files = componentFiles(spec);
    const byFile = new Map<string, ModelVariant>();
    for (const [component, file] of Object.entries(files) as [LoraComponent, string][]) {
      const variant = this.variant(spec, component, opened);
      if (variant) byFile.set(path.resolve(file), variant);
    }
    // A draft denoiser is a student of the same architecture: a draft gets the denoiser's LoRA layers.
    const denoiser = byFile.get(path.resolve(spec.files.denoiser));
    if (denoiser && spec.files.draftDenoiser) byFile.set(path.resolve(spec.files.draftDenoiser), denoiser);
    return { byFile, notes: () => this.notes(spec, opened, byFile) };
  }

  /** "tiny: 12 of 264 LoRA keys matched no weight of this model", one per LoRA that has such keys. */
  private notes(spec: ModelSpec, opened: readonly OpenLora[], byFile: Map<string, ModelVariant>): string[] {
    const files = componentFiles(spec);
    const notes: string[] = [];
    for (const o of opened) {
      let missed = o.contents.unreadKeys.length;
      for (const layer of o.contents.layers) if (!files[layer.component]) missed += layer.keys.length;
      // The denoiser and its draft share one variant (and their weights' names): counted once.
      const counted = new Map<ModelVariant, number>();
      for (const [file, variant] of byFile) {
        const count = this.unmatched.get(`${file}#${variant.name}`)?.get(o.lora.name) ?? 0;
        counted.set(variant, Math.max(counted.get(variant) ?? 0, count));
      }
      for (const count of counted.values()) missed += count;
      if (missed > 0)
        notes.push(
          `${o.lora.name}: ${missed} of ${o.contents.totalKeys} LoRA keys matched no weight of this model`,
        );
    }
    return notes;
  }
}

/** A request's LoRA variants, by resolved component file, and the notes for its result. */
export interface LoraVariants {
  readonly byFile: ReadonlyMap<string, ModelVariant>;
  /** Call after the sessions are loaded (the merge counts unmatched keys). */
  readonly notes: () => string[];
}

function familyMatches(family: FamilyId, hint: LoraFamilyHint): boolean {
  if (hint === 'unet') return family === 'sd' || family === 'sdxl';
  return hint === family;
}

function refuseOtherFamily(spec: ModelSpec, name: string, hint: LoraFamilyHint | undefined): void {
  if (!hint || familyMatches(spec.family, hint) || spec.family === 'flowbot') return;
  throw new UserError(
    ErrorCode.FlagValue,
    `The LoRA ${name} was made for ${FAMILY_NAMES[hint]}; ${spec.name} is ${FAMILY_NAMES[spec.family]}.`,
  );
}

function refuseUnmatched(
  spec: ModelSpec,
  name: string,
  component: LoraComponent,
  hint: LoraFamilyHint | undefined,
): never {
  const made = hint ? ` It was made for ${FAMILY_NAMES[hint]}` : ' It was made for another model';
  throw new UserError(
    ErrorCode.FlagValue,
    `The LoRA ${name} matches no weight of ${spec.name}'s ${component.replace('_', ' ')} (${spec.name} is ${FAMILY_NAMES[spec.family]}).${made}.`,
  );
}
