/** A real core (store, queue, pipeline on the fixture models) and bot, for command tests. */
import path from 'node:path';
import { type Bot, createBot } from '../../commands/index.js';
import type { ChatContext, InboundEventInput, Reply, ResultView } from '../../commands/types.js';
import { type Core, createCore } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

export const FIXTURE_MODELS = path.resolve(import.meta.dirname, '..', 'fixtures', 'models');

/** A test bot over a data directory; results are "posted" by recording chat messages like an adapter. */
export class TestBot {
  readonly core: Core;
  readonly bot: Bot;
  private messageCounter = 0;

  constructor(dataDir: string, env: Record<string, string> = {}, options: { previewEvery?: number } = {}) {
    const config = loadConfig({
      env: {
        DATA_DIR: dataDir,
        MODELS_DIR: FIXTURE_MODELS,
        MODEL: 'flow-tiny',
        UPSCALER: 'sr-x4-tiny',
        LOG_LEVEL: 'error',
        ...env,
      },
    });
    this.core = createCore(config, { threads: 1, previewEvery: options.previewEvery ?? 0 });
    this.bot = createBot(this.core);
    this.core.queue.recover();
  }

  ctx(userId = 'alice', extra: Partial<ChatContext> = {}): ChatContext {
    return { platform: 'web', userId, channelId: 'general', isAdmin: false, ...extra };
  }

  async send(event: InboundEventInput): Promise<Reply[]> {
    return this.bot.handle(event);
  }

  /** Runs a command or event and, if it queued a job, waits for it and posts the result. */
  async run(event: InboundEventInput): Promise<{ reply: Reply; view?: ResultView; messageId?: string }> {
    const [reply] = await this.send(event);
    if (!reply) throw new Error('no reply');
    if (reply.type !== 'queued') {
      if (reply.type === 'image') return { reply, view: reply.view, messageId: this.post(reply.view) };
      return { reply };
    }
    await this.core.queue.onIdle();
    const view = this.bot.resultView(reply.jobId);
    if (!view)
      throw new Error(`job ${reply.jobId} did not succeed: ${this.core.store.getJob(reply.jobId)?.error}`);
    return { reply, view, messageId: this.post(view) };
  }

  /** Records a posted result message, as an adapter does. */
  post(view: ResultView): string {
    const messageId = `m${process.hrtime.bigint()}-${++this.messageCounter}`;
    this.core.store.recordChatMessage({
      platform: 'web',
      channelId: 'general',
      messageId,
      imageId: view.imageId,
      jobId: view.jobId,
    });
    return messageId;
  }

  imagine(text: string, userId = 'alice') {
    return this.run({ kind: 'command', name: 'imagine', text, ctx: this.ctx(userId) });
  }

  replyTo(messageId: string, text: string, userId = 'alice') {
    return this.run({
      kind: 'reply',
      text,
      target: { channelId: 'general', messageId },
      ctx: this.ctx(userId),
    });
  }

  press(customId: string, userId = 'alice', fields?: Record<string, string>) {
    return this.run({ kind: 'action', customId, ctx: this.ctx(userId), ...(fields ? { fields } : {}) });
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
