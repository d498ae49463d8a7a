/**
 * What a prompt's parameters are and how a flag is described: the types the prompt parser (params.ts)
 * and the toolkit's flags (toolkit-flags.ts) share, in a module of their own so that neither imports
 * the other in a circle.
 */
import type { UserError } from '../errors.js';
import type { LoraUse } from '../lora/library.js';

/** Schedulers a user may name with `--scheduler`. */
export const SCHEDULER_NAMES = [
  'euler',
  'euler_a',
  'ddim',
  'dpmpp_2m',
  'dpmpp_2m_karras',
  'lcm',
  'flow_euler',
] as const;
/** One of {@link SCHEDULER_NAMES}. */
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** Limits on numeric flags; admins may tighten them (the commands layer passes its own). */
export interface ParamLimits {
  readonly maxSteps: number;
  readonly maxN: number;
  readonly maxSide: number;
  readonly maxPromptLength: number;
}

/** The limits used when the caller passes none. */
export const DEFAULT_LIMITS: ParamLimits = { maxSteps: 150, maxN: 4, maxSide: 2048, maxPromptLength: 1500 };

/** What a prompt says. Absent fields mean "use the default" (settings, model manifest). */
export interface PromptParams {
  readonly prompt: string;
  readonly negativePrompt?: string;
  readonly aspectRatio?: { readonly width: number; readonly height: number };
  readonly size?: { readonly width: number; readonly height: number };
  readonly seed?: number;
  readonly steps?: number;
  readonly guidance?: number;
  readonly n?: number;
  readonly strength?: number;
  readonly model?: string;
  readonly scheduler?: SchedulerName;
  readonly style?: string;
  /** 0–100: how different the images of a grid are from each other (`--chaos`). */
  readonly chaos?: number;
  /** 1–8: the same prompt this many times, each with its own seed (`--repeat`). */
  readonly repeat?: number;
  /** Seamless tiles: every edge wraps around (`--tile`). */
  readonly tile?: boolean;
  /** The model's fastest good setting, with an Enhance button for the full image (`--draft`). */
  readonly draft?: boolean;
  /** LoRAs and their weights (`<lora:name:0.8>` in the text, `--lora name:0.8`). */
  readonly loras?: readonly LoraUse[];
  /** 0–2: how much an attached image guides the result (`--iw`, Midjourney's image weight). */
  readonly imageWeight?: number;
}

/** Options of {@link parsePrompt}. */
export interface ParseOptions {
  readonly limits?: Partial<ParamLimits>;
  /** Allow an empty prompt (replies that only change parameters, such as "--seed 4"). */
  readonly allowEmptyPrompt?: boolean;
  /** Model names that exist; when given, `--model` must be one of them. */
  readonly models?: readonly string[];
  /** Style names that exist; when given, `--style` must be one of them. */
  readonly styles?: readonly string[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** The parameters read so far, which each flag's `apply` fills in. */
export type ParamsDraft = Mutable<Omit<PromptParams, 'prompt'>>;
type Apply = (value: string, draft: ParamsDraft, context: FlagContext) => UserError | undefined;

/** What a flag's `apply` may consult. */
export interface FlagContext {
  readonly limits: ParamLimits;
  readonly options: ParseOptions;
}

/** One flag: its names, how many words its value takes, and how it sets the parameters. */
export interface FlagSpec {
  readonly name: string;
  readonly aliases: readonly string[];
  /** Multi-word values take every word up to the next flag; single values take one word. */
  readonly multiWord: boolean;
  /** False for switches such as --tile: every word after them belongs to the prompt. */
  readonly takesValue?: false;
  readonly expected: string;
  readonly apply: Apply;
}
