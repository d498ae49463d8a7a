/**
 * Roles and people as admins name them in settings: Discord's `<@&id>` role and `<@id>` user mentions,
 * Slack's `<@U123|name>`, or plain `@name` / ids. Roles are kept as their id, or their name in lower case.
 */
import type { ChatContext } from './types.js';

/** A role reference from a settings word, or undefined when the word is not one. */
export function roleKeyOf(word: string): string | undefined {
  const mention = /^<@&(\d{1,30})>$/.exec(word);
  if (mention) return mention[1];
  const name = /^@?([\p{L}\p{N}._-]{1,100})$/u.exec(word);
  return name ? name[1]!.toLowerCase() : undefined;
}

/** How a stored role reference is shown: a mention for ids, `@name` otherwise. */
export function showRole(key: string): string {
  return /^\d+$/.test(key) ? `<@&${key}>` : `@${key}`;
}

/** A user id from a mention (`<@123>`, `<@!123>`, `<@U123|name>`) or a bare id; undefined otherwise. */
export function userIdOf(word: string): string | undefined {
  const mention = /^<@!?([A-Za-z0-9]{1,40})(?:\|[^>]{0,100})?>$/.exec(word);
  if (mention) return mention[1];
  return /^[A-Za-z0-9]{5,40}$/.test(word) ? word : undefined;
}

/** True when one of the person's roles is one of `keys` (by id, or by name regardless of case). */
export function hasRole(ctx: ChatContext, keys: readonly string[]): boolean {
  return (ctx.roles ?? []).some((role) => keys.includes(role.id) || keys.includes(role.name.toLowerCase()));
}
