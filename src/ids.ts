import { randomInt } from 'node:crypto';

/** Letters and digits that cannot be mistaken for one another when typed (no 0/o, 1/l/i). */
const ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';

/** A short, human-typable random id such as `k7fq2m`. Callers check uniqueness where it matters. */
export function shortId(length = 6): string {
  let id = '';
  for (let i = 0; i < length; i++) id += ALPHABET[randomInt(ALPHABET.length)];
  return id;
}

/** True when `text` has the shape of an id made by {@link shortId}. */
export function isShortId(text: string): boolean {
  return /^[2-9a-hjkmnp-z]{4,12}$/.test(text);
}
