import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isShortId } from '../src/ids.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { gridCellIds, type NewImage, Store } from '../src/store/store.js';
import { tempDir } from './helpers/tmp.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function openStore(): { store: Store; file: string } {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'db', 'flowbot.db');
  const store = Store.open(file);
  cleanups.push(() => {
    store.close();
    cleanup();
  });
  return { store, file };
}

const baseImage: NewImage = {
  operation: 'generate',
  prompt: 'a lighthouse at dusk',
  seed: 7,
  steps: 8,
  guidance: 3,
  scheduler: 'flow_euler',
  model: 'flowbot-emoji',
  width: 128,
  height: 128,
  filePath: 'images/abc.png',
  sha256: 'abc',
  userId: 'u1',
};

describe('Store', () => {
  it('migrates a new database to the latest version in WAL mode', () => {
    const { store, file } = openStore();
    expect(store.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    store.close();
    // Opening again is a no-op migration that keeps the data.
    const again = Store.open(file);
    expect(again.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    again.close();
  });

  it('upgrades a version 2 database to exact edits, keeping images, lineage and chat references', () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const file = path.join(dir, 'old.db');
    const raw = new Database(file);
    for (const migration of MIGRATIONS.filter((m) => m.version <= 2)) raw.exec(migration.sql);
    raw.pragma('user_version = 2');
    const row = (id: string, parent: string | null) =>
      raw
        .prepare(
          `INSERT INTO images (id, parent_id, root_id, operation, prompt, seed, steps, guidance, scheduler, model, width, height, file_path, sha256, user_id, created_at)
           VALUES (?, ?, 'root01', 'generate', 'a red apple', 1, 8, 3, 'flow', 'm', 64, 64, 'images/x.png', 'x', 'u1', 1)`,
        )
        .run(id, parent);
    row('root01', null);
    row('child1', 'root01');
    raw
      .prepare(
        "INSERT INTO chat_messages (platform, channel_id, message_id, image_id, created_at) VALUES ('web', 'c', 'm1', 'child1', 1)",
      )
      .run();
    raw.close();
    const store = Store.open(file);
    cleanups.unshift(() => store.close());
    expect(store.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    expect(store.lineage('child1').map((i) => i.id)).toEqual(['child1', 'root01']);
    expect(store.findChatMessage('web', 'c', 'm1')?.imageId).toBe('child1');
    const edited = store.insertImage({ ...baseImage, operation: 'edit', parentId: 'child1' });
    expect(store.getImage(edited.id)?.operation).toBe('edit');
    // Foreign keys are enforced again after the rebuild.
    expect(() =>
      store.db
        .prepare(
          "INSERT INTO chat_messages (platform, channel_id, message_id, image_id, created_at) VALUES ('web', 'c', 'm2', 'nope00', 1)",
        )
        .run(),
    ).toThrow(/FOREIGN KEY/);
  });

  it('refuses a database from a newer flowbot', () => {
    const { store, file } = openStore();
    store.close();
    const raw = new Database(file);
    raw.pragma('user_version = 999');
    raw.close();
    expect(() => Store.open(file)).toThrow(/schema version 999/);
  });

  it('round-trips jobs through their states', () => {
    const { store } = openStore();
    const job = store.createJob({
      kind: 'generate',
      userId: 'u1',
      channelId: 'c1',
      platform: 'web',
      params: { prompt: 'cat', n: 4 },
    });
    expect(isShortId(job.id)).toBe(true);
    expect(job).toMatchObject({
      state: 'queued',
      attempts: 0,
      params: { prompt: 'cat', n: 4 },
      channelId: 'c1',
    });
    store.markJobRunning(job.id);
    store.setJobProgress(job.id, 0.5);
    expect(store.getJob(job.id)).toMatchObject({ state: 'running', attempts: 1, progress: 0.5 });
    expect(store.unfinishedJobs().map((j) => j.id)).toEqual([job.id]);
    store.finishJob(job.id, 'succeeded', { result: { images: ['x'] } });
    expect(store.getJob(job.id)).toMatchObject({
      state: 'succeeded',
      progress: 1,
      result: { images: ['x'] },
    });
    expect(store.unfinishedJobs()).toEqual([]);
  });

  it('keeps image lineage with roots, masks and cells', () => {
    const { store } = openStore();
    const mask = store.insertMask({
      source: 'region',
      spec: 'top left',
      filePath: 'masks/m.png',
      sha256: 'm',
      width: 128,
      height: 128,
      userId: 'u1',
    });
    const job = store.createJob({ kind: 'generate', userId: 'u1', params: {} });
    const root = store.insertImage({ ...baseImage, jobId: job.id, cell: 0 });
    const child = store.insertImage({
      ...baseImage,
      operation: 'variation',
      parentId: root.id,
      strength: 0.35,
      seed: 8,
    });
    const grandchild = store.insertImage({
      ...baseImage,
      operation: 'inpaint',
      parentId: child.id,
      maskId: mask.id,
      negativePrompt: 'text',
    });
    expect(root.rootId).toBe(root.id);
    expect(grandchild.rootId).toBe(root.id);
    expect(store.lineage(grandchild.id).map((i) => [i.id, i.operation])).toEqual([
      [grandchild.id, 'inpaint'],
      [child.id, 'variation'],
      [root.id, 'generate'],
    ]);
    expect(store.getImage(grandchild.id)).toMatchObject({
      maskId: mask.id,
      negativePrompt: 'text',
      strength: null,
    });
    expect(store.getImage(child.id.toUpperCase())?.id).toBe(child.id);
    expect(store.imagesOfJob(job.id).map((i) => i.cell)).toEqual([0]);
    expect(store.getMask(mask.id)).toMatchObject({ source: 'region', spec: 'top left' });
    expect(() => store.insertImage({ ...baseImage, parentId: 'nosuch' })).toThrow(/Parent image nosuch/);
  });

  it("reads a grid's cells and an image's extra facts back as parsed JSON, and refuses a corrupt row", () => {
    const { store } = openStore();
    const cells = [store.insertImage(baseImage).id, store.insertImage({ ...baseImage, seed: 8 }).id];
    const grid = store.insertImage({ ...baseImage, operation: 'grid', extra: { cells } });
    expect(gridCellIds(store.getImage(grid.id)!)).toEqual(cells);
    const edited = store.insertImage({
      ...baseImage,
      operation: 'edit',
      extra: { edit: { op: 'grayscale' } },
    });
    expect(store.getImage(edited.id)?.extra).toEqual({ edit: { op: 'grayscale' } });
    expect(gridCellIds(edited)).toEqual([]);
    // A row that does not fit its schema is an error, never a wrongly typed record.
    store.db.prepare("UPDATE images SET extra = '[1, 2]' WHERE id = ?").run(edited.id);
    expect(() => store.getImage(edited.id)).toThrow();
  });

  it('maps chat messages to images and cells', () => {
    const { store } = openStore();
    const image = store.insertImage(baseImage);
    store.recordChatMessage({
      platform: 'slack',
      channelId: 'C1',
      messageId: '171.01',
      imageId: image.id,
      cell: 2,
    });
    store.recordChatMessage({
      platform: 'slack',
      channelId: 'C1',
      messageId: '171.01',
      imageId: image.id,
      cell: 3,
      threadId: '170.0',
    });
    expect(store.findChatMessage('slack', 'C1', '171.01')).toMatchObject({
      imageId: image.id,
      cell: 3,
      threadId: '170.0',
    });
    expect(store.findChatMessage('discord', 'C1', '171.01')).toBeUndefined();
    expect(store.chatMessagesOfImage(image.id)).toHaveLength(1);
  });

  it('stores settings per scope', () => {
    const { store } = openStore();
    store.setSetting('user', 'u1', 'steps', 12);
    store.setSetting('user', 'u1', 'remix', true);
    store.setSetting('channel', 'c1', 'steps', 4);
    expect(store.settings('user', 'u1')).toEqual({ remix: true, steps: 12 });
    store.setSetting('user', 'u1', 'remix', undefined);
    expect(store.settings('user', 'u1')).toEqual({ steps: 12 });
    expect(store.settings('channel', 'c1')).toEqual({ steps: 4 });
  });

  it('keeps everything across a reopen', () => {
    const { store, file } = openStore();
    const image = store.insertImage(baseImage);
    const job = store.createJob({ kind: 'generate', userId: 'u1', params: { a: 1 } });
    store.setSetting('user', 'u1', 'n', 1);
    store.close();
    const reopened = Store.open(file);
    expect(reopened.getImage(image.id)).toEqual(image);
    expect(reopened.getJob(job.id)).toEqual(job);
    expect(reopened.settings('user', 'u1')).toEqual({ n: 1 });
    reopened.close();
  });
});
