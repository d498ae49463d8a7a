/** Reroll: the same request with a new seed. */
import type { GenerateParams, VaryParams } from '../src/jobs.js';
import type { ImageRecord } from '../src/store/store.js';
import { type CommandDeps, enqueue, newSeed, requireImage, truncate } from './context.js';
import type { ChatContext, Reply } from './types.js';

/** Re-runs the job that made `image` with a new seed (and optionally a new prompt, for Remix). */
export function reroll(deps: CommandDeps, ctx: ChatContext, image: ImageRecord, prompt?: string): Reply {
  const job = image.jobId ? deps.store.getJob(image.jobId) : undefined;
  const seed = newSeed();
  if (job && (job.kind === 'generate' || job.kind === 'variation')) {
    const params = job.params as Record<string, unknown> & { prompt: string };
    const text = prompt ?? params.prompt;
    const explanation = `Rerolled: "${truncate(text, 200)}" · seed ${seed} · from #${image.id}`;
    if (job.kind === 'variation') {
      const parent = requireImage(deps, params.parentId as string);
      return enqueue(deps, ctx, {
        kind: 'variation',
        params: {
          ...(params as unknown as VaryParams),
          parentId: parent.id,
          prompt: text,
          seed,
          explanation,
        },
      });
    }
    return enqueue(deps, ctx, {
      kind: 'generate',
      params: {
        ...(params as unknown as GenerateParams),
        prompt: text,
        seed,
        explanation,
        parentId: image.id,
      },
    });
  }
  const text = prompt ?? image.prompt;
  return enqueue(deps, ctx, {
    kind: 'generate',
    params: {
      prompt: text,
      negativePrompt: image.negativePrompt,
      seed,
      steps: image.steps,
      guidance: image.guidance,
      width: image.width,
      height: image.height,
      n: 1,
      model: image.model,
      parentId: image.id,
      explanation: `Rerolled: "${truncate(text, 200)}" · seed ${seed} · from #${image.id}`,
    },
  });
}
