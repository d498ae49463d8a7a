/**
 * What every command gets ({@link CommandDeps}), the job requests commands make, and the one lookup
 * every layer of the command path shares. A leaf module: the gate (limits.ts) and the shared steps
 * (context.ts) both build on it without importing each other in a circle.
 */
import { ErrorCode, UserError } from '../src/errors.js';
import type {
  EditParams,
  GenerateParams,
  InpaintParams,
  ModelRegistry,
  OutpaintParams,
  UpscaleParams,
  VaryParams,
} from '../src/jobs.js';
import type { NsfwClassifier } from '../src/moderation/classifier.js';
import type { JobQueue } from '../src/queue/queue.js';
import type { FileStore } from '../src/store/files.js';
import type { ImageRecord, Store } from '../src/store/store.js';
import type { IntentMatcher } from './meaning.js';

/** Everything commands use. */
export interface CommandDeps {
  readonly store: Store;
  readonly files: FileStore;
  readonly queue: JobQueue;
  readonly models: ModelRegistry;
  /** The default model's folder name. */
  readonly defaultModel: string;
  /**
   * A signed mask-editor link for an image, its owner, and where the result should go; undefined where
   * the editor cannot be reached (Discord and Slack without PUBLIC_URL).
   */
  readonly editorLink?: (
    imageId: string,
    userId: string,
    platform: string,
    channelId: string,
  ) => string | undefined;
  readonly now?: () => number;
  /** The host's limits: the memory budget per job and the largest upscale output. */
  readonly host?: { readonly memoryBudgetMB: number; readonly maxOutputSide: number };
  /** With Redis: the image workers now live, and how many jobs they run at once (undefined until counted). */
  readonly workers?: () => { live: number; capacity: number; redisReachable: boolean } | undefined;
  /**
   * With Redis: the LoRA names live workers that have the model announce (undefined: this host's files
   * decide).
   */
  readonly loraNames?: (model: string) => string[];
  /** Reads replies by meaning where the rule table is unsure; the rules alone without it. */
  readonly meaning?: IntentMatcher;
  /** Image moderation's classifier, which reads every upload before it is used; none: unchecked. */
  readonly moderation?: NsfwClassifier;
}

/** Job kinds and their parameters. */
export type JobRequest =
  | { readonly kind: 'generate'; readonly params: GenerateParams }
  | { readonly kind: 'variation'; readonly params: VaryParams }
  | { readonly kind: 'inpaint'; readonly params: InpaintParams }
  | { readonly kind: 'upscale'; readonly params: UpscaleParams }
  | { readonly kind: 'outpaint'; readonly params: OutpaintParams }
  | { readonly kind: 'edit'; readonly params: EditParams };

/** A stored image, or a friendly error. */
export function requireImage(deps: CommandDeps, imageId: string): ImageRecord {
  const image = deps.store.getImage(imageId);
  if (!image)
    throw new UserError(
      ErrorCode.ImageNotFound,
      `I can't find the image #${imageId}. It may have been deleted.`,
    );
  return image;
}
