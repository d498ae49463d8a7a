/** The images and masks tables: every image flowbot made, its lineage, and the masks it painted with. */
import { z } from 'zod';
import { ErrorCode, FlowbotError } from '../errors.js';
import {
  jsonColumn,
  optionalNumber,
  optionalText,
  parseOptionalRow,
  parseRows,
  type StoreContext,
  toJson,
  uniqueId,
} from './rows.js';

/**
 * What made an image; `edit` is an exact pixel edit (darker, mirror, crop …) with no diffusion, and
 * `upload` a picture someone brought (it has no recipe: no prompt, seed or steps of its own).
 */
export const IMAGE_OPERATIONS = [
  'generate',
  'variation',
  'inpaint',
  'upscale',
  'grid',
  'edit',
  'upload',
] as const;
/** What made an image. */
export type ImageOperation = (typeof IMAGE_OPERATIONS)[number];
/** Where a mask came from. */
export const MASK_SOURCES = ['region', 'cells', 'rect', 'upload', 'drawing'] as const;
/** Where a mask came from. */
export type MaskSource = (typeof MASK_SOURCES)[number];

/**
 * An image's extra facts: what the work result recorded (the work order's `extra`, such as an exact
 * edit's recipe) or, for a grid, its cells' image ids.
 */
const imageExtraSchema = z.record(z.string(), z.unknown()).nullable();
const gridExtraSchema = z.object({ cells: z.array(z.string()) });

const imageRow = z
  .object({
    id: z.string(),
    parent_id: optionalText,
    root_id: z.string(),
    operation: z.enum(IMAGE_OPERATIONS),
    prompt: z.string(),
    negative_prompt: z.string(),
    seed: z.number(),
    steps: z.number(),
    guidance: z.number(),
    scheduler: z.string(),
    model: z.string(),
    width: z.number(),
    height: z.number(),
    strength: optionalNumber,
    mask_id: optionalText,
    file_path: z.string(),
    sha256: z.string(),
    user_id: z.string(),
    job_id: optionalText,
    cell: optionalNumber,
    extra: jsonColumn.pipe(imageExtraSchema),
    created_at: z.number(),
  })
  .transform((row) => ({
    id: row.id,
    parentId: row.parent_id,
    rootId: row.root_id,
    operation: row.operation,
    prompt: row.prompt,
    negativePrompt: row.negative_prompt,
    seed: row.seed,
    steps: row.steps,
    guidance: row.guidance,
    scheduler: row.scheduler,
    model: row.model,
    width: row.width,
    height: row.height,
    strength: row.strength,
    maskId: row.mask_id,
    filePath: row.file_path,
    sha256: row.sha256,
    userId: row.user_id,
    jobId: row.job_id,
    cell: row.cell,
    extra: row.extra,
    createdAt: row.created_at,
  }));

/** An image as stored. */
export type ImageRecord = Readonly<z.output<typeof imageRow>>;

/** What is needed to record a new image; the id and root are assigned by the store. */
export type NewImage = Omit<
  ImageRecord,
  | 'id'
  | 'rootId'
  | 'createdAt'
  | 'parentId'
  | 'strength'
  | 'maskId'
  | 'jobId'
  | 'cell'
  | 'extra'
  | 'negativePrompt'
> & {
  readonly parentId?: string | null;
  readonly negativePrompt?: string;
  readonly strength?: number | null;
  readonly maskId?: string | null;
  readonly jobId?: string | null;
  readonly cell?: number | null;
  readonly extra?: Readonly<Record<string, unknown>> | null;
};

/** A grid's cell image ids in cell order; empty for an image that is not a grid. */
export function gridCellIds(image: ImageRecord): string[] {
  if (image.operation !== 'grid') return [];
  const grid = gridExtraSchema.safeParse(image.extra);
  return grid.success ? grid.data.cells : [];
}

const maskRow = z
  .object({
    id: z.string(),
    source: z.enum(MASK_SOURCES),
    spec: z.string(),
    file_path: z.string(),
    sha256: z.string(),
    width: z.number(),
    height: z.number(),
    user_id: optionalText,
    created_at: z.number(),
  })
  .transform((row) => ({
    id: row.id,
    source: row.source,
    spec: row.spec,
    filePath: row.file_path,
    sha256: row.sha256,
    width: row.width,
    height: row.height,
    userId: row.user_id,
    createdAt: row.created_at,
  }));

/** A mask as stored. */
export type MaskRecord = Readonly<z.output<typeof maskRow>>;

/** Images and masks whose files are already written under DATA_DIR; this records what they are. */
export class ImageRepository {
  private readonly sql;

  constructor(private readonly context: StoreContext) {
    this.sql = prepare(context.db);
  }

  /** Records an image whose file has already been written; returns it with its new id. */
  insert(input: NewImage): ImageRecord {
    return this.context.db.transaction(() => {
      const id = uniqueId((candidate) => this.sql.imageExists.get(candidate) !== undefined);
      const parentId = input.parentId ?? null;
      const parent = parentId ? this.get(parentId) : undefined;
      if (parentId && !parent)
        throw new FlowbotError(ErrorCode.StoreCorrupt, `Parent image ${parentId} does not exist`);
      this.sql.insertImage.run({
        id,
        parent_id: parentId,
        root_id: parent ? parent.rootId : id,
        operation: input.operation,
        prompt: input.prompt,
        negative_prompt: input.negativePrompt ?? '',
        seed: input.seed,
        steps: input.steps,
        guidance: input.guidance,
        scheduler: input.scheduler,
        model: input.model,
        width: input.width,
        height: input.height,
        strength: input.strength ?? null,
        mask_id: input.maskId ?? null,
        file_path: input.filePath,
        sha256: input.sha256,
        user_id: input.userId,
        job_id: input.jobId ?? null,
        cell: input.cell ?? null,
        extra: toJson(input.extra),
        created_at: this.context.now(),
      });
      return imageRow.parse(this.sql.getImage.get(id));
    })();
  }

  /** An image by its id, in any letter case. */
  get(id: string): ImageRecord | undefined {
    return parseOptionalRow(imageRow, this.sql.getImage.get(id.toLowerCase()));
  }

  /**
   * Removes the images an interrupted delivery of a job recorded before the job was marked finished;
   * nothing refers to them yet. Their files stay (content-addressed, shared with any identical image).
   */
  deleteOfJob(jobId: string): number {
    return this.sql.deleteImagesOfJob.run(jobId).changes;
  }

  /** Images a job produced, in cell order. */
  ofJob(jobId: string): ImageRecord[] {
    return parseRows(imageRow, this.sql.imagesOfJob.all(jobId));
  }

  /** The image and its ancestors, the image first and the root last. */
  lineage(id: string): ImageRecord[] {
    return parseRows(imageRow, this.sql.lineage.all(id.toLowerCase()));
  }

  /** Records a mask whose file has already been written. */
  insertMask(input: Omit<MaskRecord, 'id' | 'createdAt'>): MaskRecord {
    const id = uniqueId((candidate) => this.sql.maskExists.get(candidate) !== undefined);
    this.sql.insertMask.run({
      id,
      source: input.source,
      spec: input.spec,
      file_path: input.filePath,
      sha256: input.sha256,
      width: input.width,
      height: input.height,
      user_id: input.userId,
      created_at: this.context.now(),
    });
    return maskRow.parse(this.sql.getMask.get(id));
  }

  getMask(id: string): MaskRecord | undefined {
    return parseOptionalRow(maskRow, this.sql.getMask.get(id));
  }
}

function prepare(db: StoreContext['db']) {
  return {
    imageExists: db.prepare('SELECT 1 FROM images WHERE id = ?'),
    insertImage: db.prepare(
      `INSERT INTO images (id, parent_id, root_id, operation, prompt, negative_prompt, seed, steps, guidance, scheduler,
         model, width, height, strength, mask_id, file_path, sha256, user_id, job_id, cell, extra, created_at)
       VALUES (@id, @parent_id, @root_id, @operation, @prompt, @negative_prompt, @seed, @steps, @guidance, @scheduler,
         @model, @width, @height, @strength, @mask_id, @file_path, @sha256, @user_id, @job_id, @cell, @extra, @created_at)`,
    ),
    getImage: db.prepare('SELECT * FROM images WHERE id = ?'),
    imagesOfJob: db.prepare('SELECT * FROM images WHERE job_id = ? ORDER BY cell, created_at'),
    deleteImagesOfJob: db.prepare('DELETE FROM images WHERE job_id = ?'),
    lineage: db.prepare(
      `WITH RECURSIVE chain(id, depth) AS (
         SELECT id, 0 FROM images WHERE id = ?
         UNION ALL
         SELECT images.parent_id, chain.depth + 1 FROM images JOIN chain ON images.id = chain.id
         WHERE images.parent_id IS NOT NULL AND chain.depth < 1000
       )
       SELECT images.* FROM chain JOIN images ON images.id = chain.id ORDER BY chain.depth`,
    ),
    maskExists: db.prepare('SELECT 1 FROM masks WHERE id = ?'),
    insertMask: db.prepare(
      `INSERT INTO masks (id, source, spec, file_path, sha256, width, height, user_id, created_at)
       VALUES (@id, @source, @spec, @file_path, @sha256, @width, @height, @user_id, @created_at)`,
    ),
    getMask: db.prepare('SELECT * FROM masks WHERE id = ?'),
  };
}
