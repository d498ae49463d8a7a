/**
 * The local web playground and mask editor: an adapter like Discord and Slack. It serves a chat page,
 * turns its requests into internal events, streams job progress over server-sent events, keeps the
 * conversation in the store (so it survives reloads and restarts), and hosts the signed mask editor.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import type { Bot } from '../../commands/bot.js';
import { blurredCopy, type Outbox } from '../../commands/delivery.js';
import type { ChatContext, InboundEventInput, Reply } from '../../commands/types.js';
import { ConfigError, publicMessage } from '../../src/errors.js';
import type { LinkSigner } from '../../src/links.js';
import { createLogger } from '../../src/log.js';
import { applyDrawnMask, editorPage } from './editor.js';
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
import { CHANNEL, PLATFORM, randomId, type WebAnswer, WebSurface } from './surface.js';
import { parseUploadRequest } from './upload.js';

const log = createLogger('web');
const PUBLIC = path.join(import.meta.dirname, 'public');
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

/** Options of {@link WebAdapter}. */
export interface WebOptions {
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
  private readonly surface: WebSurface;
  private readonly outbox: Outbox<WebAnswer>;
  private hosts = new Set<string>();

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
    this.surface = new WebSurface(options.bot);
    this.outbox = options.bot.delivery.attach(this.surface);
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
    this.surface.closeAll();
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
      return this.image(imageMatch[1]!, url.searchParams, res);
    if (req.method === 'POST' && url.pathname === '/api/editor') {
      checkStateChange(req, this.options.token);
      return this.applyMask(await readJsonBody(req, res), res);
    }
    if (!this.admitted(req, url, res)) return;
    if (req.method === 'POST') checkStateChange(req, this.options.token);
    if (req.method === 'GET' && STATIC[url.pathname]) return this.staticFile(url.pathname, res);
    if (req.method === 'GET' && imageMatch) return this.image(imageMatch[1]!, url.searchParams, res);
    if (req.method === 'GET' && url.pathname === '/api/history')
      return this.json(res, 200, { entries: this.surface.history() });
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
    const mine = this.surface.add({
      messageId: `u-${randomId()}`,
      author: USER,
      fromBot: false,
      text,
      replyTo,
      jobId: null,
      imageId: null,
    });
    // Without a chosen message the command layer decides: a command, an edit of the latest image, or a prompt.
    const event: InboundEventInput = replyTo
      ? { kind: 'reply', text, target: { channelId: CHANNEL, messageId: replyTo }, ctx: this.ctx() }
      : { kind: 'message', text, ctx: this.ctx() };
    const replies = await this.options.bot.handle(event);
    // The person's own line comes back first: the page shows it before the answers even when this
    // response overtakes its event on the stream.
    this.json(res, 200, { mine, replies: await this.deliver(replies, mine.messageId) });
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
    const admitted = this.options.bot.delivery.imageShownBy(PLATFORM, CHANNEL, messageId) ?? null;
    const mine = this.surface.add({
      messageId,
      author: USER,
      fromBot: false,
      text: upload.text || `(uploaded ${upload.name})`,
      replyTo: null,
      jobId: null,
      imageId: admitted,
    });
    // The person's line already shows the picture with its buttons: it is not posted a second time.
    const answers = replies.filter((r) => !(r.type === 'image' && r.view.imageId === admitted));
    this.json(res, 200, { mine, replies: await this.deliver(answers, messageId) });
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
    this.json(res, 200, { replies: await this.deliver(replies, null) });
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
    this.json(res, 200, { replies: await this.deliver(replies, messageId) });
  }

  /** Shows replies through Delivery; what answers this request comes back in its response. */
  private async deliver(replies: readonly Reply[], replyTo: string | null): Promise<unknown[]> {
    const answer: WebAnswer = { answers: [] };
    await this.outbox.deliver(
      replies,
      { userId: USER, channelId: CHANNEL, replyTo: replyTo ?? undefined },
      answer,
    );
    answer.sent = true;
    return answer.answers;
  }

  /** An image's PNG (`?download` as a file; `?blurred=1` its blurred copy, for images held as spoilers). */
  private async image(imageId: string, query: URLSearchParams, res: ServerResponse): Promise<void> {
    const file = this.options.bot.imageFile(imageId);
    if (!file) {
      this.json(res, 404, { error: 'No such image.' });
      return;
    }
    const headers: Record<string, string> = {
      'content-type': 'image/png',
      'cache-control': 'public, max-age=31536000, immutable',
    };
    if (query.has('download'))
      headers['content-disposition'] = `attachment; filename="flowbot-${imageId}.png"`;
    const png = readFileSync(file);
    const body = query.get('blurred') === '1' ? await blurredCopy(png) : png;
    res.writeHead(200, headers);
    res.end(body);
  }

  private lineage(imageId: string, res: ServerResponse): void {
    const chain = this.options.bot.lineage(imageId);
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
    req.on('close', this.surface.follow(res));
  }

  private preview(jobId: string, sig: string, res: ServerResponse): void {
    if (!this.options.signer.checkTag(`preview:${jobId}`, sig)) {
      this.json(res, 403, { error: 'Not a valid preview link.' });
      return;
    }
    const png = this.options.bot.delivery.preview(jobId);
    if (!png) {
      this.json(res, 404, { error: 'No preview for that job (it may have finished).' });
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
    res.end(png);
  }

  // ---- mask editor ------------------------------------------------------------------------------------

  private editorPage(url: URL, res: ServerResponse): void {
    const page = editorPage(this.options.signer, this.options.bot, url.searchParams);
    res.writeHead(page.status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page.html);
  }

  private async applyMask(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const applied = await applyDrawnMask(this.options.signer, this.options.bot, body);
    // The job's status goes where the image is: the playground's card, or a message in the Discord or
    // Slack channel that becomes the result (the drawing came from this page, the image lives there).
    const reply = applied.replies[0];
    if (reply?.type === 'queued' && applied.platform === PLATFORM) await this.deliver([reply], null);
    else if (reply?.type === 'queued' && applied.platform && applied.place)
      await this.options.bot.delivery.deliverTo(applied.platform, [reply], applied.place);
    this.json(res, applied.status, applied.body);
  }
}
