/** `help`: short, with examples. */
import { FLAG_NAMES } from '../src/prompt/params.js';
import { type Reply, say } from './types.js';

/** The help text. */
export const HELP_TEXT = [
  '**flowbot** makes images from text, and keeps editing them with you.',
  '• `/imagine a lighthouse at dusk --ar 16:9 --seed 7` → a 2×2 grid. Buttons: U1–U4 upscale, V1–V4 vary, 🔄 reroll, Vary region.',
  `• Flags: ${FLAG_NAMES.map((f) => `--${f}`).join(' ')} (e.g. \`--no text\`, \`--n 1\`).`,
  '• Reply to a result to edit it: "make it night", "add a moon", "remove the boat", "in the top left: a moon", "#2 upscale", "seed 42", "stronger", "undo".',
  '• React: 🔍 upscale · 1️⃣–4️⃣ upscale a cell · ❌ cancel/delete · ✉️ get the parameters.',
  '• `settings` your defaults (e.g. `settings steps 12`, `settings remix on`) · `info <id>` parameters and lineage · `queue` · `cancel`.',
].join('\n');

/** Handles `help`. */
export function help(): Reply {
  return say(HELP_TEXT);
}
