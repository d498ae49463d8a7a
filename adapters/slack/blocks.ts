/** Block Kit for flowbot's results, forms and progress. */
import type { types } from '@slack/bolt';
import type { ButtonSpec, ModalSpec, ResultView } from '../../commands/types.js';
import { isLinkable } from '../links.js';

type Block = types.KnownBlock;

/** The result's text, its buttons in the rows Delivery laid out (five per actions block) and the context line. */
export function resultBlocks(view: ResultView, rows: readonly (readonly ButtonSpec[])[]): Block[] {
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(view.text) } }];
  rows.forEach((row, index) => {
    // A link Slack would refuse would cost the whole result message: leave that button out.
    const buttons = row.filter((b) => b.url === undefined || isLinkable(b.url));
    if (buttons.length > 0)
      blocks.push({ type: 'actions', block_id: `row${index}`, elements: buttons.map(element) });
  });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(view.context) }] });
  return blocks;
}

function element(b: ButtonSpec): types.Button {
  const text = { type: 'plain_text' as const, text: b.label };
  if (b.url) return { type: 'button', text, url: b.url, action_id: b.customId };
  return {
    type: 'button',
    text,
    action_id: b.customId,
    value: b.customId,
    ...(b.style === 'primary' ? { style: 'primary' as const } : {}),
  };
}

/** A Slack modal for a flowbot form. */
export function modalView(modal: ModalSpec, privateMetadata: string): types.ModalView {
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
