/**
 * Versioned schema migrations. Each entry runs once, in order, inside a transaction; the version
 * reached is kept in `PRAGMA user_version`. Never edit a released migration: append a new one.
 */
export const MIGRATIONS: readonly {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE masks (
        id          TEXT PRIMARY KEY,
        source      TEXT NOT NULL CHECK (source IN ('region', 'cells', 'rect', 'upload', 'drawing')),
        spec        TEXT NOT NULL,
        file_path   TEXT NOT NULL,
        sha256      TEXT NOT NULL,
        width       INTEGER NOT NULL,
        height      INTEGER NOT NULL,
        user_id     TEXT,
        created_at  INTEGER NOT NULL
      );

      CREATE TABLE jobs (
        id           TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        user_id      TEXT NOT NULL,
        channel_id   TEXT,
        platform     TEXT,
        params       TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        priority     INTEGER NOT NULL DEFAULT 0,
        progress     REAL NOT NULL DEFAULT 0,
        error        TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        result       TEXT,
        created_at   INTEGER NOT NULL,
        started_at   INTEGER,
        finished_at  INTEGER,
        seq          INTEGER NOT NULL
      );
      CREATE INDEX jobs_unfinished ON jobs (state, seq) WHERE state IN ('queued', 'running');
      CREATE INDEX jobs_user ON jobs (user_id, state);

      CREATE TABLE images (
        id               TEXT PRIMARY KEY,
        parent_id        TEXT REFERENCES images (id),
        root_id          TEXT NOT NULL,
        operation        TEXT NOT NULL CHECK (operation IN ('generate', 'variation', 'inpaint', 'upscale', 'grid')),
        prompt           TEXT NOT NULL,
        negative_prompt  TEXT NOT NULL DEFAULT '',
        seed             INTEGER NOT NULL,
        steps            INTEGER NOT NULL,
        guidance         REAL NOT NULL,
        scheduler        TEXT NOT NULL,
        model            TEXT NOT NULL,
        width            INTEGER NOT NULL,
        height           INTEGER NOT NULL,
        strength         REAL,
        mask_id          TEXT REFERENCES masks (id),
        file_path        TEXT NOT NULL,
        sha256           TEXT NOT NULL,
        user_id          TEXT NOT NULL,
        job_id           TEXT REFERENCES jobs (id),
        cell             INTEGER,
        extra            TEXT,
        created_at       INTEGER NOT NULL
      );
      CREATE INDEX images_parent ON images (parent_id);
      CREATE INDEX images_job ON images (job_id, cell);

      CREATE TABLE chat_messages (
        platform    TEXT NOT NULL,
        channel_id  TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        thread_id   TEXT,
        job_id      TEXT REFERENCES jobs (id),
        image_id    TEXT REFERENCES images (id),
        cell        INTEGER,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (platform, channel_id, message_id)
      );
      CREATE INDEX chat_messages_image ON chat_messages (image_id);
      CREATE INDEX chat_messages_job ON chat_messages (job_id);

      CREATE TABLE settings (
        scope       TEXT NOT NULL CHECK (scope IN ('user', 'channel', 'global')),
        scope_id    TEXT NOT NULL,
        key         TEXT NOT NULL,
        value       TEXT NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (scope, scope_id, key)
      );
    `,
  },
  {
    version: 2,
    name: 'chat log for the web playground',
    sql: `
      CREATE TABLE chat_log (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        platform    TEXT NOT NULL,
        channel_id  TEXT NOT NULL,
        message_id  TEXT NOT NULL UNIQUE,
        author      TEXT NOT NULL,
        from_bot    INTEGER NOT NULL,
        text        TEXT NOT NULL,
        reply_to    TEXT,
        job_id      TEXT,
        image_id    TEXT,
        created_at  INTEGER NOT NULL
      );
      CREATE INDEX chat_log_channel ON chat_log (platform, channel_id, seq);
    `,
  },
  {
    version: 3,
    name: 'exact edits as an image operation',
    sql: `
      CREATE TABLE images_v3 (
        id               TEXT PRIMARY KEY,
        parent_id        TEXT REFERENCES images (id),
        root_id          TEXT NOT NULL,
        operation        TEXT NOT NULL CHECK (operation IN ('generate', 'variation', 'inpaint', 'upscale', 'grid', 'edit')),
        prompt           TEXT NOT NULL,
        negative_prompt  TEXT NOT NULL DEFAULT '',
        seed             INTEGER NOT NULL,
        steps            INTEGER NOT NULL,
        guidance         REAL NOT NULL,
        scheduler        TEXT NOT NULL,
        model            TEXT NOT NULL,
        width            INTEGER NOT NULL,
        height           INTEGER NOT NULL,
        strength         REAL,
        mask_id          TEXT REFERENCES masks (id),
        file_path        TEXT NOT NULL,
        sha256           TEXT NOT NULL,
        user_id          TEXT NOT NULL,
        job_id           TEXT REFERENCES jobs (id),
        cell             INTEGER,
        extra            TEXT,
        created_at       INTEGER NOT NULL
      );
      INSERT INTO images_v3 SELECT * FROM images;
      DROP TABLE images;
      ALTER TABLE images_v3 RENAME TO images;
      CREATE INDEX images_parent ON images (parent_id);
      CREATE INDEX images_job ON images (job_id, cell);
    `,
  },
  {
    version: 4,
    name: 'redo stacks and pending proposals get tables of their own',
    // They lived in settings under the keys 'redo' (channel scope, one per conversation) and 'proposal'
    // (user scope). Each row moves; only rows that moved are removed from settings.
    sql: `
      CREATE TABLE redo_stacks (
        conversation  TEXT PRIMARY KEY,
        image_ids     TEXT NOT NULL,
        updated_at    INTEGER NOT NULL
      );
      INSERT INTO redo_stacks (conversation, image_ids, updated_at)
        SELECT scope_id, value, updated_at FROM settings
        WHERE scope = 'channel' AND key = 'redo' AND json_valid(value) AND json_type(value) = 'array';
      DELETE FROM settings WHERE scope = 'channel' AND key = 'redo'
        AND scope_id IN (SELECT conversation FROM redo_stacks);

      CREATE TABLE pending_proposals (
        user_id     TEXT PRIMARY KEY,
        image_id    TEXT NOT NULL,
        meaning     TEXT NOT NULL,
        updated_at  INTEGER NOT NULL
      );
      INSERT INTO pending_proposals (user_id, image_id, meaning, updated_at)
        SELECT scope_id, json_extract(value, '$.imageId'), json_extract(value, '$.meaning'), updated_at FROM settings
        WHERE scope = 'user' AND key = 'proposal' AND json_valid(value)
          AND json_type(value, '$.imageId') = 'text' AND json_type(value, '$.meaning') = 'object';
      DELETE FROM settings WHERE scope = 'user' AND key = 'proposal'
        AND scope_id IN (SELECT user_id FROM pending_proposals);
    `,
  },
  {
    version: 5,
    name: 'uploaded pictures as an image operation',
    sql: `
      CREATE TABLE images_v5 (
        id               TEXT PRIMARY KEY,
        parent_id        TEXT REFERENCES images (id),
        root_id          TEXT NOT NULL,
        operation        TEXT NOT NULL CHECK (operation IN ('generate', 'variation', 'inpaint', 'upscale', 'grid', 'edit', 'upload')),
        prompt           TEXT NOT NULL,
        negative_prompt  TEXT NOT NULL DEFAULT '',
        seed             INTEGER NOT NULL,
        steps            INTEGER NOT NULL,
        guidance         REAL NOT NULL,
        scheduler        TEXT NOT NULL,
        model            TEXT NOT NULL,
        width            INTEGER NOT NULL,
        height           INTEGER NOT NULL,
        strength         REAL,
        mask_id          TEXT REFERENCES masks (id),
        file_path        TEXT NOT NULL,
        sha256           TEXT NOT NULL,
        user_id          TEXT NOT NULL,
        job_id           TEXT REFERENCES jobs (id),
        cell             INTEGER,
        extra            TEXT,
        created_at       INTEGER NOT NULL
      );
      INSERT INTO images_v5 SELECT * FROM images;
      DROP TABLE images;
      ALTER TABLE images_v5 RENAME TO images;
      CREATE INDEX images_parent ON images (parent_id);
      CREATE INDEX images_job ON images (job_id, cell);
    `,
  },
  {
    version: 6,
    name: "image moderation: each image's classifier score and the decision taken when it was shown",
    // A table of its own (not columns of images) so that images written before moderation existed, and
    // uploads checked elsewhere, simply have no row. Deleting an image deletes its verdict.
    sql: `
      CREATE TABLE image_moderation (
        image_id    TEXT PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
        score       REAL NOT NULL CHECK (score >= 0 AND score <= 1),
        classes     TEXT NOT NULL,
        model       TEXT NOT NULL,
        action      TEXT CHECK (action IN ('allow', 'spoiler', 'block')),
        threshold   REAL,
        decided_at  INTEGER,
        created_at  INTEGER NOT NULL
      );
    `,
  },
];
