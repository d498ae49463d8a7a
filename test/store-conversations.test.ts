import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { REDO_DEPTH } from '../src/store/conversation-repository.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers/tmp.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function databaseFile(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return path.join(dir, 'flowbot.db');
}

function open(file: string): Store {
  const store = Store.open(file);
  cleanups.unshift(() => store.close());
  return store;
}

/** A database as flowbot left it at schema version 3, with redo stacks and proposals among the settings. */
function version3Database(file: string): void {
  const raw = new Database(file);
  for (const migration of MIGRATIONS.filter((m) => m.version <= 3)) raw.exec(migration.sql);
  raw.pragma('user_version = 3');
  const setting = raw.prepare(
    'INSERT INTO settings (scope, scope_id, key, value, updated_at) VALUES (?, ?, ?, ?, 5)',
  );
  setting.run('channel', 'conversation:web:chain:root01', 'redo', JSON.stringify(['img002', 'img001']));
  setting.run('channel', 'conversation:slack:thread:C1:1.5', 'redo', JSON.stringify(['img009']));
  setting.run('channel', 'C1', 'private', 'true');
  const proposal = {
    imageId: 'img001',
    meaning: { kind: 'refine', phrase: 'at night', mode: 'append', rule: 'x' },
  };
  setting.run('user', 'u1', 'proposal', JSON.stringify(proposal));
  setting.run('user', 'u1', 'steps', '12');
  // Not a proposal this version can move: it stays where it was rather than being dropped.
  setting.run('user', 'u2', 'proposal', JSON.stringify('garbled'));
  setting.run('global', 'admin', 'jobsPerHour', '30');
  raw.close();
}

describe('conversation state in tables of its own', () => {
  it('moves redo stacks and pending proposals out of settings when upgrading, losing none', () => {
    const file = databaseFile();
    version3Database(file);
    const store = open(file);
    expect(store.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);

    expect(store.conversations.redoStack('conversation:web:chain:root01')).toEqual(['img002', 'img001']);
    expect(store.conversations.redoStack('conversation:slack:thread:C1:1.5')).toEqual(['img009']);
    expect(store.conversations.proposal('u1')).toEqual({
      imageId: 'img001',
      meaning: { kind: 'refine', phrase: 'at night', mode: 'append', rule: 'x' },
    });
    // The moved rows leave settings; every other setting stays as it was.
    expect(store.settings('channel', 'conversation:web:chain:root01')).toEqual({});
    expect(store.settings('channel', 'C1')).toEqual({ private: true });
    expect(store.settings('user', 'u1')).toEqual({ steps: 12 });
    expect(store.settings('user', 'u2')).toEqual({ proposal: 'garbled' });
    expect(store.settings('global', 'admin')).toEqual({ jobsPerHour: 30 });
  });

  it('keeps redo stacks and proposals out of settings, trimmed and cleared', () => {
    const store = open(databaseFile());
    const ids = Array.from({ length: REDO_DEPTH + 5 }, (_, i) => `img${String(i).padStart(3, '0')}`);
    store.conversations.setRedoStack('conversation:web:chain:r', ids);
    expect(store.conversations.redoStack('conversation:web:chain:r')).toEqual(ids.slice(-REDO_DEPTH));
    store.conversations.setProposal('u1', { imageId: 'img001', meaning: { kind: 'reroll' } });
    expect(store.settings('channel', 'conversation:web:chain:r')).toEqual({});
    expect(store.settings('user', 'u1')).toEqual({});

    store.conversations.setRedoStack('conversation:web:chain:r', []);
    store.conversations.setProposal('u1', undefined);
    expect(store.conversations.redoStack('conversation:web:chain:r')).toEqual([]);
    expect(store.conversations.proposal('u1')).toBeUndefined();
  });
});
