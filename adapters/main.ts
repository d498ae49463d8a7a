/**
 * `npm start`: loads the configuration, opens the core, starts the chat adapters whose credentials are
 * set, and always the local web playground (which also hosts the mask editor). Unfinished jobs resume.
 * SIGINT/SIGTERM shut down gracefully.
 */
import { createBot } from '../commands/index.js';
import { createCore } from '../src/app.js';
import { type Config, describeConfig, loadConfig } from '../src/config.js';
import { ConfigError, ErrorCode, hasCode } from '../src/errors.js';
import { LinkSigner } from '../src/links.js';
import { createLogger, setLogLevel } from '../src/log.js';
import { DiscordAdapter } from './discord/adapter.js';
import { inviteUrl } from './discord/invite.js';
import { keepTrying } from './retry.js';
import { SlackAdapter } from './slack/adapter.js';
import { WebAdapter } from './web/server.js';

const log = createLogger('main');

function readConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`flowbot: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const config = readConfigOrExit();
  setLogLevel(config.logLevel);
  log.info('starting flowbot', describeConfig(config));
  const core = createCore(config);
  const signer = new LinkSigner(config.linkSecret);
  let web: WebAdapter | undefined;
  const editorLink = (
    imageId: string,
    userId: string,
    platform: string,
    channelId: string,
  ): string | undefined => {
    if (!web) return undefined;
    const relative = web.editorPath(imageId, userId, platform, channelId);
    if (platform === 'web') return relative;
    return config.publicUrl ? `${config.publicUrl}${relative}` : undefined;
  };
  const bot = createBot(core, editorLink);
  web = new WebAdapter({
    bot,
    signer,
    host: config.host,
    port: config.port,
    token: config.webToken,
    publicUrl: config.publicUrl,
  });
  const url = await web.listen();
  const { resumed, failed } = core.queue.recover();
  log.info('job queue ready', { resumed: resumed.length, failedOnRecovery: failed.length });

  // Chat platforms connect in the background: one that can't be reached is retried, never waited on.
  const connecting = new AbortController();
  let slack: SlackAdapter | undefined;
  if (config.slackBotToken) {
    const adapter = new SlackAdapter({
      bot,
      botToken: config.slackBotToken,
      signingSecret: config.slackSigningSecret,
      appToken: config.slackAppToken,
      host: config.host,
      port: config.slackPort,
      apiUrl: config.slackApiUrl,
      adminUsers: config.slackAdminUsers,
      previewUrl: (jobId) =>
        config.publicUrl && web ? `${config.publicUrl}${web.previewPath(jobId)}` : undefined,
    });
    slack = adapter;
    void keepTrying(
      'Slack',
      async () => {
        const port = await adapter.start();
        log.info(
          config.slackAppToken
            ? 'Slack connected in Socket Mode'
            : `Slack listening on ${config.host} port ${port} at /slack/events`,
        );
      },
      { log, signal: connecting.signal, reset: () => adapter.stop() },
    );
  }
  let discord: DiscordAdapter | undefined;
  if (config.discordToken) {
    const adapter = new DiscordAdapter({
      bot,
      token: config.discordToken,
      apiUrl: config.discordApiUrl,
      guildId: config.discordGuildId,
      adminRole: config.discordAdminRole,
    });
    discord = adapter;
    void keepTrying(
      'Discord',
      async () => {
        await adapter.start();
        const applicationId = adapter.client.application?.id ?? adapter.client.user?.id ?? '<APPLICATION_ID>';
        log.info(`Discord connected as ${adapter.client.user?.tag ?? 'the bot'}`, {
          commands: config.discordGuildId ? `guild ${config.discordGuildId}` : 'global',
          invite: inviteUrl(applicationId),
        });
      },
      { log, signal: connecting.signal, reset: () => adapter.stop() },
    );
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down; running jobs get a grace period, queued jobs resume at next start', { signal });
    connecting.abort();
    Promise.all([web?.close(), slack?.stop(), discord?.stop(), core.close()]).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('error during shutdown', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Announced once a signal shuts down gracefully, so that whoever waits for this line may stop it.
  process.stdout.write(`\nflowbot playground: ${url}${config.webToken ? '/?token=<WEB_TOKEN>' : ''}\n\n`);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`flowbot: ${error.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  if (hasCode(error, ErrorCode.DataDirLocked)) {
    // Another flowbot has DATA_DIR; this one has touched nothing there.
    process.stderr.write(`flowbot: ${(error as Error).message}\n`);
    process.exit(75); // EX_TEMPFAIL: it can start once the other one stops
  }
  log.error('flowbot failed to start', { error });
  process.exit(1);
});
