/**
 * The Discord invite link asks for exactly the permissions the README lists, computed from one named
 * list of discord.js flags.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PermissionFlagsBits } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { INVITE_PERMISSIONS, invitePermissions, inviteUrl } from '../adapters/discord/invite.js';

/** The README's "Connecting Discord" section, with its line breaks as single spaces. */
function connectingDiscord(): string {
  const readme = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const section = /^## Connecting Discord\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  return section.replace(/\s+/g, ' ');
}

describe('the Discord invite link', () => {
  it('carries the bits of the named permissions: View Channels in, Embed Links out', () => {
    const bits = invitePermissions();
    expect(bits).toBe(INVITE_PERMISSIONS.reduce((sum, p) => sum + PermissionFlagsBits[p.flag], 0n));
    expect(bits & PermissionFlagsBits.ViewChannel).toBe(PermissionFlagsBits.ViewChannel);
    expect(bits & PermissionFlagsBits.SendMessagesInThreads).toBe(PermissionFlagsBits.SendMessagesInThreads);
    expect(bits & PermissionFlagsBits.EmbedLinks).toBe(0n);
    expect(inviteUrl('123')).toBe(
      `https://discord.com/oauth2/authorize?client_id=123&scope=bot%20applications.commands&permissions=${bits}`,
    );
  });

  it('is the one the README shows, asking for the permissions the README lists', () => {
    const section = connectingDiscord();
    const listed = /these permissions: ([^.:]+)[.:]/.exec(section)?.[1]?.split(/,\s*/);
    expect(listed).toEqual(INVITE_PERMISSIONS.map((p) => p.shown));
    expect(section).toContain(inviteUrl('<APPLICATION_ID>'));
    expect([...section.matchAll(/permissions=(\d+)/g)].map((m) => m[1])).toEqual([
      String(invitePermissions()),
    ]);
  });
});
