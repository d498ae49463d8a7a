/** What flowbot reads of a Discord member: their roles, for per-role quotas and model permissions. */
import type { APIInteractionGuildMember, Guild, GuildMember } from 'discord.js';
import type { ChatContext } from '../../commands/types.js';

/** A member's roles with their names (@everyone, whose id is the guild's, left out). */
export function rolesOf(
  guild: Guild | null | undefined,
  member: GuildMember | APIInteractionGuildMember | null | undefined,
): NonNullable<ChatContext['roles']> {
  if (!member) return [];
  const ids = Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
  return ids
    .filter((id) => id !== guild?.id)
    .slice(0, 250)
    .map((id) => ({ id, name: guild?.roles.cache.get(id)?.name ?? '' }));
}
