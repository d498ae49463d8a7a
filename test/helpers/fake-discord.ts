/**
 * A fake Discord on loopback, at the protocol level: a REST side that records every call and answers with
 * plausible objects, and a gateway WebSocket speaking v10 JSON (HELLO, IDENTIFY, READY, GUILD_CREATE,
 * heartbeats and ACKs, and dispatches). The real discord.js client talks to it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { parseBody } from './discord-body.js';

/** One recorded REST call. */
export interface DiscordCall {
  readonly method: string;
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly files: { name: string; data: Buffer }[];
  /** The id of the message this call created, for message posts. */
  messageId?: string;
}

const BOT = {
  id: '900000000000000001',
  username: 'flowbot',
  discriminator: '0',
  avatar: null,
  bot: true,
  global_name: null,
};
export const GUILD = '910000000000000001';
export const CHANNEL = '920000000000000001';
export const APP = BOT.id;
export const ARTISTS_ROLE = '980000000000000002';
/** The DM channel the fake opens with anyone. */
export const DM_CHANNEL = '950000000000000001';

/** A Discord user for tests. */
export function user(id: string, name: string) {
  return { id, username: name, discriminator: '0', avatar: null, global_name: name };
}

/** The fake. */
export class FakeDiscord {
  readonly calls: DiscordCall[] = [];
  readonly messages = new Map<string, Record<string, unknown>>();
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private socket: WebSocket | undefined;
  private seq = 0;
  private idCounter = 930000000000000000n;
  identified = false;
  base = '';
  /** When set, direct messages fail as they do for someone who allows none from server members. */
  refuseDirectMessages = false;

  /** Files people attached to their messages, served at their CDN address (see {@link attach}). */
  private readonly uploads = new Map<string, Buffer>();
  /** Each interaction token's original reply. */
  private readonly originals = new Map<string, string>();
  /** Interaction tokens whose deferral was ephemeral (flags 64): their original reply is too. */
  private readonly ephemeralTokens = new Set<string>();
  /** Messages deleted so far. */
  readonly deleted = new Set<string>();

  constructor() {
    this.server = createServer((req, res) => {
      void this.handle(req).then(([status, body]) => {
        if (status === 204) {
          res.writeHead(204);
          res.end();
          return;
        }
        if (Buffer.isBuffer(body)) {
          res.writeHead(status, { 'content-type': 'application/octet-stream' });
          res.end(body);
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
    this.wss = new WebSocketServer({ server: this.server, path: '/gateway' });
    this.wss.on('connection', (socket) => {
      this.socket = socket;
      socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 } }));
      socket.on('message', (data) => this.onGateway(JSON.parse(String(data)) as { op: number; d: unknown }));
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
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  nextId(): string {
    this.idCounter += 1n;
    return String(this.idCounter);
  }

  /** Sends a gateway dispatch. */
  dispatch(type: string, data: unknown): void {
    this.socket?.send(JSON.stringify({ op: 0, t: type, s: ++this.seq, d: data }));
  }

  /**
   * A person's interaction (type 2 a slash command, 3 a button, 4 autocomplete, 5 a modal) in a guild
   * channel, as the gateway delivers it; `extra` overrides any field (a DM, another channel, flags).
   * Returns its id.
   */
  interact(
    member: Record<string, unknown>,
    type: number,
    data: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ): string {
    const id = this.nextId();
    this.dispatch('INTERACTION_CREATE', {
      id,
      application_id: APP,
      type,
      data,
      guild_id: GUILD,
      channel_id: CHANNEL,
      channel: { id: CHANNEL, type: 0, guild_id: GUILD, name: 'general' },
      member: {
        roles: [],
        joined_at: new Date().toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
        permissions: '1071698660929',
        ...member,
      },
      token: `token-${id}`,
      version: 1,
      app_permissions: '1071698660929',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: {},
      context: 0,
      attachment_size_limit: 10 * 1024 * 1024,
      ...extra,
    });
    return id;
  }

  /** A slash command with its options, by a person (`{ user }`, with roles if any) in a guild channel. */
  slash(
    member: Record<string, unknown>,
    name: string,
    options: Record<string, unknown>[],
    extra: Record<string, unknown> = {},
  ): string {
    return this.interact(member, 2, { id: '1', name, type: 1, options }, extra);
  }

  /** A file attached to a person's message, as the gateway describes it; its bytes are served on GET. */
  attach(name: string, data: Buffer): Record<string, unknown> {
    const id = this.nextId();
    this.uploads.set(id, data);
    const url = `${this.base}/attachments/uploads/${id}/${name}`;
    return { id, filename: name, size: data.length, url, proxy_url: url };
  }

  /** A person's message in a channel, optionally replying to a message and with files attached. */
  say(
    author: Record<string, unknown>,
    channelId: string,
    content: string,
    options: { replyTo?: string; files?: { name: string; data: Buffer }[] } = {},
  ): string {
    const id = this.nextId();
    const message = {
      id,
      channel_id: channelId,
      guild_id: GUILD,
      author,
      member: { roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 },
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: (options.files ?? []).map((file) => this.attach(file.name, file.data)),
      embeds: [],
      pinned: false,
      type: options.replyTo ? 19 : 0,
      flags: 0,
      components: [],
      ...(options.replyTo
        ? { message_reference: { message_id: options.replyTo, channel_id: channelId, guild_id: GUILD } }
        : {}),
    };
    // Kept, so that a reply to it can fetch it (as Discord serves a message by id).
    this.messages.set(id, message);
    this.dispatch('MESSAGE_CREATE', message);
    return id;
  }

  /** The downloads of attached files so far. */
  downloads(): DiscordCall[] {
    return this.of('GET', /^\/attachments\/uploads\//);
  }

  /** REST calls matching a method and path pattern. */
  of(method: string, path: RegExp): DiscordCall[] {
    return this.calls.filter((c) => c.method === method && path.test(c.path));
  }

  /**
   * Results the bot showed in the channel: messages posted with an image, and messages (a channel
   * message or an interaction's reply) edited into one.
   */
  posted(channelId = CHANNEL): DiscordCall[] {
    const channel = new RegExp(`^/channels/${channelId}/messages(/\\d+)?$`);
    const webhook = /^\/webhooks\/\d+\/[^/]+(\/messages\/(@original|\d+))?$/;
    return this.calls.filter(
      (c) =>
        (c.method === 'POST' || c.method === 'PATCH') &&
        (channel.test(c.path) || (channelId === CHANNEL && webhook.test(c.path))) &&
        c.files.some((f) => /^(SPOILER_)?flowbot-/.test(f.name)),
    );
  }

  private onGateway(payload: { op: number; d: unknown }): void {
    if (payload.op === 1) this.socket?.send(JSON.stringify({ op: 11 }));
    if (payload.op === 2) {
      this.identified = true;
      this.dispatch('READY', {
        v: 10,
        user: BOT,
        guilds: [{ id: GUILD, unavailable: true }],
        session_id: 'session',
        resume_gateway_url: `${this.base.replace('http', 'ws')}/gateway`,
        application: { id: APP, flags: 0 },
        shard: [0, 1],
      });
      this.dispatch('GUILD_CREATE', {
        id: GUILD,
        name: 'Test Guild',
        icon: null,
        owner_id: '1',
        afk_timeout: 300,
        verification_level: 0,
        default_message_notifications: 0,
        explicit_content_filter: 0,
        roles: [
          {
            id: GUILD,
            name: '@everyone',
            permissions: '1071698660929',
            position: 0,
            color: 0,
            hoist: false,
            managed: false,
            mentionable: false,
            flags: 0,
          },
          // A plain role, for DISCORD_ADMIN_ROLE tests.
          {
            id: '980000000000000001',
            name: 'flowbot-admins',
            permissions: '1071698660929',
            position: 1,
            color: 0,
            hoist: false,
            managed: false,
            mentionable: false,
            flags: 0,
          },
          // Another, for per-role quotas and model permissions.
          {
            id: ARTISTS_ROLE,
            name: 'artists',
            permissions: '1071698660929',
            position: 2,
            color: 0,
            hoist: false,
            managed: false,
            mentionable: false,
            flags: 0,
          },
        ],
        emojis: [],
        features: [],
        mfa_level: 0,
        system_channel_flags: 0,
        premium_tier: 0,
        preferred_locale: 'en-US',
        nsfw_level: 0,
        stickers: [],
        premium_progress_bar_enabled: false,
        joined_at: new Date().toISOString(),
        large: false,
        unavailable: false,
        member_count: 2,
        voice_states: [],
        members: [],
        channels: [
          {
            id: CHANNEL,
            type: 0,
            guild_id: GUILD,
            name: 'general',
            position: 0,
            permission_overwrites: [],
            nsfw: false,
            parent_id: null,
          },
        ],
        threads: [],
        presences: [],
        stage_instances: [],
        guild_scheduled_events: [],
      });
    }
  }

  /** A message edited (or, without an id, created by its first edit); the call records its id. */
  private edited(
    id: string | undefined,
    body: Record<string, unknown>,
    files: { name: string; data: Buffer }[],
    channelId = CHANNEL,
  ): Record<string, unknown> {
    const fresh = this.message(channelId, body, files);
    this.messages.delete(fresh.id as string);
    const before = id ? this.messages.get(id) : undefined;
    const message = {
      ...(before ?? {}),
      ...fresh,
      id: id ?? fresh.id,
      attachments: files.length > 0 || body.attachments ? fresh.attachments : (before?.attachments ?? []),
      flags: typeof body.flags === 'number' ? body.flags : (before?.flags ?? 0),
    };
    this.messages.set(message.id as string, message);
    this.calls[this.calls.length - 1]!.messageId = message.id as string;
    return message;
  }

  /** A message object as Discord returns it. */
  message(
    channelId: string,
    body: Record<string, unknown>,
    files: { name: string; data: Buffer }[],
    author: Record<string, unknown> = BOT,
  ): Record<string, unknown> {
    const id = this.nextId();
    const reference = body.message_reference as { message_id?: string } | undefined;
    const message = {
      id,
      channel_id: channelId,
      guild_id: GUILD,
      author,
      content: body.content ?? '',
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      pinned: false,
      type: reference ? 19 : 0,
      flags: typeof body.flags === 'number' ? body.flags : 0,
      embeds: [],
      components: body.components ?? [],
      attachments: files.map((f, i) => ({
        id: this.nextId(),
        filename: f.name,
        size: f.data.length,
        url: `${this.base}/attachments/${id}/${i}`,
        proxy_url: `${this.base}/attachments/${id}/${i}`,
      })),
      ...(reference?.message_id
        ? { message_reference: { message_id: reference.message_id, channel_id: channelId, guild_id: GUILD } }
        : {}),
    };
    this.messages.set(id, message);
    return message;
  }

  private async handle(req: IncomingMessage): Promise<[number, unknown]> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.base);
    const path = decodeURIComponent(url.pathname.replace(/^\/api\/v10/, ''));
    const { body, files } = parseBody(req.headers['content-type'] ?? '', raw);
    this.calls.push({ method: req.method ?? 'GET', path, body, files });
    const method = req.method ?? 'GET';
    const upload = /^\/attachments\/uploads\/(\d+)\//.exec(path);
    if (method === 'GET' && upload) {
      const data = this.uploads.get(upload[1]!);
      return data ? [200, data] : [404, { message: 'Unknown attachment', code: 0 }];
    }
    if (method === 'GET' && path === '/gateway/bot') {
      return [
        200,
        {
          url: `${this.base.replace('http', 'ws')}/gateway`,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
        },
      ];
    }
    if (method === 'PUT' && /\/applications\/\d+(\/guilds\/\d+)?\/commands$/.test(path)) {
      return [
        200,
        (body as unknown as { name: string }[]).map((c, i) => ({
          ...c,
          id: String(940000000000000000n + BigInt(i)),
          application_id: APP,
          version: '1',
        })),
      ];
    }
    if (method === 'POST' && /^\/interactions\/\d+\/[^/]+\/callback$/.test(path)) {
      const data = body.data as { flags?: number } | undefined;
      if (((data?.flags ?? 0) & 64) !== 0) this.ephemeralTokens.add(path.split('/')[3]!);
      return url.searchParams.get('with_response') === 'true'
        ? [200, { interaction: { id: path.split('/')[2], type: 2 }, resource: { type: body.type } }]
        : [204, null];
    }
    const webhook = /^\/webhooks\/\d+\/([^/]+)\/messages\/(@original|\d+)$/.exec(path);
    if (webhook && (method === 'PATCH' || method === 'GET')) {
      // An interaction's original reply keeps its id through every edit, as Discord's does.
      const id = webhook[2] === '@original' ? this.originals.get(webhook[1]!) : webhook[2];
      const ephemeral = webhook[2] === '@original' && this.ephemeralTokens.has(webhook[1]!);
      const message = this.edited(id, { ...body, ...(ephemeral ? { flags: 64 } : {}) }, files);
      if (webhook[2] === '@original') this.originals.set(webhook[1]!, message.id as string);
      return [200, message];
    }
    if (webhook && method === 'DELETE') {
      const id = webhook[2] === '@original' ? this.originals.get(webhook[1]!) : webhook[2];
      if (id) this.deleted.add(id);
      return [204, null];
    }
    if (method === 'POST' && /^\/webhooks\/\d+\/[^/]+$/.test(path)) {
      const message = this.message(CHANNEL, body, files);
      this.calls[this.calls.length - 1]!.messageId = message.id as string;
      return [200, message];
    }
    const channelMessages = /^\/channels\/(\d+)\/messages$/.exec(path);
    if (method === 'POST' && channelMessages?.[1] === DM_CHANNEL && this.refuseDirectMessages)
      return [403, { message: 'Cannot send messages to this user', code: 50007 }];
    if (method === 'POST' && channelMessages) {
      const message = this.message(channelMessages[1]!, body, files);
      this.calls[this.calls.length - 1]!.messageId = message.id as string;
      return [200, message];
    }
    const oneMessage = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path);
    if (oneMessage && method === 'PATCH')
      return [200, this.edited(oneMessage[2], body, files, oneMessage[1])];
    if (oneMessage && method === 'DELETE') {
      this.deleted.add(oneMessage[2]!);
      return [204, null];
    }
    if (oneMessage && method === 'GET')
      return [
        200,
        this.messages.get(oneMessage[2]!) ?? {
          id: oneMessage[2],
          channel_id: oneMessage[1],
          author: BOT,
          content: '',
          attachments: [],
          embeds: [],
          components: [],
          timestamp: new Date().toISOString(),
          type: 0,
          mentions: [],
          mention_roles: [],
          pinned: false,
          tts: false,
          mention_everyone: false,
          flags: 0,
          edited_timestamp: null,
        },
      ];
    const channel = /^\/channels\/(\d+)$/.exec(path);
    if (channel && method === 'GET')
      return [
        200,
        {
          id: channel[1],
          type: channel[1] === CHANNEL ? 0 : 1,
          guild_id: channel[1] === CHANNEL ? GUILD : undefined,
          name: 'general',
          recipients: [],
        },
      ];
    if (method === 'POST' && path === '/users/@me/channels')
      return [200, { id: DM_CHANNEL, type: 1, recipients: [user(String(body.recipient_id), 'someone')] }];
    if (process.env.FAKE_DISCORD_DEBUG) console.error('fake discord: unknown route', method, path);
    return [404, { message: 'Unknown route', code: 0 }];
  }
}
