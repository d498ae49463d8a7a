/** Button ids: each number has a field of its own once decoded, and ids of older buttons still decode. */
import { describe, expect, it } from 'vitest';
import { decodeAction, encodeAction, singleButtons } from '../commands/actions.js';

describe('button ids', () => {
  it('give upscale factors, zoom, pan and remix their own fields', () => {
    const ids = singleButtons('abc123').map((b) => decodeAction(b.customId));
    expect(ids).toContainEqual({ action: 'upscale', imageId: 'abc123', scale: 4 });
    expect(ids).toContainEqual({ action: 'upscale_creative', imageId: 'abc123' });
    expect(ids).toContainEqual({ action: 'zoom', imageId: 'abc123', zoom: 1.5 });
    expect(ids).toContainEqual({ action: 'pan', imageId: 'abc123', direction: 'down' });
    const remix = encodeAction({ action: 'remix_submit', imageId: 'abc123', continues: 'vary_strong' });
    expect(decodeAction(remix)).toEqual({
      action: 'remix_submit',
      imageId: 'abc123',
      continues: 'vary_strong',
    });
    const cell = encodeAction({ action: 'remix_submit', imageId: 'abc123', continues: 'vary', cell: 3 });
    expect(decodeAction(cell)).toMatchObject({ continues: 'vary', cell: 3 });
    expect(decodeAction(encodeAction({ action: 'upscale', imageId: 'abc123', cell: 2 }))).toEqual({
      action: 'upscale',
      imageId: 'abc123',
      cell: 2,
    });
  });

  it('decode the ids on buttons of older messages', () => {
    expect(decodeAction('fb:z:abc123:20')).toEqual({ action: 'zoom', imageId: 'abc123', zoom: 2 });
    expect(decodeAction('fb:z:abc123:15')).toEqual({ action: 'zoom', imageId: 'abc123', zoom: 1.5 });
    expect(decodeAction('fb:p:abc123:2')).toEqual({ action: 'pan', imageId: 'abc123', direction: 'right' });
    expect(decodeAction('fb:rm:abc123:42')).toEqual({
      action: 'remix_submit',
      imageId: 'abc123',
      continues: 'vary_strong',
      cell: 2,
    });
    expect(decodeAction('fb:uc:abc123:2')).toEqual({ action: 'upscale_creative', imageId: 'abc123' });
    // A single image's Upscale x4 once carried its factor as a cell; bot.ts reads it so.
    expect(decodeAction('fb:u:abc123:4')).toEqual({ action: 'upscale', imageId: 'abc123', cell: 4 });
    expect(decodeAction('fb:zz:abc123')).toBeUndefined();
  });
});
