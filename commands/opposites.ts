/**
 * Opposite intents ("darker" and "brighter", "undo" and "redo") sit close together in a sentence
 * encoder's space: the sentences are about the same thing. The matcher therefore decides the family by
 * meaning and the side by the words, like any other slot; where the words say nothing, the nearer side
 * stands.
 */
import type { Intent } from './phrasings.js';

/** Each family: its sides, with the word cues tried in order (the first that matches decides). */
const FAMILIES: readonly (readonly [pattern: RegExp, side: Intent][])[] = [
  [
    [/\btoo (dark|dim)\b|\b(can'?t|barely) see\b/, 'exact:brighter'],
    [/\btoo (bright|light)\b|\bless bright\b/, 'exact:darker'],
    [/\b(dark|darker|darken|dim|dimmer|lower|reduce|turn down|tone it down)\b/, 'exact:darker'],
    [/\b(bright|brighter|brighten|light|lighter|lighten|raise|increase|boost)\b/, 'exact:brighter'],
  ],
  [
    [/\btoo (strong|loud|much|vivid|bright|saturated)\b/, 'exact:desaturate'],
    [/\b(less|mute|muted|calm|calmer|reduce|tone down|washed|soft|softer)\b/, 'exact:desaturate'],
    [
      /\b(dull|more|boost|pop|punch|punchier|rich|richer|crank|increase|juicier|vivid|intense|saturated)\b/,
      'exact:saturate',
    ],
  ],
  [
    [/\b(too|less) warm\b/, 'exact:cooler'],
    [/\b(too|less) (cold|cool)\b/, 'exact:warmer'],
    [/\b(warm|warmer|warmth|heat)\b/, 'exact:warmer'],
    [/\b(cool|cooler|cold|colder|chill|icy)\b/, 'exact:cooler'],
  ],
  [
    [/\b(too|so) (blurry|soft)\b|\bless blurry\b|\bnot sharp\b/, 'exact:sharpen'],
    [/\b(too|less) sharp\b/, 'exact:blur'],
    [/\b(sharp|sharpen|sharper|sharpness|crisp|crisper)\b/, 'exact:sharpen'],
    [/\b(blur|blurry|blurrier|blurred|soft|soften|focus|defocus|smooth)\b/, 'exact:blur'],
  ],
  [
    [/\b(vertical|vertically|upside|top to bottom|on its head)\b/, 'exact:flip'],
    [/\b(horizontal|horizontally|left|right|sideways|other way)\b/, 'exact:mirror'],
  ],
  [
    [/\btoo (subtle|little|small)\b|\bnot enough\b/, 'stronger'],
    [/\btoo (much|strong|different|drastic)\b/, 'subtler'],
    [/\b(less|subtle|subtler|gentle|gentler|soft|softer|lighter|closer|not so|back)\b/, 'subtler'],
    [/\b(more|further|strong|stronger|bold|bolder|bigger|dramatic|lot)\b/, 'stronger'],
  ],
  [
    [/\b(redo|forward|undid|re-?apply|next|back on)\b|\bundo the undo\b/, 'redo'],
    [/\b(undo|back|revert|previous|before|earlier|restore|old|last)\b/, 'undo'],
  ],
  [
    [/\b(out|back|wider|surroundings?|around|whole|reveal|pull)\b|\bmore of\b/, 'zoom out'],
    [/\b(in|closer|close|tighter|nearer)\b/, 'zoom in'],
  ],
];

const FAMILY_OF = new Map<Intent, number>(
  FAMILIES.flatMap((cues, family) => cues.map(([, side]) => [side, family] as const)),
);

/** The family an intent belongs to (its own name when it has no opposite). */
export function familyOf(intent: Intent): string {
  const family = FAMILY_OF.get(intent);
  return family === undefined ? intent : `family ${family}`;
}

/** The side of `intent`'s family that the words point to, or `intent` itself. */
export function sideOf(intent: Intent, text: string): Intent {
  const family = FAMILY_OF.get(intent);
  if (family === undefined) return intent;
  const words = text.toLowerCase();
  return FAMILIES[family]!.find(([pattern]) => pattern.test(words))?.[1] ?? intent;
}
