/** Block Kit for flowbot's results, forms and progress. */
import type { ButtonSpec, ModalSpec, ResultView } from '../../commands/types.js';
import { isLinkable } from '../links.js';

type Block = Record<string, unknown>;

/** Buttons (at most 5 per actions block, as Slack allows) and the context line. */
export function resultBlocks(view: ResultView): Block[] {
  const rows = new Map<number, ButtonSpec[]>();
  for (const button of view.buttons) {
    // A link Slack would refuse would cost the whole result message: leave that button out.
    if (button.url !== undefined && !isLinkable(button.url)) continue;
    rows.set(button.row, [...(rows.get(button.row) ?? []), button]);
  }
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(view.text) } }];
  for (const [row, buttons] of rows) {
    for (let i = 0; i < buttons.length; i += 5) {
      blocks.push({
        type: 'actions',
        block_id: `row${row}-${i}`,
        elements: buttons.slice(i, i + 5).map((b) =>
          b.url
            ? {
                type: 'button',
                text: { type: 'plain_text', text: b.label },
                url: b.url,
                action_id: b.customId,
              }
            : {
                type: 'button',
                text: { type: 'plain_text', text: b.label },
                action_id: b.customId,
                value: b.customId,
                ...(b.style === 'primary' ? { style: 'primary' } : {}),
              },
        ),
      });
    }
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(view.context) }] });
  return blocks;
}

/** A Slack modal for a flowbot form. */
export function modalView(modal: ModalSpec, privateMetadata: string): Block {
  return {
    type: 'modal',
    callback_id: modal.customId,
    private_metadata: privateMetadata,
    title: { type: 'plain_text', text: modal.title.slice(0, 24) },
    submit: { type: 'plain_text', text: 'Go' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: modal.fields.map((field) => ({
      type: 'input',
      block_id: field.id,
      label: { type: 'plain_text', text: field.label },
      element: {
        type: 'plain_text_input',
        action_id: field.id,
        multiline: field.long === true,
        ...(field.value ? { initial_value: field.value } : {}),
        ...(field.placeholder
          ? { placeholder: { type: 'plain_text', text: field.placeholder.slice(0, 150) } }
          : {}),
      },
    })),
  };
}

/** Escapes Slack's control characters in mrkdwn text. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
