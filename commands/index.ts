/** The command layer's entry: a {@link Bot} over the core. */
import type { Core } from '../src/app.js';
import { Bot } from './bot.js';
import { IntentMatcher } from './meaning.js';

export { Bot } from './bot.js';
export type {
  ButtonSpec,
  ChatContext,
  InboundEvent,
  InboundEventInput,
  ModalSpec,
  ModerationView,
  Reply,
  ResultView,
} from './types.js';

/** Builds the bot over a running core. */
export function createBot(
  core: Core,
  editorLink?: (imageId: string, userId: string, platform: string, channelId: string) => string | undefined,
): Bot {
  return new Bot({
    store: core.store,
    files: core.files,
    queue: core.queue,
    models: core.models,
    defaultModel: core.config.model,
    host: { memoryBudgetMB: core.config.memoryBudgetMB, maxOutputSide: core.config.maxOutputSide },
    ...(core.encoder ? { meaning: new IntentMatcher(core.encoder) } : {}),
    ...(core.moderation ? { moderation: core.moderation } : {}),
    ...(core.cluster
      ? {
          workers: () => {
            const cluster = core.cluster!;
            if (cluster.capacity === undefined) return undefined;
            const live = cluster.liveWorkers.length;
            return { live, capacity: cluster.capacity, redisReachable: cluster.redisReachable };
          },
          // LoRAs are checked against what live workers announce (none announced yet: this host's).
          loraNames: (model: string) =>
            core.cluster!.liveWorkers.some((w) => w.loras !== undefined)
              ? core.cluster!.loraNames(model)
              : core.models.loraNames(model),
        }
      : {}),
    ...(editorLink ? { editorLink } : {}),
  });
}
