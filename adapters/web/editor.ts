/**
 * The mask editor: its page, opened from a signed link (one image, one owner, 15 minutes: the link is its
 * only credential), and the drawn mask it sends back, which repaints that region of the image.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bot } from '../../commands/bot.js';
import type { Place, Platform } from '../../commands/surface.js';
import type { Reply } from '../../commands/types.js';
import type { LinkSigner } from '../../src/links.js';

const PUBLIC = path.join(import.meta.dirname, 'public');
const PLATFORMS: readonly Platform[] = ['discord', 'slack', 'web', 'cli'];

/** The editor's page for a signed link, or the page that says why it cannot open. */
export function editorPage(
  signer: LinkSigner,
  bot: Bot,
  query: URLSearchParams,
): { status: number; html: string } {
  const grant = signer.verify(query);
  if (!grant.ok) {
    const why =
      grant.error === 'expired'
        ? 'This editing link has expired (links last 15 minutes).'
        : 'This editing link is not valid: it was changed or is incomplete.';
    return {
      status: grant.error === 'expired' ? 410 : 403,
      html: `<!doctype html><meta charset="utf-8"><title>flowbot · link problem</title><link rel="stylesheet" href="/app.css"><main class="notice"><h1>Can't open the editor</h1><p id="problem">${why}</p><p>Press “Vary region” on the image again for a fresh link.</p></main>`,
    };
  }
  const record = bot.image(grant.value.imageId);
  if (!record) return { status: 404, html: '<!doctype html><p>No such image.</p>' };
  // Function replacements: a prompt's "$`" or "$&" must not be read as a replacement pattern.
  const values: Record<string, string> = {
    __IMAGE_URL__: escapeHtml(`/images/${record.id}.png?${query.toString()}`),
    __PROMPT__: escapeHtml(record.prompt),
    __QUERY__: escapeHtml(query.toString()),
    __WIDTH__: String(record.width),
    __HEIGHT__: String(record.height),
  };
  const html = readFileSync(path.join(PUBLIC, 'editor.html'), 'utf8').replace(
    /__(IMAGE_URL|PROMPT|QUERY|WIDTH|HEIGHT)__/g,
    (name) => values[name]!,
  );
  return { status: 200, html };
}

/** What applying a drawn mask answers: the HTTP reply, and the command layer's replies to show. */
export interface AppliedMask {
  readonly status: number;
  readonly body: unknown;
  readonly replies: readonly Reply[];
  readonly platform?: Platform;
  /** Where the link's image is: the job's status and result go there. */
  readonly place?: Place;
}

/** Checks the signed link and the drawing (a PNG data URL), then repaints the drawn region. */
export async function applyDrawnMask(
  signer: LinkSigner,
  bot: Bot,
  body: Record<string, unknown>,
): Promise<AppliedMask> {
  const grant = signer.verify(new URLSearchParams(typeof body.query === 'string' ? body.query : ''));
  if (!grant.ok) {
    const expired = grant.error === 'expired';
    const error = expired ? 'This editing link has expired.' : 'This editing link is not valid.';
    return { status: expired ? 410 : 403, body: { error }, replies: [] };
  }
  const dataUrl = typeof body.mask === 'string' ? body.mask : '';
  const match = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(dataUrl);
  if (!match) return { status: 400, body: { error: 'The mask must be a PNG image.' }, replies: [] };
  const { userId, channelId, imageId } = grant.value;
  const platform = PLATFORMS.find((known) => known === grant.value.platform);
  if (!platform) return { status: 403, body: { error: 'This editing link is not valid.' }, replies: [] };
  const bytes = Buffer.from(match[1]!, 'base64');
  const replies = await bot.applyDrawnMask(
    { platform, userId, channelId, isAdmin: false },
    imageId,
    { name: 'drawing', size: bytes.length, bytes },
    typeof body.prompt === 'string' ? body.prompt : '',
  );
  const answers = replies.map((r) =>
    r.type === 'text'
      ? { type: 'text', text: r.text }
      : { type: r.type, ...(r.type === 'queued' ? { jobId: r.jobId, text: r.text } : {}) },
  );
  return { status: 200, body: { replies: answers }, replies, platform, place: { userId, channelId } };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
