/**
 * Images people bring on Slack (the inbound side): a file shared with a mention of flowbot, or shared
 * in a thread of flowbot's. Files are described to the command layer with a way to fetch their
 * `url_private` with the bot token (scope `files:read`); nothing is downloaded here, and no other
 * address is ever fetched.
 */
import type { Attachment as Upload } from '../../commands/types.js';
import { type AttachmentSource, downloader, slackFiles } from '../download.js';

/** A file as Slack's events describe it (the fields flowbot reads). */
export interface SlackFile {
  readonly name?: string;
  readonly mimetype?: string;
  readonly size?: number;
  readonly url_private?: string;
}

/** Slack's file host with the bot token, plus the loopback origins a test names (none otherwise). */
export function slackFileSource(botToken: string, testOrigins: readonly string[] = []): AttachmentSource {
  return { ...slackFiles(botToken), testOrigins };
}

/** The first shared file of an event as an upload, if it has one. */
export function sharedUpload(
  files: readonly SlackFile[] | undefined,
  source: AttachmentSource,
): Upload | undefined {
  const file = files?.find((f) => typeof f.url_private === 'string');
  if (!file?.url_private) return undefined;
  return {
    name: (file.name ?? 'file').slice(0, 500),
    ...(file.mimetype ? { contentType: file.mimetype.slice(0, 200) } : {}),
    size: Number.isSafeInteger(file.size) && file.size! >= 0 ? file.size! : 0,
    fetch: downloader(file.url_private, source),
  };
}
