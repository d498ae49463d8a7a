/**
 * Permutation prompts, as Midjourney writes them: `a {red, blue} car` is two prompts, "a red car" and
 * "a blue car". Several groups multiply (`{a, b} {c, d}` is four), groups nest (`{a {b, c}, d}` is
 * "a b", "a c" and "d"), and `\{`, `\}` and `\,` are literal characters. The count is known before
 * anything is expanded, so a prompt that would make thousands of jobs is refused without building them.
 */
import { ErrorCode, UserError } from '../errors.js';
import { err, ok, type Result } from '../result.js';

/** A run of literal text, or a group of options (each a sequence of pieces). */
type Piece = string | { readonly options: readonly (readonly Piece[])[] };

/** Groups nested deeper than this are refused (a prompt is at most a few thousand characters). */
const MAX_DEPTH = 8;
/** Counts stop growing here, so a huge product stays a finite number in messages. */
const COUNT_CAP = 1_000_000;

class Reader {
  private index = 0;
  constructor(private readonly text: string) {}

  /** Pieces up to the end, or (inside a group) up to the `,` or `}` that ends this option. */
  pieces(depth: number): Piece[] {
    const out: Piece[] = [];
    let literal = '';
    while (this.index < this.text.length) {
      const char = this.text[this.index]!;
      if (char === '\\' && '{},'.includes(this.text[this.index + 1] ?? '')) {
        literal += this.text[this.index + 1];
        this.index += 2;
      } else if (char === '{') {
        if (literal) out.push(literal);
        literal = '';
        this.index++;
        out.push(this.group(depth + 1));
      } else if (depth > 0 && (char === ',' || char === '}')) {
        break;
      } else if (char === '}') {
        throw unbalanced('A } in the prompt has no opening {.');
      } else {
        literal += char;
        this.index++;
      }
    }
    if (literal) out.push(literal);
    return out;
  }

  private group(depth: number): Piece {
    if (depth > MAX_DEPTH) {
      throw new UserError(
        ErrorCode.PromptInvalid,
        `Permutation groups { } nest at most ${MAX_DEPTH} deep in one prompt.`,
      );
    }
    const options: Piece[][] = [];
    for (;;) {
      options.push(this.pieces(depth));
      const next = this.text[this.index];
      this.index++;
      if (next === '}') return { options };
      if (next !== ',') throw unbalanced('A { in the prompt has no closing }.');
    }
  }
}

function unbalanced(what: string): UserError {
  return new UserError(
    ErrorCode.PromptInvalid,
    `${what} Options go in braces, like {red, blue} car; write \\{ or \\} for a literal brace.`,
  );
}

function parse(text: string): Result<Piece[], UserError> {
  try {
    return ok(new Reader(text).pieces(0));
  } catch (error) {
    if (error instanceof UserError) return err(error);
    throw error;
  }
}

function countOf(pieces: readonly Piece[]): number {
  let product = 1;
  for (const piece of pieces) {
    if (typeof piece === 'string') continue;
    const options = piece.options.reduce((sum, option) => sum + countOf(option), 0);
    product = Math.min(COUNT_CAP, product * options);
  }
  return product;
}

function expand(pieces: readonly Piece[]): string[] {
  let prompts = [''];
  for (const piece of pieces) {
    const endings = typeof piece === 'string' ? [piece] : piece.options.flatMap(expand);
    prompts = prompts.flatMap((start) => endings.map((ending) => start + ending));
  }
  return prompts;
}

/** How many prompts `text` expands to (1 without groups); an error for unbalanced braces. */
export function countPermutations(text: string): Result<number, UserError> {
  const pieces = parse(text);
  return pieces.ok ? ok(countOf(pieces.value)) : pieces;
}

/**
 * The prompts `text` expands to, in order (the first group varies slowest), with runs of spaces left by
 * empty options collapsed. Refused with the count when it makes more than `max`.
 */
export function expandPermutations(text: string, max: number): Result<string[], UserError> {
  const pieces = parse(text);
  if (!pieces.ok) return pieces;
  const count = countOf(pieces.value);
  if (count > max) {
    const shown = count >= COUNT_CAP ? `over ${COUNT_CAP.toLocaleString('en')}` : String(count);
    return err(
      new UserError(
        ErrorCode.FlagValue,
        `That prompt expands to ${shown} prompts; at most ${max} are allowed here at once.`,
        { count, max },
      ),
    );
  }
  const hasGroups = pieces.value.some((piece) => typeof piece !== 'string');
  const prompts = expand(pieces.value);
  return ok(hasGroups ? prompts.map((p) => p.replace(/[ \t]+/g, ' ').trim()) : prompts);
}
