/**
 * Downloading a file a person attached, for the command layer to call once its cheap checks pass
 * (see `FetchAttachment`). Only the platform's own attachment hosts are fetched (over HTTPS), never a
 * link someone pasted; a download reads no more than the command layer allows, whatever size the
 * platform stated, gives up after a time limit, follows no redirect, and never throws: a failed or
 * refused download is undefined.
 */
import type { FetchAttachment } from '../commands/types.js';
import { createLogger } from '../src/log.js';

const log = createLogger('download');

/** How long one download may take, connection and body together. */
export const DOWNLOAD_TIMEOUT_MS = 20_000;

/** Where a platform's attachments live, and how to ask for them. */
export interface AttachmentSource {
  /** Host names whose HTTPS addresses may be fetched. */
  readonly hosts: readonly string[];
  /** Path prefixes on those hosts that hold attachments. */
  readonly paths: readonly string[];
  /** Request headers (Slack's bot token). */
  readonly headers?: Record<string, string>;
  /**
   * Further `host:port` origins fetched over plain HTTP, any path: the loopback fakes in tests. Empty
   * unless an adapter is given them explicitly; nothing in the environment sets them.
   */
  readonly testOrigins?: readonly string[];
  readonly timeoutMs?: number;
}

/** Discord's attachment CDN. */
export const DISCORD_ATTACHMENTS: AttachmentSource = {
  hosts: ['cdn.discordapp.com', 'media.discordapp.net'],
  paths: ['/attachments/', '/ephemeral-attachments/'],
};

/** Slack's private file URLs (`url_private`), read with the bot token (scope `files:read`). */
export function slackFiles(botToken: string): AttachmentSource {
  return {
    hosts: ['files.slack.com'],
    paths: ['/files-pri/'],
    headers: { authorization: `Bearer ${botToken}` },
  };
}

/** True when `url` is one of the source's attachment addresses. */
export function isAttachmentUrl(url: string, source: AttachmentSource): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol === 'http:' && source.testOrigins?.includes(parsed.host)) return true;
  return (
    parsed.protocol === 'https:' &&
    parsed.port === '' &&
    source.hosts.includes(parsed.hostname) &&
    source.paths.some((prefix) => parsed.pathname.startsWith(prefix))
  );
}

/** Reads `url`, stopping one byte past `maxBytes` (so that a larger file shows as larger). */
async function fetchAtMost(
  url: string,
  maxBytes: number,
  source: AttachmentSource,
): Promise<Uint8Array | undefined> {
  const response = await fetch(url, {
    redirect: 'error',
    signal: AbortSignal.timeout(source.timeoutMs ?? DOWNLOAD_TIMEOUT_MS),
    ...(source.headers ? { headers: source.headers } : {}),
  });
  if (!response.ok || !response.body) return undefined;
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of response.body) {
    chunks.push(chunk);
    received += chunk.byteLength;
    if (received > maxBytes) break; // leaving the loop cancels the rest of the body
  }
  return Buffer.concat(chunks).subarray(0, maxBytes + 1);
}

/** A download of `url` for an attachment's `fetch`; an address outside `source` is never fetched. */
export function downloader(url: string, source: AttachmentSource): FetchAttachment {
  if (!isAttachmentUrl(url, source)) {
    return async () => {
      log.warn('refused to download an attachment from outside the platform', { host: hostOf(url) });
      return undefined;
    };
  }
  return (maxBytes) =>
    fetchAtMost(url, maxBytes, source).catch((error: unknown) => {
      log.info('attachment download failed', { host: hostOf(url), reason: (error as Error).name });
      return undefined;
    });
}

/** The host of a URL, for the log (never the path or query, which may carry tokens). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'not a URL';
  }
}
