/**
 * Which of many words a text contains as whole words, in one pass over the text (an Aho–Corasick
 * automaton over UTF-16 code units). The work is linear in the text plus the occurrences reported — at
 * most the longest word's length per character — however many words there are, so a long list cannot
 * slow a prompt down the way one search per word can.
 *
 * "Whole word" is judged per side: a side of the word that is a letter or digit must not continue a
 * longer word there (`gore` is not in `gorey`), while a side that is a symbol needs no boundary (`c++`
 * in `c++,`, `🍆` in `a🍆`). Letters and digits are Unicode's (\p{L}, \p{N}), not just ASCII's `\w`.
 */

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const STARTS_WITH_LETTER_OR_DIGIT = /^[\p{L}\p{N}]/u;
const ENDS_WITH_LETTER_OR_DIGIT = /[\p{L}\p{N}]$/u;

/** For each code-unit position: does a letter or digit start there, and does one end just before it. */
interface Boundaries {
  readonly startsAt: Uint8Array;
  readonly endsBefore: Uint8Array;
}

function boundariesOf(text: string): Boundaries {
  const startsAt = new Uint8Array(text.length + 1);
  const endsBefore = new Uint8Array(text.length + 1);
  let at = 0;
  for (const char of text) {
    const isLetterOrDigit = LETTER_OR_DIGIT.test(char) ? 1 : 0;
    startsAt[at] = isLetterOrDigit;
    at += char.length;
    endsBefore[at] = isLetterOrDigit;
  }
  return { startsAt, endsBefore };
}

/** A set of words, compiled once, searched for as whole words in any number of texts. */
export class WordSet {
  /** Per distinct word: the indices (in the constructor's list) it stands for, its length, its sides. */
  private readonly indicesOf: number[][] = [];
  private readonly lengths: number[] = [];
  private readonly boundedStart: boolean[] = [];
  private readonly boundedEnd: boolean[] = [];
  /** Trie edges by code unit; node 0 is the root. */
  private readonly edges: Map<number, number>[] = [new Map()];
  /** The node for the longest proper suffix of a node's path that is also a path in the trie. */
  private readonly fail: number[] = [0];
  /** The distinct word that ends at a node (−1: none). */
  private readonly ending: number[] = [-1];
  /** The nearest node along the fail links at which a word ends (−1: none), to report suffix words. */
  private readonly nextEnding: number[] = [-1];

  constructor(words: readonly string[]) {
    words.forEach((word, index) => {
      if (word !== '') this.add(word, index);
    });
    this.link();
  }

  /** The indices of the words `text` contains as whole words, ascending. */
  find(text: string): number[] {
    const found = new Uint8Array(this.indicesOf.length);
    const { startsAt, endsBefore } = boundariesOf(text);
    const { ending, nextEnding, lengths, boundedStart, boundedEnd } = this;
    let node = 0;
    for (let end = 1; end <= text.length; end++) {
      node = this.step(node, text.charCodeAt(end - 1));
      // Every word ending here: the node's own, then those along the fail links.
      for (let at = ending[node] !== -1 ? node : nextEnding[node]!; at !== -1; at = nextEnding[at]!) {
        const word = ending[at]!;
        const clearBefore = !boundedStart[word] || !endsBefore[end - lengths[word]!];
        if (!found[word] && clearBefore && (!boundedEnd[word] || !startsAt[end])) found[word] = 1;
      }
    }
    return this.indicesOf
      .filter((_, word) => found[word])
      .flat()
      .sort((a, b) => a - b);
  }

  private add(word: string, index: number): void {
    const node = this.insert(word);
    const known = this.ending[node]!;
    if (known !== -1) {
      this.indicesOf[known]!.push(index);
      return;
    }
    this.ending[node] = this.indicesOf.length;
    this.indicesOf.push([index]);
    this.lengths.push(word.length);
    this.boundedStart.push(STARTS_WITH_LETTER_OR_DIGIT.test(word));
    this.boundedEnd.push(ENDS_WITH_LETTER_OR_DIGIT.test(word));
  }

  private step(from: number, unit: number): number {
    let node = from;
    while (node !== 0 && !this.edges[node]!.has(unit)) node = this.fail[node]!;
    return this.edges[node]!.get(unit) ?? 0;
  }

  private insert(word: string): number {
    let node = 0;
    for (let i = 0; i < word.length; i++) {
      const unit = word.charCodeAt(i);
      let child = this.edges[node]!.get(unit);
      if (child === undefined) {
        child = this.edges.length;
        this.edges.push(new Map());
        this.fail.push(0);
        this.ending.push(-1);
        this.nextEnding.push(-1);
        this.edges[node]!.set(unit, child);
      }
      node = child;
    }
    return node;
  }

  /** Sets the fail and next-ending links breadth-first, so a node's links are set before its children's. */
  private link(): void {
    const queue = [...this.edges[0]!.values()];
    for (let head = 0; head < queue.length; head++) {
      const node = queue[head]!;
      for (const [unit, child] of this.edges[node]!) {
        // fail[node] is shallower than node, so this never lands on child itself.
        const suffix = this.step(this.fail[node]!, unit);
        this.fail[child] = suffix;
        this.nextEnding[child] = this.ending[suffix] !== -1 ? suffix : this.nextEnding[suffix]!;
        queue.push(child);
      }
    }
  }
}
