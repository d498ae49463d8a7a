/**
 * The local web playground and mask editor: an adapter like Discord and Slack. It serves a chat page,
 * turns its requests into internal events, streams job progress over server-sent events, keeps the
 * conversation in the store (so it survives reloads and restarts), and hosts the signed mask editor.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import type { Bot } from '../../commands/bot.js';
import type { ChatLogEntry } from '../../commands/conversations.js';
import type { ChatContext, InboundEventInput, Reply, ResultView } from '../../commands/types.js';
import type { Core } from '../../src/app.js';
import { ConfigError, publicMessage } from '../../src/errors.js';
import type { LinkSigner } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import { watchJobs } from '../jobs.js';
import {
  allowedHosts,
  checkHost,
  checkStateChange,
  forbidFraming,
  isLoopback,
  loginCookie,
  Refusal,
  readJsonBody,
  tokenProof,
  withoutToken,
} from './guard.js';
import { finishedEntry, takeStatus } from './status.js';
import { parseUploadRequest } from './upload.js';

const log = createLogger('web');
const PUBLIC = path.join(import.meta.dirname, 'public');
const PLATFORM = 'web';
const CHANNEL = 'playground';
const USER = 'local';
const STATIC: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
  '/editor.js': ['editor.js', 'text/javascript; charset=utf-8'],
  '/upload.js': ['upload.js', 'text/javascript; charset=utf-8'],
};
/** What the mask editor's page loads: public, since its signed link is its only credential. */
const EDITOR_ASSETS = new Set(['/app.css', '/editor.js']);

/** An entry as the page shows it. */
interface EntryJson {
  readonly messageId: string;
  readonly author: string;
  readonly fromBot: boolean;
  readonly text: string;
  readonly replyTo: string | null;
  readonly jobId: string | null;
  readonly image: (ResultView & { url: string }) | null;
}

/** Options of {@link WebAdapter}. */
export interface WebOptions {
  readonly core: Core;
  readonly bot: Bot;
  readonly signer: LinkSigner;
  readonly host: string;
  readonly port: number;
  /** Required on non-loopback hosts. */
  readonly token?: string | undefined;
  /** The public address, whose host is served besides the loopback names. */
  readonly publicUrl?: string | undefined;
}

/** The playground server. */
export class WebAdapter {
  private readonly options: WebOptions;
  private readonly server: Server;
  private readonly clients = new Set<ServerResponse>();
  private readonly lastProgress = new Map<string, number>();
  private hosts = new Set<string>();
  /** The latest preview of each running job (any platform), for Slack's progress messages. */
  private readonly previews = new Map<string, Uint8Array>();

  /** Refuses (ConfigError) a non-loopback address without WEB_TOKEN: that would open it to anyone. */
  constructor(options: WebOptions) {
    if (!isLoopback(options.host) && !options.token) {
      throw new ConfigError(
        `HOST=${options.host} makes the playground reachable from other machines, so it needs WEB_TOKEN: set WEB_TOKEN to a long random secret, or bind HOST=127.0.0.1.`,
      );
    }
    this.options = options;
    this.server = createServer((req, res) => {
      forbidFraming(res);
      this.route(req, res).catch((error: unknown) => {
        if (error instanceof Refusal) {
          if (!res.headersSent) this.json(res, error.status, { error: error.message });
          else res.end();
          return;
        }
        const text = publicMessage(error, log, 'request failed', { path: req.url?.split('?')[0] });
        if (!res.headersSent) this.json(res, 500, { error: text });
        else res.end();
      });
    });
    this.subscribe();
  }

  /** Starts listening; resolves with the URL. */
  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        const address = this.server.address();
        const port = typeof address === 'object' && address ? address.port : this.options.port;
        this.hosts = allowedHosts(this.options.host, port, this.options.publicUrl);
        const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
        resolve(`http://${host}:${port}`);
      });
    });
  }

  /** Stops the server and closes event streams. */
  async close(): Promise<void> {
    for (const client of this.clients) client.end();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A preview link (relative to this server) for a job: signed, so job ids can't be guessed through. */
  previewPath(jobId: string): string {
    return `/previews/${jobId}.png?sig=${this.options.signer.tag(`preview:${jobId}`)}`;
  }

  /** A mask-editor link (relative to this server) for an image. */
  editorPath(imageId: string, userId: string, platform: string, channelId: string): string {
    return `/editor?${this.options.signer.query(imageId, userId, platform, channelId)}`;
  }

  // ---- requests ---------------------------------------------------------------------------------------

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    checkHost(req, this.hosts);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const imageMatch = /^\/images\/([a-z0-9]{4,12})\.png$/.exec(url.pathname);
    // The mask editor: its signed link (one image, one owner, 15 minutes) is its only credential.
    if (req.method === 'GET' && url.pathname === '/editor') return this.editorPage(url, res);
    if (req.method === 'GET' && EDITOR_ASSETS.has(url.pathname)) return this.staticFile(url.pathname, res);
    const preview = /^\/previews\/([a-z0-9]{4,12})\.png$/.exec(url.pathname);
    if (req.method === 'GET' && preview)
      return this.preview(preview[1]!, url.searchParams.get('sig') ?? '', res);
    if (req.method === 'GET' && imageMatch && this.signedFor(url, imageMatch[1]!))
      return this.image(imageMatch[1]!, false, res);
    if (req.method === 'POST' && url.pathname === '/api/editor') {
      checkStateChange(req, this.options.token);
      return this.applyMask(await readJsonBody(req, res), res);
    }
    if (!this.admitted(req, url, res)) return;
    if (req.method === 'POST') checkStateChange(req, this.options.token);
    if (req.method === 'GET' && STATIC[url.pathname]) return this.staticFile(url.pathname, res);
    if (req.method === 'GET' && imageMatch)
      return this.image(imageMatch[1]!, url.searchParams.has('download'), res);
    if (req.method === 'GET' && url.pathname === '/api/history')
      return this.json(res, 200, { entries: this.history() });
    if (req.method === 'GET' && url.pathname === '/api/events') return this.events(req, res);
    const lineage = /^\/api\/images\/([a-z0-9]{4,12})$/.exec(url.pathname);
    if (req.method === 'GET' && lineage) return this.lineage(lineage[1]!, res);
    if (req.method === 'POST' && url.pathname === '/api/message')
      return this.message(await readJsonBody(req, res), res);
    if (req.method === 'POST' && url.pathname === '/api/upload')
      return this.upload(await readJsonBody(req, res), res);
    if (req.method === 'POST' && url.pathname === '/api/action')
      return this.action(await readJsonBody(req, res), res);
    if (req.method === 'POST' && url.pathname === '/api/reaction')
      return this.reaction(await readJsonBody(req, res), res);
    this.json(res, 404, { error: 'Not found' });
  }

  private staticFile(pathname: string, res: ServerResponse): void {
    const [file, type] = STATIC[pathname]!;
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
    res.end(readFileSync(path.join(PUBLIC, file)));
  }

  /** True when the query is a valid editor link for this image. */
  private signedFor(url: URL, imageId: string): boolean {
    const grant = this.options.signer.verify(url.searchParams);
    return grant.ok && grant.value.imageId === imageId;
  }

  /**
   * True when the request may go on; otherwise it has been answered. Without WEB_TOKEN anyone who
   * reaches the (loopback) server may; with it, a request needs the token as a Bearer header or the
   * login cookie. Opening a page with `?token=` sets that cookie and redirects to the address without it.
   */
  private admitted(req: IncomingMessage, url: URL, res: ServerResponse): boolean {
    const token = this.options.token;
    if (!token) return true;
    const proof = tokenProof(req, url, token);
    if (proof === 'query' && (req.method === 'GET' || req.method === 'HEAD')) {
      const secure = this.options.publicUrl?.startsWith('https:') ?? false;
      res.writeHead(303, {
        'set-cookie': loginCookie(token, secure),
        location: withoutToken(url),
        'cache-control': 'no-store',
      });
      res.end();
      return false;
    }
    if (proof) return true;
    res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('flowbot: this playground needs a login token. Open it with ?token=<WEB_TOKEN>.');
    return false;
  }

  private json(res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(value));
  }

  private ctx(): ChatContext {
    return { platform: PLATFORM, userId: USER, userName: 'you', channelId: CHANNEL, isAdmin: true };
  }

  private async message(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const text = typeof body.text === 'string' ? body.text.trim() : '';
    const replyTo = typeof body.replyTo === 'string' ? body.replyTo : null;
    if (!text) return this.json(res, 400, { error: 'Type a prompt, or /help.' });
    const user = this.conversations().logChat({
      platform: PLATFORM,
      channelId: CHANNEL,
      messageId: `u-${randomId()}`,
      author: USER,
      fromBot: false,
      text,
      replyTo,
      jobId: null,
      imageId: null,
    });
    this.broadcast({ type: 'entry', entry: this.entryJson(user) });
    // Without a chosen message the command layer decides: a command, an edit of the latest image, or a prompt.
    const event: InboundEventInput = replyTo
      ? { kind: 'reply', text, target: { channelId: CHANNEL, messageId: replyTo }, ctx: this.ctx() }
      : { kind: 'message', text, ctx: this.ctx() };
    const replies = await this.options.bot.handle(event);
    // The person's own line comes back first: the page shows it before the answers even when this
    // response overtakes its event on the stream.
    const mine = this.entryJson(user);
    this.json(res, 200, { mine, replies: replies.map((r) => this.deliver(r, user.messageId)) });
  }

  /** A picture uploaded (button, drop or paste), with the words typed so far as its instruction. */
  private async upload(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const upload = parseUploadRequest(body);
    if (!upload.ok) return this.json(res, 400, { error: upload.error });
    const messageId = `u-${randomId()}`;
    const replies = await this.options.bot.handle({
      kind: 'upload',
      text: upload.text,
      ctx: { ...this.ctx(), messageId },
      attachment: { name: upload.name, size: upload.bytes.length, bytes: upload.bytes },
    });
    // The person's line shows the picture once it is an image of the conversation.
    const admitted = this.conversations().findChatMessage(PLATFORM, CHANNEL, messageId)?.imageId ?? null;
    const user = this.conversations().logChat({
      platform: PLATFORM,
      channelId: CHANNEL,
      messageId,
      author: USER,
      fromBot: false,
      text: upload.text || `(uploaded ${upload.name})`,
      replyTo: null,
      jobId: null,
      imageId: admitted,
    });
    this.broadcast({ type: 'entry', entry: this.entryJson(user) });
    // The person's line already shows the picture with its buttons: it is not posted a second time.
    const answers = replies.filter((r) => !(r.type === 'image' && r.view.imageId === admitted));
    this.json(res, 200, {
      mine: this.entryJson(user),
      replies: answers.map((r) => this.deliver(r, messageId)),
    });
  }

  private async action(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const customId = typeof body.customId === 'string' ? body.customId : '';
    const fields =
      typeof body.fields === 'object' && body.fields !== null
        ? (body.fields as Record<string, string>)
        : undefined;
    const replies = await this.options.bot.handle({
      kind: 'action',
      customId,
      ctx: this.ctx(),
      ...(fields ? { fields } : {}),
    });
    this.json(res, 200, { replies: replies.map((r) => this.deliver(r, null)) });
  }

  private async reaction(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const emoji = typeof body.emoji === 'string' ? body.emoji : '';
    const messageId = typeof body.messageId === 'string' ? body.messageId : '';
    const replies = await this.options.bot.handle({
      kind: 'reaction',
      emoji,
      target: { channelId: CHANNEL, messageId },
      ctx: this.ctx(),
    });
    this.json(res, 200, { replies: replies.map((r) => this.deliver(r, messageId)) });
  }

  /** Shows a reply: logged into the conversation, or returned to the page for forms and notes. */
  private deliver(reply: Reply, replyTo: string | null): unknown {
    switch (reply.type) {
      case 'text':
      case 'dm':
        return { type: reply.type === 'dm' ? 'note' : 'text', text: reply.text };
      case 'modal':
        return { type: 'modal', modal: reply.modal };
      case 'delete':
        this.conversations().deleteChatLog(reply.messageId);
        this.broadcast({ type: 'delete', messageId: reply.messageId });
        return { type: 'deleted' };
      case 'image': {
        const entry = this.postImage(reply.view, `i-${randomId()}`, replyTo);
        return { type: 'entry', entry };
      }
      case 'queued': {
        // A quick job (an exact edit) may be over already: its answer took the status's place.
        const answered = finishedEntry(this.conversations(), reply.jobId);
        if (answered) return { type: 'entry', entry: this.entryJson(answered) };
        const status = this.conversations().logChat({
          platform: PLATFORM,
          channelId: CHANNEL,
          messageId: `s-${reply.jobId}`,
          author: 'flowbot',
          fromBot: true,
          text: reply.text,
          replyTo,
          jobId: reply.jobId,
          imageId: null,
        });
        this.conversations().recordChatMessage({
          platform: PLATFORM,
          channelId: CHANNEL,
          messageId: status.messageId,
          jobId: reply.jobId,
        });
        const entry = this.entryJson(status);
        this.broadcast({ type: 'entry', entry });
        return { type: 'entry', entry };
      }
    }
  }

  /** Posts a result; `replaces` names the status message it takes the place of, on the page too. */
  private postImage(
    view: ResultView,
    messageId: string,
    replyTo: string | null,
    replaces?: string,
  ): EntryJson {
    this.conversations().recordChatMessage({
      platform: PLATFORM,
      channelId: CHANNEL,
      messageId,
      imageId: view.imageId,
      jobId: view.jobId,
    });
    const logged = this.conversations().logChat({
      platform: PLATFORM,
      channelId: CHANNEL,
      messageId,
      author: 'flowbot',
      fromBot: true,
      text: view.text,
      replyTo,
      jobId: view.jobId,
      imageId: view.imageId,
    });
    const entry = this.entryJson(logged);
    this.broadcast({ type: 'entry', entry, ...(replaces ? { replaces } : {}) });
    return entry;
  }

  private history(): EntryJson[] {
    return this.conversations()
      .chatLog(PLATFORM, CHANNEL)
      .map((e) => this.entryJson(e));
  }

  private entryJson(entry: ChatLogEntry): EntryJson {
    let image: EntryJson['image'] = null;
    if (entry.imageId) {
      const record = this.conversations().getImage(entry.imageId);
      if (record) {
        const view = this.viewFor(record.id, entry.text);
        if (view) image = { ...view, file: '', url: `/images/${record.id}.png` };
      }
    }
    return {
      messageId: entry.messageId,
      author: entry.author,
      fromBot: entry.fromBot,
      text: entry.text,
      replyTo: entry.replyTo,
      jobId: entry.jobId,
      image,
    };
  }

  private viewFor(imageId: string, text: string): ResultView | undefined {
    const record = this.conversations().getImage(imageId);
    if (!record) return undefined;
    const view = record.jobId ? this.options.bot.resultView(record.jobId) : undefined;
    if (view && view.imageId === imageId) return { ...view, text };
    // An older image shown again (undo): build its view through the job-less path.
    return this.options.bot.imageView(imageId, text);
  }

  private image(imageId: string, download: boolean, res: ServerResponse): void {
    const record = this.conversations().getImage(imageId);
    if (!record) {
      this.json(res, 404, { error: 'No such image.' });
      return;
    }
    const headers: Record<string, string> = {
      'content-type': 'image/png',
      'cache-control': 'public, max-age=31536000, immutable',
    };
    if (download) headers['content-disposition'] = `attachment; filename="flowbot-${record.id}.png"`;
    res.writeHead(200, headers);
    res.end(readFileSync(this.options.core.files.resolve(record.filePath)));
  }

  private lineage(imageId: string, res: ServerResponse): void {
    const chain = this.conversations().lineage(imageId);
    if (chain.length === 0) {
      this.json(res, 404, { error: 'No such image.' });
      return;
    }
    this.json(res, 200, {
      lineage: chain.map((i) => ({
        id: i.id,
        operation: i.operation,
        prompt: i.prompt,
        negativePrompt: i.negativePrompt,
        seed: i.seed,
        steps: i.steps,
        guidance: i.guidance,
        scheduler: i.scheduler,
        model: i.model,
        width: i.width,
        height: i.height,
        strength: i.strength,
        url: `/images/${i.id}.png`,
      })),
    });
  }

  // ---- progress ---------------------------------------------------------------------------------------

  private events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(': connected\n\n');
    this.clients.add(res);
    req.on('close', () => this.clients.delete(res));
  }

  private broadcast(event: Record<string, unknown>): void {
    const data = `data: ${JSON.stringify(event)}\n\n`;
    for (const client of this.clients) client.write(data);
  }

  private preview(jobId: string, sig: string, res: ServerResponse): void {
    if (!this.options.signer.checkTag(`preview:${jobId}`, sig)) {
      this.json(res, 403, { error: 'Not a valid preview link.' });
      return;
    }
    const png = this.previews.get(jobId);
    if (!png) {
      this.json(res, 404, { error: 'No preview for that job (it may have finished).' });
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
    res.end(png);
  }

  private subscribe(): void {
    const queue = this.options.core.queue;
    queue.on('progress', (job, progress) => progress.preview && this.previews.set(job.id, progress.preview));
    queue.on('succeeded', (job) => this.previews.delete(job.id));
    queue.on('failed', (job) => this.previews.delete(job.id));
    queue.on('cancelled', (job) => this.previews.delete(job.id));
    watchJobs(this.options.core.queue, PLATFORM, {
      started: (job) => this.broadcast({ type: 'progress', jobId: job.id, step: 0, total: 1 }),
      progress: (job, progress) => {
        const now = Date.now();
        const last = this.lastProgress.get(job.id) ?? 0;
        if (now - last < 250 && progress.step < progress.total && !progress.preview) return;
        this.lastProgress.set(job.id, now);
        this.broadcast({
          type: 'progress',
          jobId: job.id,
          step: progress.step,
          total: progress.total,
          ...(progress.preview
            ? { preview: `data:image/png;base64,${Buffer.from(progress.preview).toString('base64')}` }
            : {}),
        });
      },
      notice: (job, text) => this.broadcast({ type: 'notice', jobId: job.id, text }),
      succeeded: (job) => {
        this.lastProgress.delete(job.id);
        const view = this.options.bot.resultView(job.id);
        if (!view) return;
        // One message per job: the result takes the status message's place.
        const status = takeStatus(this.conversations(), job.id);
        this.postImage(view, `r-${job.id}`, status?.replyTo ?? null, status?.messageId);
        this.broadcast({ type: 'done', jobId: job.id });
      },
      ended: (job, text) => {
        this.lastProgress.delete(job.id);
        const status = takeStatus(this.conversations(), job.id);
        const entry = this.conversations().logChat({
          platform: PLATFORM,
          channelId: CHANNEL,
          messageId: `e-${job.id}`,
          author: 'flowbot',
          fromBot: true,
          text,
          replyTo: status?.replyTo ?? null,
          jobId: job.id,
          imageId: null,
        });
        const replaces = status?.messageId;
        this.broadcast({ type: 'entry', entry: this.entryJson(entry), ...(replaces ? { replaces } : {}) });
        this.broadcast({ type: 'done', jobId: job.id });
      },
    });
  }

  // ---- mask editor ------------------------------------------------------------------------------------

  private editorPage(url: URL, res: ServerResponse): void {
    const grant = this.options.signer.verify(url.searchParams);
    if (!grant.ok) {
      const why =
        grant.error === 'expired'
          ? 'This editing link has expired (links last 15 minutes).'
          : 'This editing link is not valid: it was changed or is incomplete.';
      res.writeHead(grant.error === 'expired' ? 410 : 403, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><meta charset="utf-8"><title>flowbot · link problem</title><link rel="stylesheet" href="/app.css"><main class="notice"><h1>Can't open the editor</h1><p id="problem">${why}</p><p>Press “Vary region” on the image again for a fresh link.</p></main>`,
      );
      return;
    }
    const record = this.conversations().getImage(grant.value.imageId);
    if (!record) {
      this.json(res, 404, { error: 'No such image.' });
      return;
    }
    // Function replacements: a prompt's "$`" or "$&" must not be read as a replacement pattern.
    const values: Record<string, string> = {
      __IMAGE_URL__: escapeHtml(`/images/${record.id}.png?${url.searchParams.toString()}`),
      __PROMPT__: escapeHtml(record.prompt),
      __QUERY__: escapeHtml(url.searchParams.toString()),
      __WIDTH__: String(record.width),
      __HEIGHT__: String(record.height),
    };
    const page = readFileSync(path.join(PUBLIC, 'editor.html'), 'utf8').replace(
      /__(IMAGE_URL|PROMPT|QUERY|WIDTH|HEIGHT)__/g,
      (name) => values[name]!,
    );
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page);
  }

  private async applyMask(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const grant = this.options.signer.verify(
      new URLSearchParams(typeof body.query === 'string' ? body.query : ''),
    );
    if (!grant.ok)
      return this.json(res, grant.error === 'expired' ? 410 : 403, {
        error:
          grant.error === 'expired' ? 'This editing link has expired.' : 'This editing link is not valid.',
      });
    const dataUrl = typeof body.mask === 'string' ? body.mask : '';
    const match = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(dataUrl);
    if (!match) return this.json(res, 400, { error: 'The mask must be a PNG image.' });
    const bytes = Buffer.from(match[1]!, 'base64');
    const { userId, platform, channelId, imageId } = grant.value;
    const ctx = { platform: platform as ChatContext['platform'], userId, channelId, isAdmin: false };
    const replies = await this.options.bot.applyDrawnMask(
      ctx,
      imageId,
      { name: 'drawing', size: bytes.length, bytes },
      typeof body.prompt === 'string' ? body.prompt : '',
    );
    const reply = replies[0];
    if (reply?.type === 'queued' && platform === PLATFORM) this.deliver(reply, null);
    this.json(res, 200, {
      replies: replies.map((r) =>
        r.type === 'text'
          ? { type: 'text', text: r.text }
          : { type: r.type, ...(r.type === 'queued' ? { jobId: r.jobId, text: r.text } : {}) },
      ),
    });
  }

  private conversations() {
    return this.options.bot.conversations;
  }
}

function randomId(): string {
  return randomBytes(6).toString('hex');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
