/**
 * Daily quotas: how many jobs a person may queue a day (per person, or per role on Discord), what they
 * have used and when it resets (midnight UTC), `/quota`, and the admin settings that set and reset them.
 * The gate in `limits.ts` refuses a request that would go over, with the limit and when it opens again.
 */
import { ErrorCode, UserError } from '../src/errors.js';
import type { CommandDeps } from './deps.js';
import { hasRole, roleKeyOf, showRole, userIdOf } from './mentions.js';
import { type AdminSettings, adminSettings } from './settings-model.js';
import { type ChatContext, type Reply, say } from './types.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The user setting that remembers an admin's `quota-reset`: jobs before it no longer count. */
const RESET_KEY = 'quotaResetAt';

/** What a person has of their daily quota. */
export interface QuotaStatus {
  /** Jobs a day; undefined when there is no quota for them (none set, or an admin). */
  readonly perDay: number | undefined;
  /** Whose quota it is: "everyone", or the role that gives it. */
  readonly source: string;
  readonly used: number;
  readonly left: number;
  /** When the count starts again (the next midnight UTC). */
  readonly resetsAt: number;
}

/** The start of the quota day that contains `now`: midnight UTC. */
export function quotaDayStart(now: number): number {
  return Math.floor(now / DAY) * DAY;
}

/** The quota that applies: the most generous of the person's roles that have one, else everyone's. */
function quotaOf(admin: AdminSettings, ctx: ChatContext): { perDay: number; source: string } | undefined {
  const byRole = Object.entries(admin.roleQuotas ?? {}).filter(([key]) => hasRole(ctx, [key]));
  if (byRole.length > 0) {
    const [key, perDay] = byRole.reduce((best, entry) => (entry[1] > best[1] ? entry : best));
    return { perDay, source: `for ${showRole(key)}` };
  }
  return admin.quotaPerDay === undefined ? undefined : { perDay: admin.quotaPerDay, source: 'for everyone' };
}

/** A person's daily quota, what they used of it and when it resets. */
export function quotaStatus(deps: CommandDeps, ctx: ChatContext): QuotaStatus {
  const now = (deps.now ?? Date.now)();
  const resetMark = deps.store.settings('user', ctx.userId)[RESET_KEY];
  const since = Math.max(quotaDayStart(now), typeof resetMark === 'number' ? resetMark : 0);
  const used = deps.store.countChargedJobsSince(ctx.userId, since);
  const quota = ctx.isAdmin ? undefined : quotaOf(adminSettings(deps.store), ctx);
  return {
    perDay: quota?.perDay,
    source: quota?.source ?? '',
    used,
    left: quota ? Math.max(0, quota.perDay - used) : Number.POSITIVE_INFINITY,
    resetsAt: quotaDayStart(now) + DAY,
  };
}

/** "at 00:00 UTC (in 5 h 12 min)". */
export function whenText(at: number, now: number): string {
  const minutes = Math.max(1, Math.ceil((at - now) / 60_000));
  const clock = new Date(at).toISOString().slice(11, 16);
  const wait = minutes >= 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes} min`;
  return `at ${clock} UTC (in ${wait})`;
}

const jobsWord = (n: number) => `${n} job${n === 1 ? '' : 's'}`;

/** Refuses `jobs` new jobs that would go over the person's daily quota, saying when it resets. */
export function dailyQuotaRefusal(deps: CommandDeps, ctx: ChatContext, jobs: number): UserError | undefined {
  const status = quotaStatus(deps, ctx);
  if (status.perDay === undefined || status.used + jobs <= status.perDay) return undefined;
  const when = whenText(status.resetsAt, (deps.now ?? Date.now)());
  const message =
    jobs > 1 && status.left > 0
      ? `That makes ${jobsWord(jobs)}, but only ${status.left} of your daily quota of ${status.perDay} (${status.source}) ${status.left === 1 ? 'is' : 'are'} left. It resets ${when}.`
      : `You've used your daily quota of ${jobsWord(status.perDay)} (${status.source}). It resets ${when}.`;
  return new UserError(ErrorCode.QuotaExceeded, message, {
    limit: 'daily quota',
    used: status.used,
    perDay: status.perDay,
    resetsAt: status.resetsAt,
  });
}

/** `quota` (`/quota`): what you have used and have left today, and when it resets. */
export function quota(deps: CommandDeps, ctx: ChatContext, jobsPerHour: number | undefined): Reply {
  const status = quotaStatus(deps, ctx);
  const now = (deps.now ?? Date.now)();
  const hour = deps.store.countJobsSince(ctx.userId, now - HOUR);
  const day =
    status.perDay === undefined
      ? `Today you have made ${jobsWord(status.used)}; ${ctx.isAdmin ? 'admins have no daily quota' : 'there is no daily quota here'}.`
      : `Today: ${status.used} of ${jobsWord(status.perDay)} used (quota ${status.source}), ${status.left} left. It resets ${whenText(status.resetsAt, now)}.`;
  const hourly = jobsPerHour === undefined ? '' : `\nThis hour: ${hour} of ${jobsWord(jobsPerHour)}.`;
  return say(`${day}${hourly}`);
}

/** `settings admin quota 50/day [@role]` and `settings admin quota off [@role]`. */
export function setQuota(deps: CommandDeps, ctx: ChatContext, words: readonly string[]): Reply {
  const [amount = '', roleWord] = words;
  const value = /^(off|none|reset)$/i.test(amount)
    ? undefined
    : /^(\d{1,6})(?:\s*\/\s*(?:day|d))?$/i.exec(amount)?.[1];
  if (!/^(off|none|reset)$/i.test(amount) && value === undefined)
    return say('Use "settings admin quota 50/day" (jobs a day per person), or "settings admin quota off".');
  const perDay = value === undefined ? undefined : Number(value);
  if (perDay !== undefined && perDay > 100_000) return say('A quota can be at most 100000 jobs a day.');
  if (roleWord === undefined) {
    deps.store.setSetting('global', 'admin', 'quotaPerDay', perDay);
    return say(
      perDay === undefined
        ? 'There is no daily quota now.'
        : `Everyone may now queue ${jobsWord(perDay)} a day.`,
    );
  }
  if (ctx.platform !== 'discord')
    return say(
      `Roles are a Discord thing; here a quota applies to everyone ("settings admin quota ${amount}").`,
    );
  const role = roleKeyOf(roleWord);
  if (!role)
    return say(`"${roleWord}" is not a role; mention it, e.g. "settings admin quota 100/day @artists".`);
  const roleQuotas = { ...(adminSettings(deps.store).roleQuotas ?? {}) };
  if (perDay === undefined) delete roleQuotas[role];
  else roleQuotas[role] = perDay;
  deps.store.setSetting('global', 'admin', 'roleQuotas', roleQuotas);
  return say(
    perDay === undefined
      ? `${showRole(role)} has no quota of its own now.`
      : `Members of ${showRole(role)} may now queue ${jobsWord(perDay)} a day.`,
  );
}

/** `settings admin quota-reset @user`: that person's jobs so far today no longer count. */
export function resetQuota(deps: CommandDeps, words: readonly string[]): Reply {
  const userId = words[0] ? userIdOf(words[0]) : undefined;
  if (!userId) return say('Use "settings admin quota-reset @user".');
  deps.store.setSetting('user', userId, RESET_KEY, (deps.now ?? Date.now)());
  return say(`<@${userId}>'s quota for today is reset.`);
}
