/**
 * LoRAs in prompts, as people write them in A1111 and Forge: `<lora:name:0.8>` anywhere in the text
 * (`<lyco:…>` too), and `--lora name:0.8`, repeatable. The weight defaults to 1 and may be negative.
 */
import { ErrorCode, UserError } from '../errors.js';
import { checkLoraName, type LoraUse } from '../lora/library.js';
import { parseDecimal, valueError } from './flag-values.js';
import type { FlagSpec } from './param-types.js';

/** LoRAs one job may use at once. */
export const MAX_LORAS = 8;
/** The strengths accepted (A1111 takes any number; beyond ±4 an image is noise). */
const MAX_WEIGHT = 4;

const TAG = /<(?:lora|lyco):([^:>]*)(?::([^>]*))?>/gi;

/** Reads `name` or `name:weight`. */
export function parseLoraUse(value: string, flag = 'lora'): LoraUse | UserError {
  const [rawName = '', rawWeight, ...rest] = value.trim().split(':');
  const name = rawName.trim();
  if (name === '' || rest.length > 0) {
    return new UserError(
      ErrorCode.FlagValue,
      `Expected a LoRA as name or name:weight for --${flag} but received "${value.slice(0, 100)}"`,
    );
  }
  try {
    checkLoraName(name);
  } catch (error) {
    return error as UserError;
  }
  if (rawWeight === undefined || rawWeight.trim() === '') return { name, weight: 1 };
  const text = rawWeight.trim();
  const negative = text.startsWith('-');
  const magnitude = parseDecimal(flag, negative ? text.slice(1) : text, 0, MAX_WEIGHT);
  if (magnitude instanceof UserError)
    return valueError(flag, `a weight from −${MAX_WEIGHT} to ${MAX_WEIGHT} after "${name}:"`, text);
  return { name, weight: negative ? -magnitude : magnitude };
}

/** Adds a LoRA to the list, refusing more than {@link MAX_LORAS} and the same name twice. */
export function addLora(list: readonly LoraUse[] | undefined, use: LoraUse): LoraUse[] | UserError {
  const loras = [...(list ?? [])];
  if (loras.some((l) => l.name === use.name)) {
    return new UserError(ErrorCode.FlagRepeated, `The LoRA ${use.name} is given twice; keep one.`);
  }
  if (loras.length >= MAX_LORAS) {
    return new UserError(ErrorCode.FlagValue, `At most ${MAX_LORAS} LoRAs at once, please.`);
  }
  loras.push(use);
  return loras;
}

/** Takes `<lora:name:w>` tags out of prompt text: the text without them and the LoRAs they name. */
export function extractLoraTags(text: string): { text: string; loras: LoraUse[] } | UserError {
  let loras: LoraUse[] = [];
  for (const match of text.matchAll(TAG)) {
    const use = parseLoraUse(match[2] === undefined ? match[1]! : `${match[1]}:${match[2]}`);
    if (use instanceof UserError) return use;
    const added = addLora(loras, use);
    if (added instanceof UserError) return added;
    loras = added;
  }
  if (loras.length === 0) return { text, loras };
  return {
    text: text
      .replace(TAG, ' ')
      .replace(/\s+/g, ' ')
      .replace(/\s+([,.;])/g, '$1')
      .trim(),
    loras,
  };
}

/** `--lora name:weight`, repeatable. */
export const LORA_FLAG: FlagSpec = {
  name: 'lora',
  aliases: ['loras'],
  multiWord: false,
  expected: 'name:weight',
  apply: (value, draft) => {
    const use = parseLoraUse(value);
    if (use instanceof UserError) return use;
    const added = addLora(draft.loras, use);
    if (added instanceof UserError) return added;
    draft.loras = added;
    return undefined;
  },
};

/** The LoRAs as flags, for formatPrompt. */
export function formatLoraFlags(loras: readonly LoraUse[] | undefined): string[] {
  return (loras ?? []).map((l) => `--lora ${l.name}:${l.weight}`);
}
