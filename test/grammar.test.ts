import { describe, expect, it } from 'vitest';
import { interpretReply } from '../commands/grammar.js';

/** A corpus of reply phrasings and what they must mean: [reply, expected cell, expected meaning (partial)]. */
const CORPUS: [string, number | undefined, Record<string, unknown>][] = [
  // refine: make it / more / less / style / as a
  ['make it night', undefined, { kind: 'refine', phrase: 'night', mode: 'append' }],
  ['Make it snowy.', undefined, { kind: 'refine', phrase: 'snowy', mode: 'append' }],
  ['make it more colorful', undefined, { kind: 'refine', phrase: 'more colorful' }],
  ['turn it into a painting', undefined, { kind: 'refine', phrase: 'a painting' }],
  ['change it to winter', undefined, { kind: 'refine', phrase: 'winter' }],
  ['now at sunset', undefined, { kind: 'refine', phrase: 'at sunset' }],
  ['more dramatic', undefined, { kind: 'refine', phrase: 'more dramatic' }],
  ['much more detail', undefined, { kind: 'refine', phrase: 'much more detail' }],
  ['less saturated', undefined, { kind: 'refine', phrase: 'less saturated' }],
  ['a bit less busy', undefined, { kind: 'refine', phrase: 'a bit less busy' }],
  ['watercolor style', undefined, { kind: 'refine', phrase: 'in watercolor style' }],
  ['in 3d style', undefined, { kind: 'refine', phrase: 'in 3d style' }],
  ['pixel art style', undefined, { kind: 'refine', phrase: 'in pixel art style' }],
  ['as a cat', undefined, { kind: 'refine', phrase: 'as a cat' }],
  ['as an oil painting', undefined, { kind: 'refine', phrase: 'as an oil painting' }],
  // add / with
  ['add a moon', undefined, { kind: 'refine', phrase: 'a moon', mode: 'append' }],
  ['add some stars', undefined, { kind: 'refine', phrase: 'some stars' }],
  ['with a red hat', undefined, { kind: 'refine', phrase: 'with a red hat' }],
  ['plus a dog', undefined, { kind: 'refine', phrase: 'with a dog' }],
  ['include a rainbow', undefined, { kind: 'refine', phrase: 'a rainbow' }],
  ['put a bird on it', undefined, { kind: 'refine', phrase: 'a bird on it' }],
  // remove / without / no
  ['remove the boat', undefined, { kind: 'refine', phrase: 'boat', mode: 'negative' }],
  ['without people', undefined, { kind: 'refine', phrase: 'people', mode: 'negative' }],
  ['no text', undefined, { kind: 'refine', phrase: 'text', mode: 'negative' }],
  ['get rid of the clouds', undefined, { kind: 'refine', phrase: 'clouds', mode: 'negative' }],
  ['delete the watermark', undefined, { kind: 'refine', phrase: 'watermark', mode: 'negative' }],
  ['drop the background', undefined, { kind: 'refine', phrase: 'background', mode: 'negative' }],
  ['--no blur', undefined, { kind: 'refine', phrase: 'blur', mode: 'negative' }],
  // regions
  ['in the top left: add a moon', undefined, { kind: 'inpaint', region: 'top left', prompt: 'a moon' }],
  ['in the bottom half: water', undefined, { kind: 'inpaint', region: 'bottom half', prompt: 'water' }],
  ['in the centre: a lighthouse', undefined, { kind: 'inpaint', region: 'centre', prompt: 'a lighthouse' }],
  ['on the left side, a tree', undefined, { kind: 'inpaint', region: 'left side', prompt: 'a tree' }],
  ['in A1: a sun', undefined, { kind: 'inpaint', region: 'A1', prompt: 'a sun' }],
  ['in B2 C2: flowers', undefined, { kind: 'inpaint', region: 'B2 C2', prompt: 'flowers' }],
  [
    'in x 10-40% y 0-30%: a kite',
    undefined,
    { kind: 'inpaint', region: 'x 10-40% y 0-30%', prompt: 'a kite' },
  ],
  ['in the border: ivy', undefined, { kind: 'inpaint', region: 'border', prompt: 'ivy' }],
  ['at the top: draw birds', undefined, { kind: 'inpaint', region: 'top', prompt: 'birds' }],
  ['replace the sky with fireworks', undefined, { kind: 'inpaint', region: 'sky', prompt: 'fireworks' }],
  [
    'replace the top right with a moon',
    undefined,
    { kind: 'inpaint', region: 'top right', prompt: 'a moon' },
  ],
  ['fill the bottom third with sand', undefined, { kind: 'inpaint', region: 'bottom third', prompt: 'sand' }],
  ['same mask: a sun', undefined, { kind: 'same_mask', prompt: 'a sun' }],
  ['same mask', undefined, { kind: 'same_mask', prompt: '' }],
  ['same region, a cloud', undefined, { kind: 'same_mask', prompt: 'a cloud' }],
  // parameters
  ['seed 42', undefined, { kind: 'params', changes: { seed: 42 } }],
  ['use seed 7', undefined, { kind: 'params', changes: { seed: 7 } }],
  ['--seed 9', undefined, { kind: 'params', changes: { seed: 9 } }],
  ['--ar 16:9', undefined, { kind: 'params', changes: { aspectRatio: { width: 16, height: 9 } } }],
  ['ar 3:2', undefined, { kind: 'params', changes: { aspectRatio: { width: 3, height: 2 } } }],
  ['aspect ratio 1:1', undefined, { kind: 'params', changes: { aspectRatio: { width: 1, height: 1 } } }],
  ['12 steps', undefined, { kind: 'params', changes: { steps: 12 } }],
  ['steps 20', undefined, { kind: 'params', changes: { steps: 20 } }],
  ['--steps 6 --cfg 5', undefined, { kind: 'params', changes: { steps: 6, guidance: 5 } }],
  ['stronger', undefined, { kind: 'params', changes: { strengthDelta: 0.15 } }],
  ['more change', undefined, { kind: 'params', changes: { strengthDelta: 0.15 } }],
  ['subtler', undefined, { kind: 'params', changes: { strengthDelta: -0.15 } }],
  ['more subtle', undefined, { kind: 'params', changes: { strengthDelta: -0.15 } }],
  ['less change', undefined, { kind: 'params', changes: { strengthDelta: -0.15 } }],
  ['wider', undefined, { kind: 'params', changes: { widen: 'wider' } }],
  ['make it wider', undefined, { kind: 'params', changes: { widen: 'wider' } }],
  ['taller', undefined, { kind: 'params', changes: { widen: 'taller' } }],
  // operations
  ['upscale', undefined, { kind: 'upscale', scale: 2 }],
  ['upscale x4', undefined, { kind: 'upscale', scale: 4 }],
  ['upscale it 4x', undefined, { kind: 'upscale', scale: 4 }],
  ['enlarge', undefined, { kind: 'upscale', scale: 2 }],
  ['make it bigger', undefined, { kind: 'upscale', scale: 2 }],
  ['again', undefined, { kind: 'reroll' }],
  ['reroll', undefined, { kind: 'reroll' }],
  ['one more', undefined, { kind: 'reroll' }],
  ['try again', undefined, { kind: 'reroll' }],
  ['variations', undefined, { kind: 'variations' }],
  ['more like this', undefined, { kind: 'variations' }],
  ['subtle variations', undefined, { kind: 'variations', strength: 'subtle' }],
  ['strong variation', undefined, { kind: 'variations', strength: 'strong' }],
  ['undo', undefined, { kind: 'undo' }],
  ['back', undefined, { kind: 'undo' }],
  ['go back', undefined, { kind: 'undo' }],
  // grid cells
  ['#2 make it night', 2, { kind: 'refine', phrase: 'night' }],
  ['2: upscale', 2, { kind: 'upscale' }],
  ['#4', 4, { kind: 'upscale' }],
  ['3', 3, { kind: 'upscale' }],
  ['U3 upscale x4', 3, { kind: 'upscale', scale: 4 }],
  ['V1 variations', 1, { kind: 'variations' }],
  ['bottom left: remove the tree', 3, { kind: 'refine', phrase: 'tree', mode: 'negative' }],
  ['the top right one, again', 2, { kind: 'reroll' }],
  ['top left', 1, { kind: 'upscale' }],
  ['#1 in the top left: a moon', 1, { kind: 'inpaint', region: 'top left', prompt: 'a moon' }],
  ['cell 2 seed 5', 2, { kind: 'params', changes: { seed: 5 } }],
  // anything else refines with the text
  ['a lighthouse in the fog', undefined, { kind: 'refine', phrase: 'a lighthouse in the fog', rule: 'text' }],
  ['golden hour lighting', undefined, { kind: 'refine', phrase: 'golden hour lighting', rule: 'text' }],
  ['3 cats', undefined, { kind: 'refine', phrase: '3 cats', rule: 'text' }],
  ['<@123> make it blue', undefined, { kind: 'refine', phrase: 'blue' }],
  // errors
  ['--sed 4', undefined, { kind: 'error' }],
  ['', undefined, { kind: 'error' }],
];

describe('reply grammar corpus', () => {
  it(`has at least 80 phrasings (${CORPUS.length})`, () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(80);
  });

  it.each(CORPUS)('%j', (reply, cell, expected) => {
    const result = interpretReply(reply);
    expect(result.cell).toBe(cell);
    expect(result.meaning).toMatchObject(expected);
  });
});
