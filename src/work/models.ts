/**
 * The model folders under MODELS_DIR, by name. Both the front-end (for limits and `--model` checks) and
 * every worker (to run jobs) resolve models through this registry.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, UserError } from '../errors.js';
import { createLogger } from '../log.js';
import { LoraLibrary } from '../lora/library.js';
import { loadModelSpec, loadUpscalerSpec, type ModelSpec, type UpscalerSpec } from '../pipeline/model.js';

const log = createLogger('models');

/** Resolves model folders by name, caching their specs. */
export class ModelRegistry {
  private readonly cache = new Map<string, ModelSpec>();
  private upscalerSpec: UpscalerSpec | null | undefined;
  /** The LoRA files under MODELS_DIR/loras and each model folder's loras/. */
  readonly loras: LoraLibrary;

  constructor(
    private readonly modelsDir: string,
    private readonly upscalerName: string,
  ) {
    this.loras = new LoraLibrary(modelsDir);
  }

  /** LoRA names usable with a model (its own and the shared ones). */
  loraNames(model: string): string[] {
    return this.loras.list(path.join(this.modelsDir, model));
  }

  /** The model folder `name`; a friendly error when there is none. */
  get(name: string): ModelSpec {
    let spec = this.cache.get(name);
    if (!spec) {
      try {
        spec = loadModelSpec(path.join(this.modelsDir, name));
      } catch (error) {
        throw new UserError(
          ErrorCode.ModelInvalid,
          `The model "${name}" is not available (${(error as Error).message}).`,
        );
      }
      this.cache.set(name, spec);
    }
    return spec;
  }

  /** Names of the model folders that load (for --model checks and autocomplete). */
  list(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.modelsDir, { withFileTypes: true })
        .filter(
          (entry) =>
            entry.isDirectory() &&
            ['model.json', 'model_index.json'].some((f) =>
              existsSync(path.join(this.modelsDir, entry.name, f)),
            ),
        )
        .map((entry) => entry.name);
    } catch {
      names = [];
    }
    return names.sort();
  }

  /** True when a model folder named `name` is here. */
  has(name: string): boolean {
    return this.list().includes(name);
  }

  /** The super-resolution model, or null for the Lanczos fallback. */
  upscaler(): UpscalerSpec | null {
    if (this.upscalerSpec === undefined) {
      try {
        this.upscalerSpec = loadUpscalerSpec(path.join(this.modelsDir, this.upscalerName));
      } catch {
        log.info('no super-resolution model; upscales use Lanczos', {
          folder: path.join(this.modelsDir, this.upscalerName),
        });
        this.upscalerSpec = null;
      }
    }
    return this.upscalerSpec;
  }
}
