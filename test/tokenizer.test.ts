import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../src/pipeline/clip-bpe.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const tokenizer = ClipTokenizer.fromFiles(
  path.join(fixtures, 'clip/vocab.json'),
  path.join(fixtures, 'clip/merges.txt'),
);
const vectors = JSON.parse(
  readFileSync(path.join(fixtures, 'vectors/clip-tokenizer-vectors.json'), 'utf8'),
) as {
  cases: { text: string; ids: number[] }[];
};

describe('ClipTokenizer', () => {
  for (const { text, ids } of vectors.cases) {
    it(`reproduces OpenAI CLIP for ${JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text)}`, () => {
      expect(tokenizer.encode(text)).toEqual(ids);
    });
  }

  it('pads with the end token and truncates to 77, keeping the end token', () => {
    const short = tokenizer.encodePadded('a photo of a cat');
    expect(short).toHaveLength(77);
    expect(short.slice(0, 7)).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    expect(short.slice(7).every((id) => id === 49407)).toBe(true);
    const long = tokenizer.encodePadded('hello world '.repeat(60));
    expect(long).toHaveLength(77);
    expect(long[0]).toBe(49406);
    expect(long[76]).toBe(49407);
    expect(tokenizer.encodePadded('a cat', 77, 0).slice(4, 6)).toEqual([0, 0]);
  });

  it('names a missing file', () => {
    expect(() => ClipTokenizer.fromFiles('/nonexistent/vocab.json', 'x')).toThrow(
      /Cannot read the tokenizer vocabulary \/nonexistent\/vocab.json/,
    );
  });
});
