/** Upscales: U1–U4 on grids, Upscale x2/x4 (and Creative) on single images, 🔍 reactions, "upscale" replies. */
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue, newSeed } from './context.js';
import type { ChatContext, Reply } from './types.js';

/**
 * The factor that makes an upscale bigger than the message it was asked from: a grid cell ×2 is only
 * as large as its grid, so from a grid it is ×4.
 */
export function biggerThan(source: ImageRecord, shown: ImageRecord, asked: 2 | 4): 2 | 4 {
  return source.width * asked > shown.width || source.height * asked > shown.height ? asked : 4;
}

/** Queues an upscale of an image. */
export function upscale(
  deps: CommandDeps,
  ctx: ChatContext,
  source: ImageRecord,
  scale: 2 | 4,
  creative = false,
): Reply {
  const explanation = `Upscaled ×${scale}${creative ? ' (creative)' : ''} · #${source.id} · ${source.width * scale}×${source.height * scale}`;
  return enqueue(deps, ctx, {
    kind: 'upscale',
    params: { parentId: source.id, scale, creative, seed: newSeed(), explanation },
  });
}
