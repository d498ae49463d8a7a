/**
 * The prompt as the text encoders read it, folded so that spellings the model cannot tell apart compare
 * equal. The blocklist matches this text, not what was typed: `a &#103;ore scene`, `ｇｏｒｅ` and
 * `g\u200Bore` all reach the model as "gore".
 */
import { clipClean } from '../pipeline/clip-bpe.js';
import { plainPrompt } from './weights.js';

/**
 * Characters with no visible form that tokenizers drop or that split a word without showing:
 * zero-width space, (non-)joiners, word joiner, BOM, soft hyphen, variation selectors, bidi controls,
 * tag characters (Unicode's Default_Ignorable_Code_Point).
 */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * The text the encoders see — weighting syntax dropped, HTML entities unescaped twice and whitespace
 * collapsed, exactly as the CLIP tokenizer does (`clipClean`) — then NFKC-normalised (full-width and
 * compatibility forms to their plain letters), without invisible characters, in lower case.
 */
export function foldForMatching(prompt: string): string {
  return clipClean(plainPrompt(prompt))
    .normalize('NFKC')
    .toLowerCase()
    .replace(INVISIBLE, '')
    .replace(/\s+/g, ' ')
    .trim();
}
