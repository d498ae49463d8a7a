/**
 * Image moderation's policy: per channel, what happens to an image whose explicit-content score reaches
 * the threshold (`settings admin nsfw allow|spoiler|block [threshold]`). The default is `spoiler`,
 * except in Discord channels marked age-restricted, where it is `allow`. The decision is taken when the
 * image is first shown, recorded with its score (lineage, `info` for admins), and kept after that.
 *
 *   settings admin nsfw                  this channel's policy
 *   settings admin nsfw block 0.6        block images scoring 0.6 or more here
 *   settings admin nsfw threshold 0.3    keep the action, change the threshold
 *   settings admin nsfw reset            back to the default
 */
import { ErrorCode, UserError } from '../src/errors.js';
import {
  gridCellIds,
  type ImageRecord,
  MODERATION_ACTIONS,
  type ModerationAction,
  type Store,
} from '../src/store/store.js';
import type { CommandDeps } from './deps.js';
import { type ChatContext, type ModerationView, type Reply, say } from './types.js';

/**
 * The score at or above which an image counts as explicit, unless an admin sets another. Chosen from
 * `npm run bench -- moderation`: on 1,000 of the shipped model's images (seeds 1000+) 0.5 flagged 1.1 %,
 * 0.6 flagged 0.8 %; the bench now measures it on other seeds (5000+), which played no part in the choice.
 */
export const DEFAULT_NSFW_THRESHOLD = 0.6;

/** Channel-scope setting keys: the admin's policy, and the platform's age-restricted mark. */
const POLICY_KEY = 'nsfwPolicy';
const THRESHOLD_KEY = 'nsfwThreshold';
const AGE_RESTRICTED_KEY = 'ageRestricted';

/** What a channel does with explicit images, and why. */
export interface ModerationPolicy {
  readonly action: ModerationAction;
  readonly threshold: number;
  /** `admin`: set here; `age-restricted`: a Discord age-restricted channel; `default`: neither. */
  readonly source: 'admin' | 'age-restricted' | 'default';
}

/**
 * What to do with an image of this score under this policy: the policy's action when the score reaches
 * its threshold, else allow. The one decision generated images and uploads share.
 */
export function decideModeration(score: number, policy: Pick<ModerationPolicy, 'action' | 'threshold'>) {
  return score >= policy.threshold ? policy.action : ('allow' as const);
}

function isAction(value: unknown): value is ModerationAction {
  return typeof value === 'string' && (MODERATION_ACTIONS as readonly string[]).includes(value);
}

function isThreshold(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= 1;
}

/** A channel's policy: the admin's, else allow in an age-restricted channel, else spoiler. */
export function channelPolicy(store: Store, channelId: string): ModerationPolicy {
  const stored = store.settings('channel', channelId);
  const threshold = isThreshold(stored[THRESHOLD_KEY]) ? stored[THRESHOLD_KEY] : DEFAULT_NSFW_THRESHOLD;
  const action = stored[POLICY_KEY];
  if (isAction(action)) return { action, threshold, source: 'admin' };
  if (stored[AGE_RESTRICTED_KEY] === true) return { action: 'allow', threshold, source: 'age-restricted' };
  return { action: 'spoiler', threshold, source: 'default' };
}

/**
 * Remembers whether the platform marks the channel age-restricted (Discord's NSFW flag), as the adapter
 * reports it on each event, so that results finished later are judged by it. Writes only on a change.
 */
export function noteChannel(store: Store, ctx: ChatContext): void {
  if (ctx.channelNsfw === undefined) return;
  if (store.settings('channel', ctx.channelId)[AGE_RESTRICTED_KEY] === ctx.channelNsfw) return;
  store.setSetting('channel', ctx.channelId, AGE_RESTRICTED_KEY, ctx.channelNsfw);
}

/**
 * The moderation of a stored image as it is shown: the recorded decision, or, the first time, the
 * decision under the policy of the channel its job ran in (recorded from then on). Undefined for an
 * image that was never checked.
 */
export function moderationOf(deps: CommandDeps, image: ImageRecord): ModerationView | undefined {
  const verdict = deps.store.moderation.get(image.id);
  if (!verdict) return undefined;
  if (verdict.action) return { action: verdict.action, score: verdict.score };
  const job = image.jobId ? deps.store.getJob(image.jobId) : undefined;
  const policy = job?.channelId
    ? channelPolicy(deps.store, job.channelId)
    : { action: 'spoiler' as const, threshold: DEFAULT_NSFW_THRESHOLD };
  const action = decideModeration(verdict.score, policy);
  deps.store.moderation.recordDecision(image.id, action, policy.threshold);
  // A grid's cells are shown with it: each is decided now too, by its own score, under the same policy.
  for (const cellId of gridCellIds(image)) {
    const cell = deps.store.moderation.get(cellId);
    if (cell && !cell.action)
      deps.store.moderation.recordDecision(cellId, decideModeration(cell.score, policy), policy.threshold);
  }
  return { action, score: verdict.score };
}

/** True when moderation blocked the image (or, for a grid, any of its cells was blocked). */
export function isBlocked(deps: CommandDeps, imageId: string): boolean {
  return deps.store.moderation.get(imageId)?.action === 'block';
}

/** Refuses anyone but an admin a blocked image: its info, lineage and buttons are for admins only. */
export function checkNotWithheld(deps: CommandDeps, ctx: ChatContext, imageId: string): void {
  if (!ctx.isAdmin && isBlocked(deps, imageId))
    throw new UserError(
      ErrorCode.ImageNotFound,
      `Image #${imageId} was withheld by this server's image moderation; only admins can see or use it.`,
    );
}

/** The line `info` shows admins about an image's moderation. */
export function describeModeration(deps: CommandDeps, imageId: string): string | undefined {
  const verdict = deps.store.moderation.get(imageId);
  if (!verdict) return undefined;
  const classes = Object.entries(verdict.classes)
    .map(([name, p]) => `${name} ${p.toFixed(3)}`)
    .join(', ');
  const decided = verdict.action
    ? `${verdict.action} at threshold ${verdict.threshold ?? DEFAULT_NSFW_THRESHOLD}`
    : 'not shown yet';
  return `Moderation: ${decided} · score ${verdict.score.toFixed(3)} (${verdict.model}: ${classes})`;
}

/** Handles `settings admin nsfw …` (the caller has checked that the person is an admin). */
export function setNsfwPolicy(deps: CommandDeps, ctx: ChatContext, words: readonly string[]): Reply {
  const [first, second, ...extra] = words.map((word) => word.toLowerCase());
  const usage =
    'Use "settings admin nsfw allow|spoiler|block [threshold 0–1]", "settings admin nsfw threshold 0.4" or "settings admin nsfw reset".';
  if (extra.length > 0) return say(usage);
  if (first === undefined) return say(describePolicy(channelPolicy(deps.store, ctx.channelId)));
  if (first === 'reset' || first === 'default') {
    deps.store.setSetting('channel', ctx.channelId, POLICY_KEY, undefined);
    deps.store.setSetting('channel', ctx.channelId, THRESHOLD_KEY, undefined);
    return say(`Reset. ${describePolicy(channelPolicy(deps.store, ctx.channelId))}`);
  }
  const action = first === 'threshold' ? undefined : first;
  if (action !== undefined && !isAction(action))
    return say(`Expected allow, spoiler or block for nsfw but received "${first}". ${usage}`);
  const rawThreshold = second;
  if (first === 'threshold' && rawThreshold === undefined) return say(usage);
  if (rawThreshold !== undefined) {
    const threshold = /^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(rawThreshold) ? Number(rawThreshold) : Number.NaN;
    if (!isThreshold(threshold))
      return say(`Expected a number 0–1 for the nsfw threshold but received "${rawThreshold}".`);
    deps.store.setSetting('channel', ctx.channelId, THRESHOLD_KEY, threshold);
  }
  if (action !== undefined) deps.store.setSetting('channel', ctx.channelId, POLICY_KEY, action);
  return say(describePolicy(channelPolicy(deps.store, ctx.channelId)));
}

function describePolicy(policy: ModerationPolicy): string {
  const why =
    policy.source === 'admin'
      ? 'set by an admin'
      : policy.source === 'age-restricted'
        ? 'the default in an age-restricted channel'
        : 'the default';
  const what =
    policy.action === 'allow'
      ? 'images are posted as they are'
      : policy.action === 'spoiler'
        ? 'explicit images are posted hidden (a spoiler, or blurred with a "show" button)'
        : 'explicit images are not posted; their owner is told privately';
  return `Image moderation here: ${policy.action} (${why}) at threshold ${policy.threshold}: ${what}.`;
}
