/**
 * The permissions the Discord bot is invited with: one named list, from which the invite link's number
 * is computed. The README's "Connecting Discord" step shows the same list, by the names Discord's
 * authorisation page uses, and the same link (test/discord-invite.test.ts holds the three together).
 */
import { PermissionFlagsBits } from 'discord.js';

/** What the bot needs, each as discord.js names the flag and as Discord shows it to whoever invites. */
export const INVITE_PERMISSIONS = [
  { flag: 'ViewChannel', shown: 'View Channels' }, // to see the channels it answers in at all
  { flag: 'SendMessages', shown: 'Send Messages' }, // status lines and results
  { flag: 'SendMessagesInThreads', shown: 'Send Messages in Threads' }, // thread conversations
  { flag: 'AttachFiles', shown: 'Attach Files' }, // the images
  { flag: 'ReadMessageHistory', shown: 'Read Message History' }, // replies to its results
  { flag: 'AddReactions', shown: 'Add Reactions' },
  { flag: 'UseExternalEmojis', shown: 'Use External Emojis' },
] as const satisfies readonly { flag: keyof typeof PermissionFlagsBits; shown: string }[];

/** The permission bits of {@link INVITE_PERMISSIONS}, as the invite link's `permissions` carries them. */
export function invitePermissions(): bigint {
  return INVITE_PERMISSIONS.reduce((bits, { flag }) => bits | PermissionFlagsBits[flag], 0n);
}

/** The link that adds the bot to a server, with its slash commands and {@link INVITE_PERMISSIONS}. */
export function inviteUrl(applicationId: string): string {
  return `https://discord.com/oauth2/authorize?client_id=${applicationId}&scope=bot%20applications.commands&permissions=${invitePermissions()}`;
}
