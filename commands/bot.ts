/**
 * The router: one internal event in, replies out. It validates the event (zod), dispatches to the
 * command modules, and turns any error into a friendly message, so nothing a person does can crash
 * the process.
 */
import { publicMessage } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import type { ImageRecord } from '../src/store/store.js';
import { type ActionId, decodeAction, encodeAction } from './actions.js';
import { cancel } from './cancel.js';
import { type CommandDeps, cellOf, requireImage, single, viewOf, viewOfJob } from './context.js';
import { Conversations } from './conversations.js';
import { enhance } from './enhance.js';
import { help } from './help.js';
import { imagine } from './imagine.js';
import { info } from './info.js';
import { limitsFor } from './limits.js';
import { queueStatus } from './queue.js';
import { quota } from './quota.js';
import { reaction } from './reaction.js';
import { inpaint, maskFromUpload, maskFromWords } from './region.js';
import { converse, reply } from './reply.js';
import { reroll } from './reroll.js';
import { settings } from './settings.js';
import { effectiveDefaults } from './settings-model.js';
import {
  type Attachment,
  type ChatContext,
  type InboundEvent,
  parseEvent,
  type Reply,
  type ResultView,
  say,
} from './types.js';
import { imagineFromUpload, uploadWithInstruction } from './upload.js';
import { biggerThan, upscale } from './upscale.js';
import { GRID_VARY_STRENGTH, VARY_STRENGTH, vary } from './vary.js';
import { outpaint, PAN_DIRECTIONS } from './zoom.js';

const log = createLogger('commands');

/** Commands by name (slash commands, or "!name" / "name …" in the playground). */
const COMMANDS = ['imagine', 'settings', 'info', 'cancel', 'queue', 'quota', 'help'] as const;

/** Remix continuations, encoded in the remix form's id. */
const REMIX_CODES = { vary: 1, reroll: 2, vary_subtle: 3, vary_strong: 4 } as const;

/** The command layer. */
export class Bot {
  /** What adapters may read and record of conversations (they never touch the store). */
  readonly conversations: Conversations;

  constructor(readonly deps: CommandDeps) {
    this.conversations = new Conversations(deps.store);
  }

  /** Handles one event; never throws. */
  async handle(input: unknown): Promise<Reply[]> {
    const parsed = parseEvent(input);
    if (!parsed.ok) {
      log.warn('invalid event from an adapter', { problem: parsed.message });
      return [say('Sorry, I could not understand that request.')];
    }
    try {
      const replies = await this.dispatch(parsed.event);
      return replies;
    } catch (error) {
      return [say(publicMessage(error, log, 'command failed', { kind: parsed.event.kind }))];
    }
  }

  /** The view of a finished job, for adapters to post. */
  resultView(jobId: string): ResultView | undefined {
    return viewOfJob(this.deps, jobId);
  }

  /** The view of any stored image (shown again, e.g. after "undo"). */
  imageView(imageId: string, text: string): ResultView | undefined {
    const image = this.deps.store.getImage(imageId);
    return image ? viewOf(this.deps, image, text) : undefined;
  }

  /** A mask drawn in the web editor: saved as a drawing, then the region is repainted. */
  async applyDrawnMask(
    ctx: ChatContext,
    imageId: string,
    drawing: Attachment,
    prompt: string,
  ): Promise<Reply[]> {
    try {
      const image = single(this.deps, requireImage(this.deps, imageId));
      const mask = await maskFromUpload(this.deps, ctx, image, drawing, 'drawing');
      return [inpaint(this.deps, ctx, image, mask, prompt, 'Repainted')];
    } catch (error) {
      return [say(publicMessage(error, log, 'applying a drawn mask failed'))];
    }
  }

  private async dispatch(event: InboundEvent): Promise<Reply[]> {
    switch (event.kind) {
      case 'command':
        return [await this.command(event.name, event.text, event.ctx, event.attachment)].flat();
      case 'reply':
        return [await reply(this.deps, event.ctx, event.text, event.target, event.attachment)].flat();
      case 'message':
        return [await this.message(event.text, event.ctx)].flat();
      case 'upload':
        return [await uploadWithInstruction(this.deps, event.ctx, event.text, event.attachment)].flat();
      case 'reaction': {
        const answer = reaction(this.deps, event.ctx, event.emoji, event.target);
        return answer ? [answer] : [];
      }
      case 'action':
        return [await this.action(event.customId, event.ctx, event.fields ?? {})];
    }
  }

  /** Text typed with no message chosen: a slash command, or words for the channel's conversation. */
  private async message(text: string, ctx: ChatContext): Promise<Reply | Reply[]> {
    const command = /^\/(\w+)\s*([\s\S]*)$/.exec(text.trim());
    if (command) return this.command(command[1]!, command[2]!, ctx, undefined);
    return converse(this.deps, ctx, text);
  }

  private async command(
    name: string,
    text: string,
    ctx: ChatContext,
    attachment: Attachment | undefined,
  ): Promise<Reply | Reply[]> {
    const command = name.toLowerCase().replace(/^\//, '');
    switch (command) {
      case 'imagine':
        return attachment
          ? imagineFromUpload(this.deps, ctx, text, attachment)
          : imagine(this.deps, ctx, text);
      case 'settings':
        return settings(this.deps, ctx, text);
      case 'info':
        return info(this.deps, ctx, text);
      case 'cancel':
        return cancel(this.deps, ctx, text);
      case 'queue':
        return queueStatus(this.deps, ctx);
      case 'quota':
        return quota(this.deps, ctx, limitsFor(this.deps, ctx).jobsPerHour);
      case 'help':
        return help();
      case 'region': {
        // "region <image id> <region words or nothing with an upload>: <prompt>"
        const match = /^#?([a-z0-9]{4,12})\s+(.*)$/i.exec(text.trim());
        if (!match)
          return say('Use: region <image id> <region>: <prompt>, e.g. region k7fq2m top left: a moon');
        const image = single(this.deps, requireImage(this.deps, match[1]!.toLowerCase()));
        const [where, prompt] = splitRegion(match[2]!);
        const mask = attachment
          ? await maskFromUpload(this.deps, ctx, image, attachment)
          : await maskFromWords(this.deps, image, where, ctx.userId);
        return inpaint(this.deps, ctx, image, mask, attachment ? match[2]! : prompt, 'Repainted');
      }
      default: {
        const known = [...COMMANDS, 'region'];
        return say(`Unknown command "${name}". Commands: ${known.join(', ')}.`);
      }
    }
  }

  private async action(customId: string, ctx: ChatContext, fields: Record<string, string>): Promise<Reply> {
    const action = decodeAction(customId);
    if (!action) return say('That button is not one of mine, or it is from an older version.');
    const image = requireImage(this.deps, action.imageId);
    const remix = effectiveDefaults(this.deps.store, ctx.userId, ctx.channelId).remix === true;
    switch (action.action) {
      case 'upscale':
        return image.operation === 'grid'
          ? this.upscaleCell(ctx, image, action.cell ?? 1)
          : upscale(this.deps, ctx, image, action.cell === 4 ? 4 : 2);
      case 'upscale_creative':
        return upscale(this.deps, ctx, single(this.deps, image), 2, true);
      case 'enhance':
        return enhance(this.deps, ctx, image);
      case 'zoom':
        return outpaint(this.deps, ctx, single(this.deps, image), {
          kind: 'zoom',
          factor: action.cell === 15 ? 1.5 : 2,
        });
      case 'pan':
        return outpaint(this.deps, ctx, single(this.deps, image), {
          kind: 'pan',
          direction: PAN_DIRECTIONS[Math.min(3, Math.max(0, (action.cell ?? 1) - 1))]!,
        });
      case 'vary':
      case 'vary_subtle':
      case 'vary_strong':
      case 'reroll':
        return remix
          ? this.remixForm(
              action,
              image.operation === 'grid' ? cellOf(this.deps, image, action.cell ?? 1).prompt : image.prompt,
            )
          : this.runVary(action, ctx);
      case 'remix_submit': {
        const code = Math.floor((action.cell ?? 0) / 10);
        const cell = (action.cell ?? 0) % 10;
        const name = (Object.entries(REMIX_CODES).find(([, c]) => c === code)?.[0] ??
          'vary') as keyof typeof REMIX_CODES;
        const continued: ActionId = { action: name, imageId: action.imageId, ...(cell > 0 ? { cell } : {}) };
        return this.runVary(continued, ctx, fields.prompt?.trim() || undefined);
      }
      case 'region': {
        const link = this.deps.editorLink?.(
          single(this.deps, image).id,
          ctx.userId,
          ctx.platform,
          ctx.channelId,
        );
        if (link) return say(`Open the mask editor: ${link}`);
        return {
          type: 'modal',
          modal: {
            customId: encodeAction({ action: 'region_submit', imageId: single(this.deps, image).id }),
            title: 'Vary region',
            fields: [
              { id: 'region', label: 'Where', placeholder: 'top left · centre · A1 B2 · x 10-40% y 0-30%' },
              {
                id: 'prompt',
                label: 'What to paint there',
                value: single(this.deps, image).prompt,
                long: true,
              },
            ],
          },
        };
      }
      case 'region_submit': {
        const target = single(this.deps, image);
        const mask = await maskFromWords(this.deps, target, fields.region ?? '', ctx.userId);
        return inpaint(this.deps, ctx, target, mask, fields.prompt ?? '', 'Repainted');
      }
    }
  }

  /** U1–U4: the cell, larger than the grid it came from. */
  private upscaleCell(ctx: ChatContext, grid: ImageRecord, cell: number): Reply {
    const source = cellOf(this.deps, grid, cell);
    return upscale(this.deps, ctx, source, biggerThan(source, grid, 2));
  }

  private remixForm(action: ActionId, prompt: string): Reply {
    const code = REMIX_CODES[action.action as keyof typeof REMIX_CODES];
    return {
      type: 'modal',
      modal: {
        customId: encodeAction({
          action: 'remix_submit',
          imageId: action.imageId,
          cell: code * 10 + (action.cell ?? 0),
        }),
        title: 'Remix prompt',
        fields: [{ id: 'prompt', label: 'Prompt', value: prompt, long: true }],
      },
    };
  }

  private runVary(action: ActionId, ctx: ChatContext, prompt?: string): Reply {
    const image = requireImage(this.deps, action.imageId);
    const options = prompt ? { prompt } : {};
    switch (action.action) {
      case 'reroll':
        return reroll(this.deps, ctx, image, prompt);
      case 'vary_subtle':
        return vary(this.deps, ctx, single(this.deps, image), VARY_STRENGTH.subtle, options);
      case 'vary_strong':
        return vary(this.deps, ctx, single(this.deps, image), VARY_STRENGTH.strong, options);
      default:
        return vary(this.deps, ctx, cellOf(this.deps, image, action.cell ?? 1), GRID_VARY_STRENGTH, {
          ...options,
          label: `Variations of V${action.cell ?? 1}`,
        });
    }
  }
}

/** "top left: a moon" → ["top left", "a moon"]. */
function splitRegion(text: string): [string, string] {
  const index = text.indexOf(':');
  return index === -1 ? [text.trim(), ''] : [text.slice(0, index).trim(), text.slice(index + 1).trim()];
}
