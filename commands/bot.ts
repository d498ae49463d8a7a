/**
 * The router: one internal event in, replies out. It validates the event (zod), dispatches to the
 * command modules, and turns any error into a friendly message, so nothing a person does can crash
 * the process.
 */
import { publicMessage } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import type { ImageRecord } from '../src/store/store.js';
import { type ActionId, decodeAction, encodeAction, isRemixAction } from './actions.js';
import { cancel } from './cancel.js';
import { type CommandDeps, cellOf, requireImage, single, viewOf, viewOfJob } from './context.js';
import { Delivery } from './delivery.js';
import { enhance } from './enhance.js';
import { help } from './help.js';
import { imagine } from './imagine.js';
import { info } from './info.js';
import { limitsFor } from './limits.js';
import { checkNotWithheld, noteChannel } from './moderation.js';
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
import { outpaint } from './zoom.js';

const log = createLogger('commands');

/** Commands by name (slash commands, or "!name" / "name …" in the playground). */
const COMMANDS = ['imagine', 'settings', 'info', 'cancel', 'queue', 'quota', 'help'] as const;

/** The command layer. */
export class Bot {
  /** Every message flowbot posts goes through it; adapters attach their surfaces to it. */
  readonly delivery: Delivery;

  constructor(readonly deps: CommandDeps) {
    this.delivery = new Delivery(deps);
  }

  /** Handles one event; never throws. */
  async handle(input: unknown): Promise<Reply[]> {
    const parsed = parseEvent(input);
    if (!parsed.ok) {
      log.warn('invalid event from an adapter', { problem: parsed.message });
      return [say('Sorry, I could not understand that request.')];
    }
    try {
      noteChannel(this.deps.store, parsed.event.ctx);
      const replies = await this.dispatch(parsed.event);
      this.delivery.expect(replies, parsed.event.ctx.platform);
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

  /** The view an image is shown with: its job's result view when it is that job's image, else its own. */
  shownView(imageId: string, text: string): ResultView | undefined {
    const jobId = this.deps.store.getImage(imageId)?.jobId;
    const view = jobId ? this.resultView(jobId) : undefined;
    if (view && view.imageId === imageId) return { ...view, text };
    return this.imageView(imageId, text);
  }

  /** A stored image's facts (for the mask editor's page). */
  image(imageId: string): ImageRecord | undefined {
    return this.deps.store.getImage(imageId);
  }

  /** An image and its ancestors, newest first. */
  lineage(imageId: string): ImageRecord[] {
    return this.deps.store.lineage(imageId);
  }

  /** The absolute path of an image's PNG, if the image exists. */
  imageFile(imageId: string): string | undefined {
    const image = this.deps.store.getImage(imageId);
    return image ? this.deps.files.resolve(image.filePath) : undefined;
  }

  /** The model folders' names (autocomplete). */
  modelNames(): string[] {
    return this.deps.models.list();
  }

  /** The LoRA names usable with `model` (the default model when none is given), for autocomplete. */
  loraNames(model?: string | null): string[] {
    return this.deps.models.loraNames(model ?? this.deps.defaultModel);
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
    checkNotWithheld(this.deps, ctx, image.id);
    const remix = effectiveDefaults(this.deps.store, ctx.userId, ctx.channelId).remix === true;
    switch (action.action) {
      case 'upscale':
        if (image.operation === 'grid') return this.upscaleCell(ctx, image, action.cell ?? 1);
        // A single image's older Upscale buttons carried the factor as a cell.
        return upscale(this.deps, ctx, image, (action.scale ?? action.cell) === 4 ? 4 : 2);
      case 'upscale_creative':
        return upscale(this.deps, ctx, single(this.deps, image), 2, true);
      case 'enhance':
        return enhance(this.deps, ctx, image);
      case 'zoom':
        return outpaint(this.deps, ctx, single(this.deps, image), { kind: 'zoom', factor: action.zoom ?? 2 });
      case 'pan':
        return outpaint(this.deps, ctx, single(this.deps, image), {
          kind: 'pan',
          direction: action.direction ?? 'left',
        });
      case 'reveal':
        return this.reveal(image.id);
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
        const continued: ActionId = {
          action: action.continues ?? 'vary',
          imageId: action.imageId,
          ...(action.cell ? { cell: action.cell } : {}),
        };
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
    const continues = isRemixAction(action.action) ? action.action : 'vary';
    return {
      type: 'modal',
      modal: {
        customId: encodeAction({
          action: 'remix_submit',
          imageId: action.imageId,
          continues,
          ...(action.cell ? { cell: action.cell } : {}),
        }),
        title: 'Remix prompt',
        fields: [{ id: 'prompt', label: 'Prompt', value: prompt, long: true }],
      },
    };
  }

  /** "Show" under a blurred image: its original, for the person who pressed it alone. */
  private reveal(imageId: string): Reply {
    const view = this.imageView(imageId, 'Shown as it is.');
    if (!view) return say('That image is gone.');
    const score = view.moderation?.score ?? 0;
    return { type: 'image', view: { ...view, private: true, moderation: { action: 'allow', score } } };
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
