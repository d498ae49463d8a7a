/** "Enhance" under a `--draft`: the full image (the person's or the model's steps) with the same seed. */
import type { GenerateParams } from '../src/jobs.js';
import type { ImageRecord } from '../src/store/store.js';
import { parseParams } from '../src/work/order.js';
import { type CommandDeps, enqueue, truncate } from './context.js';
import { capDefaults, limitsFor } from './limits.js';
import { effectiveDefaults } from './settings-model.js';
import { type ChatContext, type Reply, say } from './types.js';

/** Makes a draft again at full steps: the grid with its seeds, or one cell (or single image) alone. */
export function enhance(deps: CommandDeps, ctx: ChatContext, image: ImageRecord): Reply {
  const job = image.jobId ? deps.store.getJob(image.jobId) : undefined;
  if (job?.kind !== 'generate' || (job.params as { draft?: unknown }).draft !== true)
    return say('Only drafts (made with --draft) can be enhanced; this image is already the full one.');
  const { draft: _draft, ...params }: GenerateParams = parseParams('generate', job.params);
  const defaults = capDefaults(
    effectiveDefaults(deps.store, ctx.userId, ctx.channelId),
    limitsFor(deps, ctx),
  );
  const steps = defaults.steps ?? deps.models.get(params.model).defaults.steps;
  const whole = image.operation === 'grid';
  const seed = whole ? params.seed : image.seed;
  return enqueue(deps, ctx, {
    kind: 'generate',
    params: {
      ...params,
      steps,
      seed,
      n: whole ? params.n : 1,
      parentId: image.id,
      explanation: `Enhanced: "${truncate(params.prompt, 200)}" · ${steps} steps (the draft had ${params.steps}) · seed ${seed} · from #${image.id}`,
    },
  });
}
