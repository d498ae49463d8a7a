/** Questions about an image ("what seed is this?", "who made this?") answered from its record and lineage; nothing is queued. */
import type { ImageRecord } from '../src/store/store.js';
import type { CommandDeps } from './context.js';
import type { QuestionTopic } from './grammar.js';
import { type Reply, say } from './types.js';

/** What a reply can say, for "what can I say?". */
export const REPLY_HELP = [
  'Reply to an image to change it. For example:',
  '• prompt edits: "make it night", "add a moon", "remove the leaf", "change the apple to a pear", "make the apple green", "more red", "less busy"',
  '• exact edits (instant): "darker", "brighter", "more colourful", "black and white", "sepia", "warmer", "cooler", "sharper", "blurrier", "mirror", "flip vertically", "rotate left", "crop to 16:9"',
  '• regions: "in the top left: a moon", "make the background blue", "replace the sky with fireworks", "same mask: a sun"',
  '• more of it: "variations", "more like this", "again", "upscale", "upscale x4", "undo"',
  '• parameters: "seed 42", "--ar 16:9", "12 steps", "wider", "stronger", "subtler"',
  '• questions: "what seed is this?", "which model?", "what was the prompt?", "how many steps?", "who made this?"',
].join('\n');

/** Answers a question about an image. */
export function answer(deps: CommandDeps, image: ImageRecord, topic: QuestionTopic): Reply {
  const id = `#${image.id}`;
  switch (topic) {
    case 'seed':
      return say(
        `${id} was made with seed ${image.seed}. Reply "seed ${image.seed}" elsewhere, or add --seed ${image.seed} to a prompt, to start from it.`,
      );
    case 'model':
      return say(`${id} was made with the model ${image.model} (${image.scheduler}).`);
    case 'prompt':
      return say(
        `The prompt of ${id}: "${image.prompt}"${image.negativePrompt ? `, avoiding "${image.negativePrompt}"` : ''}.`,
      );
    case 'negative':
      return say(
        image.negativePrompt ? `${id} avoids: "${image.negativePrompt}".` : `${id} has no negative prompt.`,
      );
    case 'steps':
      return say(`${id} took ${image.steps} steps (guidance ${image.guidance}).`);
    case 'guidance':
      return say(`${id} used guidance (CFG) ${image.guidance}.`);
    case 'size':
      return say(`${id} is ${image.width}×${image.height}.`);
    case 'author':
      return say(
        `${id} was made for <@${image.userId}> (${image.operation}${image.parentId ? ` of #${image.parentId}` : ''}).`,
      );
    case 'lineage': {
      const chain = deps.store.lineage(image.id).map((i) => `#${i.id} (${i.operation})`);
      return say(`How ${id} was made: ${chain.join(' ← ')}.`);
    }
    case 'help':
      return say(REPLY_HELP);
    case 'other':
      return say(
        `I can't answer that one. I can tell you the seed, model, prompt, steps, size, who made it and its history; or say "what can I say?" for the edits I understand.`,
      );
  }
}
