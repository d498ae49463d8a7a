import { describe, expect, it } from 'vitest';
import { interpretReply, stripFraming } from '../commands/grammar.js';
import { rewritePrompt } from '../commands/rewrite.js';

/** The prompt every corpus entry is a reply to. */
const PROMPT = 'a red apple';
const NEGATIVE = 'worms';

type Entry = [reply: string, cell: number | undefined, meaning: Record<string, unknown>, prompt?: string];

/**
 * Reply phrasings, each with the intent it must be read as and, for prompt edits, the prompt it leads
 * to from "a red apple" (negative "worms"); `-x` as the prompt means "x" joins the negative prompt.
 */
const CORPUS: Entry[] = [
  // The table of issue #13: what people meant.
  ['change the apple to a pear', undefined, { kind: 'substitute', from: 'apple', to: 'pear' }, 'a red pear'],
  ['what seed is this?', undefined, { kind: 'question', topic: 'seed' }],
  ['give me more like this', undefined, { kind: 'variations' }],
  ['zoom out', undefined, { kind: 'zoom', what: 'zoom out', outpaint: { kind: 'zoom', factor: 1.5 } }],
  ['darker', undefined, { kind: 'exact', edit: { op: 'brightness', factor: 0.75 } }],
  ['less red please', undefined, { kind: 'weight', term: 'red', factor: 0.7 }, 'a (red:0.7) apple'],
  ['can you make the background blue', undefined, { kind: 'background', prompt: 'a blue background' }],
  ['make it bigger', undefined, { kind: 'upscale', scale: 2 }],
  ['remove the leaf', undefined, { kind: 'refine', phrase: 'leaf', mode: 'negative' }, '-leaf'],
  // refine: make it / style / as a
  ['make it night', undefined, { kind: 'refine', phrase: 'night', mode: 'append' }, 'a red apple, night'],
  ['Make it snowy.', undefined, { kind: 'refine', phrase: 'snowy' }, 'a red apple, snowy'],
  ['turn it into a painting', undefined, { kind: 'refine', phrase: 'a painting' }, 'a red apple, a painting'],
  ['change it to winter', undefined, { kind: 'refine', phrase: 'winter' }, 'a red apple, winter'],
  ['now at sunset', undefined, { kind: 'refine', phrase: 'at sunset' }, 'a red apple, at sunset'],
  ['make it look like a watercolor', undefined, { kind: 'refine', phrase: 'a watercolor' }],
  ['make them smile', undefined, { kind: 'refine', phrase: 'smile' }],
  ['watercolor style', undefined, { kind: 'refine', phrase: 'in watercolor style' }],
  ['in 3d style', undefined, { kind: 'refine', phrase: 'in 3d style' }],
  ['pixel art style', undefined, { kind: 'refine', phrase: 'in pixel art style' }],
  ['in a comic book style', undefined, { kind: 'refine', phrase: 'in a comic book style' }],
  ['as a cat', undefined, { kind: 'refine', phrase: 'as a cat' }],
  ['as an oil painting', undefined, { kind: 'refine', phrase: 'as an oil painting' }],
  ['could you make it night please', undefined, { kind: 'refine', phrase: 'night' }, 'a red apple, night'],
  ['I want it at night', undefined, { kind: 'refine', phrase: 'at night' }],
  ["let's make it rainy", undefined, { kind: 'refine', phrase: 'rainy' }],
  ['please make it autumn, thanks', undefined, { kind: 'refine', phrase: 'autumn' }],
  ['hey flowbot, make it spooky', undefined, { kind: 'refine', phrase: 'spooky' }],
  // add / with
  ['add a moon', undefined, { kind: 'refine', phrase: 'a moon', mode: 'append' }, 'a red apple, a moon'],
  ['add some stars', undefined, { kind: 'refine', phrase: 'some stars' }],
  ['with a red hat', undefined, { kind: 'refine', phrase: 'with a red hat' }],
  ['plus a dog', undefined, { kind: 'refine', phrase: 'with a dog' }, 'a red apple, with a dog'],
  ['include a rainbow', undefined, { kind: 'refine', phrase: 'a rainbow' }],
  ['put a bird on it', undefined, { kind: 'refine', phrase: 'a bird on it' }],
  ['can you add a worm', undefined, { kind: 'refine', phrase: 'a worm' }],
  ['please add sparkles', undefined, { kind: 'refine', phrase: 'sparkles' }],
  // remove / without / no
  ['remove the boat', undefined, { kind: 'refine', phrase: 'boat', mode: 'negative' }, '-boat'],
  ['without people', undefined, { kind: 'refine', phrase: 'people', mode: 'negative' }],
  ['no text', undefined, { kind: 'refine', phrase: 'text', mode: 'negative' }],
  ['get rid of the clouds', undefined, { kind: 'refine', phrase: 'clouds', mode: 'negative' }],
  ['delete the watermark', undefined, { kind: 'refine', phrase: 'watermark', mode: 'negative' }],
  ['drop the background', undefined, { kind: 'refine', phrase: 'background', mode: 'negative' }],
  ['--no blur', undefined, { kind: 'refine', phrase: 'blur', mode: 'negative' }],
  [
    'could you remove the stem please',
    undefined,
    { kind: 'refine', phrase: 'stem', mode: 'negative' },
    '-stem',
  ],
  ['lose the shadow', undefined, { kind: 'refine', phrase: 'shadow', mode: 'negative' }],
  // substitutions
  [
    'replace the apple with a banana',
    undefined,
    { kind: 'substitute', from: 'apple', to: 'banana' },
    'a red banana',
  ],
  [
    'swap the apple for an orange',
    undefined,
    { kind: 'substitute', from: 'apple', to: 'orange' },
    'a red orange',
  ],
  [
    'turn the apple into a tomato',
    undefined,
    { kind: 'substitute', from: 'apple', to: 'tomato' },
    'a red tomato',
  ],
  ['change red to green', undefined, { kind: 'substitute', from: 'red', to: 'green' }, 'a green apple'],
  ['change the red to blue', undefined, { kind: 'substitute', from: 'red', to: 'blue' }, 'a blue apple'],
  ['a pear instead of an apple', undefined, { kind: 'substitute', from: 'apple', to: 'pear' }, 'a red pear'],
  [
    'can you change the apple into a peach please',
    undefined,
    { kind: 'substitute', from: 'apple', to: 'peach' },
    'a red peach',
  ],
  ['switch the apple to a plum', undefined, { kind: 'substitute', from: 'apple', to: 'plum' }, 'a red plum'],
  [
    'change the apples to cherries',
    undefined,
    { kind: 'substitute', from: 'apples', to: 'cherries' },
    'a red cherries',
  ],
  ['change the banana to a pear', undefined, { kind: 'substitute', from: 'banana' }, '!banana'],
  ['replace the sky with fireworks', undefined, { kind: 'substitute', from: 'sky', to: 'fireworks' }, '!sky'],
  [
    'replace the top right with a moon',
    undefined,
    { kind: 'substitute', from: 'top right', to: 'moon' },
    '!top right',
  ],
  // attributes
  [
    'make the apple green',
    undefined,
    { kind: 'attribute', subject: 'apple', attribute: 'green' },
    'a green apple',
  ],
  [
    'make the apple shiny',
    undefined,
    { kind: 'attribute', subject: 'apple', attribute: 'shiny' },
    'a shiny red apple',
  ],
  [
    'make the apple golden',
    undefined,
    { kind: 'attribute', subject: 'apple', attribute: 'golden' },
    'a golden apple',
  ],
  [
    'could you make the apple yellow',
    undefined,
    { kind: 'attribute', subject: 'apple', attribute: 'yellow' },
    'a yellow apple',
  ],
  [
    'make the apple old',
    undefined,
    { kind: 'attribute', subject: 'apple', attribute: 'old' },
    'an old red apple',
  ],
  ['make the pear green', undefined, { kind: 'attribute', subject: 'pear' }, '!pear'],
  // weights
  ['more red', undefined, { kind: 'weight', term: 'red', factor: 1.3 }, 'a (red:1.3) apple'],
  ['much more red', undefined, { kind: 'weight', term: 'red', factor: 1.5 }, 'a (red:1.5) apple'],
  ['a bit more red', undefined, { kind: 'weight', term: 'red', factor: 1.15 }, 'a (red:1.15) apple'],
  ['slightly less red', undefined, { kind: 'weight', term: 'red', factor: 0.85 }, 'a (red:0.85) apple'],
  [
    'more dramatic',
    undefined,
    { kind: 'weight', term: 'dramatic', factor: 1.3 },
    'a red apple, (dramatic:1.3)',
  ],
  [
    'much more detail',
    undefined,
    { kind: 'weight', term: 'detail', factor: 1.5 },
    'a red apple, (detail:1.5)',
  ],
  ['a bit less busy', undefined, { kind: 'weight', term: 'busy', factor: 0.85 }, '-busy'],
  ['less shadow', undefined, { kind: 'weight', term: 'shadow', factor: 0.7 }, '-shadow'],
  ['more apple', undefined, { kind: 'weight', term: 'apple', factor: 1.3 }, 'a red (apple:1.3)'],
  ['way less red', undefined, { kind: 'weight', term: 'red', factor: 0.5 }, 'a (red:0.5) apple'],
  // exact edits
  ['make it darker', undefined, { kind: 'exact', edit: { op: 'brightness', factor: 0.75 } }],
  ['a bit darker', undefined, { kind: 'exact', edit: { op: 'brightness' } }],
  ['darken it', undefined, { kind: 'exact', edit: { op: 'brightness', factor: 0.75 } }],
  ['brighter', undefined, { kind: 'exact', edit: { op: 'brightness', factor: 1.3 } }],
  ['make it lighter', undefined, { kind: 'exact', edit: { op: 'brightness', factor: 1.3 } }],
  ['brighten it up', undefined, { kind: 'exact', edit: { op: 'brightness', factor: 1.3 } }],
  ['can you make it brighter please', undefined, { kind: 'exact', edit: { op: 'brightness', factor: 1.3 } }],
  ['more colorful', undefined, { kind: 'exact', edit: { op: 'saturation', factor: 1.5 } }],
  ['make it more colorful', undefined, { kind: 'exact', edit: { op: 'saturation', factor: 1.5 } }],
  ['more saturated', undefined, { kind: 'exact', edit: { op: 'saturation', factor: 1.5 } }],
  ['more vibrant', undefined, { kind: 'exact', edit: { op: 'saturation', factor: 1.5 } }],
  ['less saturated', undefined, { kind: 'exact', edit: { op: 'saturation', factor: 0.55 } }],
  ['less colourful', undefined, { kind: 'exact', edit: { op: 'saturation', factor: 0.55 } }],
  ['desaturate it', undefined, { kind: 'exact', edit: { op: 'saturation', factor: 0.55 } }],
  ['black and white', undefined, { kind: 'exact', edit: { op: 'grayscale' } }],
  ['make it black and white', undefined, { kind: 'exact', edit: { op: 'grayscale' } }],
  ['in black & white', undefined, { kind: 'exact', edit: { op: 'grayscale' } }],
  ['grayscale', undefined, { kind: 'exact', edit: { op: 'grayscale' } }],
  ['b&w', undefined, { kind: 'exact', edit: { op: 'grayscale' } }],
  ['monochrome', undefined, { kind: 'exact', edit: { op: 'grayscale' } }],
  ['sepia', undefined, { kind: 'exact', edit: { op: 'sepia' } }],
  ['make it sepia', undefined, { kind: 'exact', edit: { op: 'sepia' } }],
  ['warmer', undefined, { kind: 'exact', edit: { op: 'temperature', amount: 0.12 } }],
  ['make it a bit warmer', undefined, { kind: 'exact', edit: { op: 'temperature' } }],
  ['cooler', undefined, { kind: 'exact', edit: { op: 'temperature', amount: -0.12 } }],
  ['colder', undefined, { kind: 'exact', edit: { op: 'temperature', amount: -0.12 } }],
  ['sharper', undefined, { kind: 'exact', edit: { op: 'sharpen' } }],
  ['sharpen it', undefined, { kind: 'exact', edit: { op: 'sharpen' } }],
  ['blurrier', undefined, { kind: 'exact', edit: { op: 'blur' } }],
  ['blur it', undefined, { kind: 'exact', edit: { op: 'blur' } }],
  ['mirror', undefined, { kind: 'exact', edit: { op: 'mirror' } }],
  ['mirror it', undefined, { kind: 'exact', edit: { op: 'mirror' } }],
  ['flip it horizontally', undefined, { kind: 'exact', edit: { op: 'mirror' } }],
  ['flip', undefined, { kind: 'exact', edit: { op: 'mirror' } }],
  ['flip it vertically', undefined, { kind: 'exact', edit: { op: 'flip' } }],
  ['upside down', undefined, { kind: 'exact', edit: { op: 'flip' } }],
  ['rotate', undefined, { kind: 'exact', edit: { op: 'rotate', degrees: 90 } }],
  ['rotate it left', undefined, { kind: 'exact', edit: { op: 'rotate', degrees: 270 } }],
  ['rotate 180', undefined, { kind: 'exact', edit: { op: 'rotate', degrees: 180 } }],
  ['rotate by 90 degrees clockwise', undefined, { kind: 'exact', edit: { op: 'rotate', degrees: 90 } }],
  ['crop to 16:9', undefined, { kind: 'exact', edit: { op: 'crop', aspect: { width: 16, height: 9 } } }],
  [
    'crop it to a square',
    undefined,
    { kind: 'exact', edit: { op: 'crop', aspect: { width: 1, height: 1 } } },
  ],
  ['crop 4:5', undefined, { kind: 'exact', edit: { op: 'crop', aspect: { width: 4, height: 5 } } }],
  // backgrounds
  ['make the background blue', undefined, { kind: 'background', prompt: 'a blue background' }],
  ['change the background to a beach', undefined, { kind: 'background', prompt: 'a beach background' }],
  ['background: a starry sky', undefined, { kind: 'background' }],
  ['blue background', undefined, { kind: 'background', prompt: 'a blue background' }],
  ['a sunset background', undefined, { kind: 'background', prompt: 'a sunset background' }],
  ['put a forest behind it', undefined, { kind: 'background', prompt: 'a forest' }],
  ['behind it: mountains', undefined, { kind: 'background', prompt: 'mountains' }],
  [
    'could you make the background pink please',
    undefined,
    { kind: 'background', prompt: 'a pink background' },
  ],
  ['set the background to white', undefined, { kind: 'background', prompt: 'a white background' }],
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
  ['fill the bottom third with sand', undefined, { kind: 'inpaint', region: 'bottom third', prompt: 'sand' }],
  ['repaint the centre with a cat', undefined, { kind: 'inpaint', region: 'centre', prompt: 'a cat' }],
  ['please, in the top right: a star', undefined, { kind: 'inpaint', region: 'top right', prompt: 'a star' }],
  ['same mask: a sun', undefined, { kind: 'same_mask', prompt: 'a sun' }],
  ['same mask', undefined, { kind: 'same_mask', prompt: '' }],
  ['same region, a cloud', undefined, { kind: 'same_mask', prompt: 'a cloud' }],
  // questions (answered, nothing queued)
  ['which model?', undefined, { kind: 'question', topic: 'model' }],
  ['what model is this', undefined, { kind: 'question', topic: 'model' }],
  ['what was the prompt?', undefined, { kind: 'question', topic: 'prompt' }],
  ['what prompt did you use?', undefined, { kind: 'question', topic: 'prompt' }],
  ['how many steps?', undefined, { kind: 'question', topic: 'steps' }],
  ['who made this?', undefined, { kind: 'question', topic: 'author' }],
  ['what can I say?', undefined, { kind: 'question', topic: 'help' }],
  ['what can you do', undefined, { kind: 'question', topic: 'help' }],
  ['what is the seed', undefined, { kind: 'question', topic: 'seed' }],
  ['tell me the seed please', undefined, { kind: 'question', topic: 'seed' }],
  ["what's the seed?", undefined, { kind: 'question', topic: 'seed' }],
  ['what size is it?', undefined, { kind: 'question', topic: 'size' }],
  ['how big is this', undefined, { kind: 'question', topic: 'size' }],
  ['what cfg did you use?', undefined, { kind: 'question', topic: 'guidance' }],
  ['what is the negative prompt?', undefined, { kind: 'question', topic: 'negative' }],
  ['how was this made?', undefined, { kind: 'question', topic: 'lineage' }],
  ['is this an apple?', undefined, { kind: 'question', topic: 'other' }],
  ['#2 what seed is this?', 2, { kind: 'question', topic: 'seed' }],
  // zoom out, pan and widen (outpainting)
  ['zoom out 2x', undefined, { kind: 'zoom', outpaint: { kind: 'zoom', factor: 2 } }],
  ['pan left', undefined, { kind: 'zoom', what: 'pan left', outpaint: { kind: 'pan', direction: 'left' } }],
  ['move the camera up', undefined, { kind: 'zoom', outpaint: { kind: 'pan', direction: 'up' } }],
  ['extend the left side', undefined, { kind: 'zoom', outpaint: { kind: 'pan', direction: 'left' } }],
  ['extend it to the top', undefined, { kind: 'zoom', outpaint: { kind: 'pan', direction: 'up' } }],
  ['show more of it', undefined, { kind: 'zoom', outpaint: { kind: 'zoom', factor: 1.5 } }],
  ['zoom out by 1.5x', undefined, { kind: 'zoom', outpaint: { kind: 'zoom', factor: 1.5 } }],
  ['can you zoom in', undefined, { kind: 'zoom', what: 'zoom in' }],
  // parameters
  ['seed 42', undefined, { kind: 'params', changes: { seed: 42 } }],
  ['use seed 7', undefined, { kind: 'params', changes: { seed: 7 } }],
  ['--seed 9', undefined, { kind: 'params', changes: { seed: 9 } }],
  ['--ar 16:9', undefined, { kind: 'params', changes: { aspectRatio: { width: 16, height: 9 } } }],
  ['ar 3:2', undefined, { kind: 'params', changes: { aspectRatio: { width: 3, height: 2 } } }],
  ['aspect ratio 1:1', undefined, { kind: 'params', changes: { aspectRatio: { width: 1, height: 1 } } }],
  ['12 steps', undefined, { kind: 'params', changes: { steps: 12 } }],
  ['steps 20', undefined, { kind: 'params', changes: { steps: 20 } }],
  ['use 30 steps please', undefined, { kind: 'params', changes: { steps: 30 } }],
  ['--steps 6 --cfg 5', undefined, { kind: 'params', changes: { steps: 6, guidance: 5 } }],
  ['stronger', undefined, { kind: 'params', changes: { strengthDelta: 0.15 } }],
  ['more change', undefined, { kind: 'params', changes: { strengthDelta: 0.15 } }],
  ['subtler', undefined, { kind: 'params', changes: { strengthDelta: -0.15 } }],
  ['more subtle', undefined, { kind: 'params', changes: { strengthDelta: -0.15 } }],
  ['less change', undefined, { kind: 'params', changes: { strengthDelta: -0.15 } }],
  ['wider', undefined, { kind: 'zoom', outpaint: { kind: 'widen', axis: 'horizontal' } }],
  ['make it wider', undefined, { kind: 'zoom', outpaint: { kind: 'widen', axis: 'horizontal' } }],
  ['taller', undefined, { kind: 'zoom', outpaint: { kind: 'widen', axis: 'vertical' } }],
  ['landscape', undefined, { kind: 'params', changes: { widen: 'wider' } }],
  // operations
  ['upscale', undefined, { kind: 'upscale', scale: 2 }],
  ['upscale x4', undefined, { kind: 'upscale', scale: 4 }],
  ['upscale it 4x', undefined, { kind: 'upscale', scale: 4 }],
  ['enlarge', undefined, { kind: 'upscale', scale: 2 }],
  ['could you upscale it please', undefined, { kind: 'upscale', scale: 2 }],
  ['again', undefined, { kind: 'reroll' }],
  ['reroll', undefined, { kind: 'reroll' }],
  ['one more', undefined, { kind: 'reroll' }],
  ['try again', undefined, { kind: 'reroll' }],
  ['variations', undefined, { kind: 'variations' }],
  ['more like this', undefined, { kind: 'variations' }],
  ['show me some variations', undefined, { kind: 'variations' }],
  ['something similar', undefined, { kind: 'variations' }],
  ['subtle variations', undefined, { kind: 'variations', strength: 'subtle' }],
  ['strong variation', undefined, { kind: 'variations', strength: 'strong' }],
  ['undo', undefined, { kind: 'undo' }],
  ['back', undefined, { kind: 'undo' }],
  ['go back', undefined, { kind: 'undo' }],
  ['undo that please', undefined, { kind: 'undo' }],
  ['redo', undefined, { kind: 'redo' }],
  ['go forward', undefined, { kind: 'redo' }],
  ['yes', undefined, { kind: 'confirm' }],
  ['ok do it', undefined, { kind: 'confirm' }],
  ['go ahead', undefined, { kind: 'confirm' }],
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
  ['#3 darker', 3, { kind: 'exact', edit: { op: 'brightness' } }],
  ['#2 change the apple to a pear', 2, { kind: 'substitute', from: 'apple', to: 'pear' }, 'a red pear'],
  // descriptive phrases refine with the text
  ['a lighthouse in the fog', undefined, { kind: 'refine', phrase: 'a lighthouse in the fog', rule: 'text' }],
  ['golden hour lighting', undefined, { kind: 'refine', phrase: 'golden hour lighting', rule: 'text' }],
  ['3 cats', undefined, { kind: 'refine', phrase: '3 cats', rule: 'text' }],
  ['<@123> make it blue', undefined, { kind: 'refine', phrase: 'blue' }],
  ['dramatic lighting', undefined, { kind: 'refine', phrase: 'dramatic lighting', rule: 'text' }],
  // not understood: proposed, not guessed
  [
    'fix the lighting',
    undefined,
    { kind: 'unclear', proposal: { kind: 'refine', phrase: 'fix the lighting' } },
  ],
  ['improve it', undefined, { kind: 'unclear' }],
  ['do something cool', undefined, { kind: 'unclear' }],
  ['change the mood', undefined, { kind: 'unclear' }],
  // errors
  ['--sed 4', undefined, { kind: 'error' }],
  ['', undefined, { kind: 'error' }],
];

describe('reply grammar corpus', () => {
  it(`has at least 200 phrasings (${CORPUS.length})`, () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(200);
  });

  it.each(CORPUS)('%j', (reply, cell, expected, prompt) => {
    const result = interpretReply(reply);
    expect(result.cell).toBe(cell);
    expect(result.meaning).toMatchObject(expected);
    if (prompt === undefined || result.meaning.kind === 'error') return;
    const change = rewritePrompt(PROMPT, NEGATIVE, result.meaning);
    if (prompt.startsWith('!')) expect(change).toEqual({ ok: false, missing: prompt.slice(1) });
    else if (prompt.startsWith('-'))
      expect(change).toMatchObject({
        ok: true,
        prompt: PROMPT,
        negativePrompt: `${NEGATIVE}, ${prompt.slice(1)}`,
      });
    else expect(change).toMatchObject({ ok: true, prompt, negativePrompt: NEGATIVE });
  });
});

describe('politeness and framing', () => {
  it.each([
    ['could you make it darker please?', 'make it darker'],
    ['can you make the background blue', 'make the background blue'],
    ["I'd like it brighter", 'brighter'],
    ['please just add a moon, thanks!', 'add a moon'],
    ["let's try to make it night", 'make it night'],
    ['hey, could we maybe add stars', 'add stars'],
  ])('%j → %j', (text, stripped) => {
    expect(stripFraming(text)).toBe(stripped);
  });
});
