/**
 * A fake Slack on loopback, at the protocol level: the Web API over HTTP (recording every call and
 * serving the external upload flow) and a Socket Mode WebSocket speaking Slack's envelope/ack protocol.
 * The real @slack/bolt and @slack/web-api talk to it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/** One recorded Web API call. */
export interface SlackCall {
  readonly method: string;
  readonly args: Record<string, unknown>;
  /** The message ts a call posted (chat.postMessage). */
  readonly ts?: string;
}

/** The fake server. */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly uploads = new Map<string, Buffer>();
  /** Each uploaded file's name. */
  readonly fileNames = new Map<string, string>();
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private socket: WebSocket | undefined;
  private readonly acks = new Map<string, (payload: unknown) => void>();
  private tsCounter = 1_700_000_000;
  private fileCounter = 0;
  /** Files people shared, served at their url_private. */
  private readonly personFiles = new Map<string, Buffer>();
  /** The token the adapters under test use. */
  readonly botToken = 'xoxb-test';
  private readonly fileShares = new Map<string, { channel: string; ts: string; infoCalls: number }>();
  base = '';

  constructor() {
    this.server = createServer((req, res) => {
      void this.handle(req).then(([status, body]) => {
        const raw = Buffer.isBuffer(body);
        res.writeHead(status, {
          'content-type': raw
            ? 'application/octet-stream'
            : typeof body === 'string'
              ? 'text/plain'
              : 'application/json',
        });
        res.end(raw || typeof body === 'string' ? body : JSON.stringify(body));
      });
    });
    this.wss = new WebSocketServer({ server: this.server, path: '/socket' });
    this.wss.on('connection', (socket) => {
      this.socket = socket;
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { envelope_id?: string; payload?: unknown };
        if (message.envelope_id) this.acks.get(message.envelope_id)?.(message.payload);
      });
      socket.send(
        JSON.stringify({
          type: 'hello',
          num_connections: 1,
          debug_info: { host: 'fake' },
          connection_info: { app_id: 'AFAKE' },
        }),
      );
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.base;
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Calls of one method. */
  of(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** True once a Socket Mode client is connected. */
  get socketConnected(): boolean {
    return this.socket !== undefined;
  }

  /** Sends a Socket Mode envelope; resolves with the ack's payload. */
  sendEnvelope(type: string, payload: unknown): Promise<unknown> {
    const envelopeId = `env-${++this.fileCounter}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for ${envelopeId}`)), 5000);
      this.acks.set(envelopeId, (ackPayload) => {
        clearTimeout(timer);
        resolve(ackPayload ?? null);
      });
      this.socket!.send(
        JSON.stringify({
          envelope_id: envelopeId,
          type,
          payload,
          accepts_response_payload: type !== 'events_api',
        }),
      );
    });
  }

  /**
   * A file a person shared, as Slack's events describe it; its bytes are served at its `url_private`
   * to requests that carry the bot token, as Slack does.
   */
  shareFile(name: string, data: Buffer, mimetype = 'image/png'): Record<string, unknown> {
    const id = `F${++this.fileCounter}`;
    this.personFiles.set(id, data);
    return { id, name, mimetype, size: data.length, url_private: `${this.base}/files-pri/T1-${id}/${name}` };
  }

  /** The downloads of shared files so far, with the authorization each carried. */
  fileDownloads(): SlackCall[] {
    return this.of('file');
  }

  /** The ts of the message that shares an uploaded file. */
  shareTsOf(fileId: string): string | undefined {
    return this.fileShares.get(fileId)?.ts;
  }

  private nextTs(): string {
    return `${++this.tsCounter}.000100`;
  }

  private async handle(req: IncomingMessage): Promise<[number, unknown]> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.base);
    const upload = /^\/upload\/(F\w+)$/.exec(url.pathname);
    if (upload) {
      // The client sends the file as multipart form data: keep the file's own bytes.
      const start = raw.indexOf(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
      const iend = raw.indexOf(Buffer.from('IEND'), start);
      this.uploads.set(upload[1]!, start >= 0 && iend > 0 ? raw.subarray(start, iend + 8) : raw);
      this.calls.push({ method: 'upload', args: { file_id: upload[1], bytes: raw.length } });
      return [200, 'OK'];
    }
    const shared = /^\/files-pri\/T1-(F\w+)\//.exec(url.pathname);
    if (shared) {
      const authorization = req.headers.authorization ?? '';
      this.calls.push({ method: 'file', args: { file_id: shared[1], authorization } });
      const data = this.personFiles.get(shared[1]!);
      if (authorization !== `Bearer ${this.botToken}`) return [403, 'not signed in'];
      return data ? [200, data] : [404, 'file not found'];
    }
    const method = url.pathname.replace(/^\/api\//, '');
    const args = this.parse(req.headers['content-type'] ?? '', raw);
    const answer = this.respond(method, args);
    const ts = method === 'chat.postMessage' ? (answer as { ts?: string }).ts : undefined;
    this.calls.push({ method, args, ...(ts ? { ts } : {}) });
    return [200, answer];
  }

  private parse(type: string, raw: Buffer): Record<string, unknown> {
    const text = raw.toString('utf8');
    if (type.includes('application/json')) return JSON.parse(text || '{}') as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [key, value] of new URLSearchParams(text)) {
      out[key] = /^[[{]/.test(value) ? (JSON.parse(value) as unknown) : value;
    }
    return out;
  }

  private respond(method: string, args: Record<string, unknown>): unknown {
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1', user: 'flowbot' };
      case 'apps.connections.open':
        return { ok: true, url: `${this.base.replace('http', 'ws')}/socket` };
      case 'chat.postMessage':
        return { ok: true, channel: args.channel, ts: this.nextTs(), message: { text: args.text } };
      case 'chat.update':
        return { ok: true, channel: args.channel, ts: args.ts };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: this.nextTs() };
      case 'chat.delete':
        return { ok: true };
      case 'users.info': {
        // UADMIN is a workspace admin and UOWNER its owner; everyone else is a member.
        const user = String(args.user);
        return { ok: true, user: { id: user, is_admin: user === 'UADMIN', is_owner: user === 'UOWNER' } };
      }
      case 'conversations.open':
        return { ok: true, channel: { id: 'DDM1' } };
      case 'views.open':
        return { ok: true, view: { id: 'V1' } };
      case 'files.getUploadURLExternal': {
        const id = `F${++this.fileCounter}`;
        this.fileNames.set(id, String(args.filename));
        return { ok: true, upload_url: `${this.base}/upload/${id}`, file_id: id };
      }
      case 'files.completeUploadExternal': {
        const files = args.files as { id: string; title?: string }[];
        for (const file of files)
          this.fileShares.set(file.id, { channel: String(args.channel_id), ts: this.nextTs(), infoCalls: 0 });
        return { ok: true, files: files.map((f) => ({ id: f.id, title: f.title })) };
      }
      case 'files.info': {
        const share = this.fileShares.get(String(args.file));
        if (!share) return { ok: false, error: 'file_not_found' };
        share.infoCalls++;
        // Like Slack, the share information arrives a moment after the upload completes.
        const shares = share.infoCalls < 2 ? {} : { public: { [share.channel]: [{ ts: share.ts }] } };
        return { ok: true, file: { id: args.file, shares } };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}
