/**
 * Where LoRAs live and how a name becomes a file: `MODELS_DIR/loras/<name>.safetensors` for every
 * model, and `<model folder>/loras/<name>.safetensors` for that model only (it wins on a clash). A
 * LoRA name is a name, never a path: separators, `..` and anything outside a short alphabet are
 * refused before the file system is asked.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, UserError } from '../errors.js';
import { closest } from '../prompt/suggest.js';

/** A LoRA as a request names it. */
export interface LoraUse {
  readonly name: string;
  /** Strength; 1 by default, negative subtracts. */
  readonly weight: number;
}

/** A LoRA with the file it is read from. */
export interface ResolvedLora extends LoraUse {
  readonly file: string;
}

/** Letters, digits, `_`, `-`, `.` and `+`, not starting with a dot: a file name without its folder. */
const LORA_NAME = /^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,99}$/;
const EXTENSION = '.safetensors';

/** Refuses a name that is not a plain LoRA name (a path, `..`, odd characters). */
export function checkLoraName(name: string): void {
  if (/[\\/]/.test(name) || name.includes('..') || !LORA_NAME.test(name)) {
    throw new UserError(
      ErrorCode.FlagValue,
      `"${name.slice(0, 100)}" is not a LoRA name: use the name of a LoRA file (letters, digits, _ - . +), not a path.`,
    );
  }
}

function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(EXTENSION))
      .map((entry) => entry.name.slice(0, -EXTENSION.length))
      .filter((name) => LORA_NAME.test(name));
  } catch {
    return [];
  }
}

/** The LoRA files a host has. */
export class LoraLibrary {
  constructor(private readonly modelsDir: string) {}

  /** Names usable with a model folder (its own and the shared ones), sorted. */
  list(modelDir?: string): string[] {
    const names = new Set(namesIn(path.join(this.modelsDir, 'loras')));
    if (modelDir) for (const name of namesIn(path.join(modelDir, 'loras'))) names.add(name);
    return [...names].sort();
  }

  /** The file of a LoRA name for a model; an unknown name gets "Did you mean …?". */
  resolve(use: LoraUse, modelDir: string): ResolvedLora {
    checkLoraName(use.name);
    const own = path.join(modelDir, 'loras', use.name + EXTENSION);
    const shared = path.join(this.modelsDir, 'loras', use.name + EXTENSION);
    const file = existsSync(own) ? own : existsSync(shared) ? shared : undefined;
    if (file) return { ...use, file };
    const known = this.list(modelDir);
    const suggestion = closest(use.name, known);
    throw new UserError(
      ErrorCode.FlagValue,
      `There is no LoRA named "${use.name}" for ${path.basename(modelDir)}.` +
        (suggestion
          ? ` Did you mean ${suggestion}?`
          : known.length > 0
            ? ` Available: ${known.slice(0, 10).join(', ')}.`
            : ' No LoRAs are installed for it.'),
    );
  }
}
