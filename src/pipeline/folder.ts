/**
 * Reading model folders: JSON configs, ONNX component files (with their weights possibly in external
 * data beside them) and tokenizer folders, each failure naming the file that is wrong.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, FlowbotError } from '../errors.js';

/** Where a model folder's tokenizer lives and how its sequences are padded. */
export type TokenizerSpec =
  | {
      readonly kind: 'clip';
      readonly vocab: string;
      readonly merges: string;
      readonly maxLength: number;
      /** The pad token ("<|endoftext|>" for CLIP-L, "!" for SDXL's and SD3's CLIP-G), or its id. */
      readonly pad: string | number;
    }
  | {
      /** A `tokenizer.json` (T5's Unigram, MiniLM's WordPiece) read by @huggingface/tokenizers. */
      readonly kind: 'json';
      readonly file: string;
      readonly config: string | undefined;
      readonly maxLength: number;
      readonly pad: string | number;
    };

/** An error about one file of a model folder. */
export function folderError(file: string, problem: string): FlowbotError {
  return new FlowbotError(ErrorCode.ModelInvalid, `${file}: ${problem}`);
}

/** Parses a JSON file, naming it when it is missing or broken. */
export function readJson(file: string): unknown {
  if (!existsSync(file)) throw folderError(file, 'missing');
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw folderError(file, `not valid JSON (${(error as Error).message})`);
  }
}

/** The path, which must exist. */
export function requireFile(file: string): string {
  if (!existsSync(file)) throw folderError(file, 'missing');
  return file;
}

/** A JSON config as a plain record (an absent or non-object file reads as empty). */
export type Config = Readonly<Record<string, unknown>>;

function asConfig(value: unknown): Config {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Config) : {};
}

/** A number from a config, or the fallback. */
export function numberIn(config: Config, key: string, fallback: number): number {
  const value = config[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/**
 * Hugging Face optimum's ONNX export of a diffusers pipeline: `model_index.json` plus one folder per
 * component (`text_encoder/model.onnx`, `unet/config.json`, `tokenizer/…`, `scheduler/…`).
 */
export class DiffusersFolder {
  readonly dir: string;
  readonly name: string;
  readonly index: Config;

  constructor(dir: string) {
    this.dir = dir;
    this.name = path.basename(dir);
    this.index = asConfig(readJson(path.join(dir, 'model_index.json')));
  }

  /** `_class_name` of model_index.json (the diffusers pipeline class). */
  get pipelineClass(): string {
    const value = this.index._class_name;
    return typeof value === 'string' ? value : '';
  }

  /** `<component>/model.onnx`, which must exist. */
  onnx(component: string): string {
    return requireFile(path.join(this.dir, component, 'model.onnx'));
  }

  /** `<component>/model.onnx` when the folder has it. */
  optionalOnnx(component: string): string | undefined {
    const file = path.join(this.dir, component, 'model.onnx');
    return existsSync(file) ? file : undefined;
  }

  /** A component's `config.json` (first of the names given that exists), or an empty config. */
  config(...components: string[]): Config {
    for (const component of components) {
      const file = path.join(this.dir, component, 'config.json');
      if (existsSync(file)) return asConfig(readJson(file));
    }
    return {};
  }

  /** `scheduler/scheduler_config.json`. */
  schedulerConfig(): Config & { readonly _class_name?: string } {
    return asConfig(readJson(path.join(this.dir, 'scheduler', 'scheduler_config.json')));
  }

  /**
   * A tokenizer folder: CLIP's `vocab.json` + `merges.txt` when present, else `tokenizer.json`. The pad
   * token and the length come from `tokenizer_config.json` unless the family fixes them.
   */
  tokenizer(component: string, options: { maxLength?: number; pad?: string } = {}): TokenizerSpec {
    const dir = path.join(this.dir, component);
    const configFile = path.join(dir, 'tokenizer_config.json');
    const config = existsSync(configFile) ? asConfig(readJson(configFile)) : {};
    const padValue = config.pad_token;
    const configPad =
      typeof padValue === 'string'
        ? padValue
        : typeof (padValue as { content?: unknown } | undefined)?.content === 'string'
          ? (padValue as { content: string }).content
          : undefined;
    const vocab = path.join(dir, 'vocab.json');
    const merges = path.join(dir, 'merges.txt');
    if (existsSync(vocab) && existsSync(merges)) {
      return {
        kind: 'clip',
        vocab,
        merges,
        maxLength: options.maxLength ?? Math.min(numberIn(config, 'model_max_length', 77), 77),
        pad: options.pad ?? configPad ?? '<|endoftext|>',
      };
    }
    const json = path.join(dir, 'tokenizer.json');
    if (!existsSync(json)) {
      throw folderError(dir, 'missing a tokenizer: expected vocab.json and merges.txt, or tokenizer.json');
    }
    return {
      kind: 'json',
      file: json,
      config: existsSync(configFile) ? configFile : undefined,
      maxLength: options.maxLength ?? numberIn(config, 'model_max_length', 77),
      pad: options.pad ?? configPad ?? '<pad>',
    };
  }
}
