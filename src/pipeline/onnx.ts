/**
 * The one module that imports onnxruntime-node.
 *
 * It caches inference sessions (loaded lazily, reused, disposed on demand), sets thread counts, picks
 * the execution provider (CUDA falls back to CPU with one log line), converts float16 tensors to and
 * from float32, and checks every run's inputs against the model's own input metadata so that a wrong
 * model gives an error naming the file, the input, and what was expected and received.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { ErrorCode, FlowbotError } from '../errors.js';
import { createLogger } from '../log.js';
import { scratchFolder } from './scratch.js';

/**
 * Session config: intra-op threads sleep after a run instead of spinning. Each session has its own
 * pool, and threads spinning after one session's run take the cores from the next (denoiser, then
 * VAE); on 2 cores this made a 2-step draft grid 2.4× slower (121 ms against 50 ms).
 */
const NO_SPINNING = { intra_op: { allow_spinning: '0' } };
const log = createLogger('onnx');

/** Element types flowbot feeds to models. */
export type TensorType = 'float32' | 'float16' | 'int32' | 'int64';

/** A tensor as the pipeline sees it: float data is always float32 here, whatever the model wants. */
export interface HostTensor {
  readonly data: Float32Array | Int32Array | BigInt64Array;
  readonly dims: readonly number[];
}

/** What a model input or output looks like. */
export interface ValueInfo {
  readonly name: string;
  readonly type: string;
  /** Dimensions; strings are symbolic (dynamic) dimensions. */
  readonly shape: readonly (number | string)[];
}

/** Where models run: the CPU, CUDA (a download outside npm), or WebGPU (Dawn, shipped in the npm binary). */
export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

/**
 * A rewritten form of a model file (for `--tile`: convolutions padded circularly), made from the file's
 * bytes before its session is created and cached apart from the file as it is.
 */
export interface ModelVariant {
  /** Tells the cached sessions apart, e.g. "circular". */
  readonly name: string;
  /**
   * The rewritten model's bytes. `scratch`, when the model's folder is writable, is a folder inside it for
   * this session alone: external data a rewrite writes there (LoRA-merged weights), named relative to the
   * model's folder, is memory-mapped by ONNX Runtime like the model's own instead of being parsed from the
   * model's bytes. ONNX Runtime reads external data only from inside the model's folder, so it cannot be
   * elsewhere. It is removed once the session is created.
   */
  readonly rewrite: (
    bytes: Uint8Array,
    file: string,
    scratch: string | undefined,
  ) => Uint8Array | Promise<Uint8Array>;
  /**
   * Sessions of evictable variants (LoRA merges: one per set of LoRAs) are kept within
   * `mergedSessionBudgetMB`, least recently used first out; others stay until disposed.
   */
  readonly evictable?: boolean;
  /** True when the rewrite writes external data (LoRA merges): only then is a scratch folder made. */
  readonly writesExternalData?: boolean;
}

/** Chains two rewrites (a LoRA merge, then circular padding for `--tile`). */
export function chainVariants(
  first: ModelVariant | undefined,
  second: ModelVariant | undefined,
): ModelVariant | undefined {
  if (!first || !second) return first ?? second;
  return {
    name: `${first.name}+${second.name}`,
    rewrite: async (bytes, file, scratch) =>
      second.rewrite(await first.rewrite(bytes, file, scratch), file, scratch),
    ...(first.evictable || second.evictable ? { evictable: true } : {}),
    ...(first.writesExternalData || second.writesExternalData ? { writesExternalData: true } : {}),
  };
}

/** Options of the backend. */
export interface BackendOptions {
  readonly executionProvider: ExecutionProvider;
  /** Intra-op threads; 0 lets ONNX Runtime choose (all cores). */
  readonly threads?: number;
  /** Which GPU the CUDA provider uses. */
  readonly deviceId?: number;
  /** Memory (MB, estimated from the files' weights) the evictable variants' sessions may hold. */
  readonly mergedSessionBudgetMB?: number;
}

/** Sessions of evictable variants kept at most, whatever their size. */
const MAX_MERGED_SESSIONS = 8;

/** Bytes of a model file and its external data files beside it (an estimate of a session's weights). */
function weightBytes(file: string): number {
  let bytes = statSync(file).size;
  const dir = path.dirname(file);
  for (const name of readdirSync(dir)) {
    if (name !== path.basename(file) && name.startsWith(path.basename(file)))
      bytes += statSync(path.join(dir, name)).size;
  }
  return bytes;
}

/** A loaded model. */
export class OnnxModel {
  readonly file: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** Time spent inside session.run, in milliseconds, since load (for the efficiency benchmark). */
  runMs = 0;
  runs = 0;
  private readonly session: ort.InferenceSession;
  /** Holds taken by operations using this model now; an evicted session waits for them to end. */
  private holds = 0;
  private disposeWhenIdle = false;

  constructor(file: string, session: ort.InferenceSession) {
    this.file = file;
    this.session = session;
    this.inputs = session.inputMetadata.map(toValueInfo);
    this.outputs = session.outputMetadata.map(toValueInfo);
  }

  /** Metadata of one input, or undefined when the model has no such input. */
  input(name: string): ValueInfo | undefined {
    return this.inputs.find((info) => info.name === name);
  }

  /** Metadata of one output. */
  output(name: string): ValueInfo | undefined {
    return this.outputs.find((info) => info.name === name);
  }

  /**
   * Runs the model. Float inputs are converted to the model's float type (float16 or float32), integer
   * inputs to int32 or int64 as it declares; float outputs come back as float32.
   */
  async run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    const prepared: Record<string, ort.Tensor> = {};
    for (const info of this.inputs) {
      const tensor = feeds[info.name];
      if (!tensor)
        throw this.inputError(
          info.name,
          `a ${info.type} tensor of shape [${info.shape.join(', ')}]`,
          'nothing',
        );
      prepared[info.name] = this.prepare(info, tensor);
    }
    for (const name of Object.keys(feeds)) {
      if (!this.input(name)) {
        throw this.inputError(
          name,
          `one of the inputs ${this.inputs.map((i) => i.name).join(', ')}`,
          'an unknown input name',
        );
      }
    }
    const start = performance.now();
    const results = await this.session.run(prepared);
    this.runMs += performance.now() - start;
    this.runs++;
    const out: Record<string, HostTensor> = {};
    for (const [name, value] of Object.entries(results)) out[name] = fromOrt(value);
    return out;
  }

  /** Releases the native session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }

  /** Marks the model in use until the returned function is called (evictions wait for it). */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      if (this.holds === 0 && this.disposeWhenIdle) void this.dispose().catch(() => undefined);
    };
  }

  /** Disposes now, or when the last hold is released. */
  async disposeIdle(): Promise<void> {
    if (this.holds > 0) this.disposeWhenIdle = true;
    else await this.dispose();
  }

  private prepare(info: ValueInfo, tensor: HostTensor): ort.Tensor {
    const received = describe(tensor);
    if (info.shape.length !== tensor.dims.length) {
      throw this.inputError(info.name, `rank ${info.shape.length} [${info.shape.join(', ')}]`, received);
    }
    info.shape.forEach((dim, i) => {
      if (typeof dim === 'number' && dim > 0 && dim !== tensor.dims[i]) {
        throw this.inputError(info.name, `shape [${info.shape.join(', ')}]`, received);
      }
    });
    const dims = [...tensor.dims];
    const isFloat = tensor.data instanceof Float32Array;
    switch (info.type) {
      case 'float32':
        if (!isFloat) throw this.inputError(info.name, 'float32 values', received);
        return new ort.Tensor('float32', tensor.data as Float32Array, dims);
      case 'float16':
        if (!isFloat) throw this.inputError(info.name, 'float values (as float16)', received);
        return new ort.Tensor('float16', toFloat16(tensor.data as Float32Array), dims);
      case 'int64':
        if (isFloat) throw this.inputError(info.name, 'integer values (as int64)', received);
        return new ort.Tensor('int64', toBigInt64(tensor.data as Int32Array | BigInt64Array), dims);
      case 'int32':
        if (isFloat) throw this.inputError(info.name, 'integer values (as int32)', received);
        return new ort.Tensor('int32', toInt32(tensor.data as Int32Array | BigInt64Array), dims);
      case 'bfloat16':
        // onnxruntime-node has no bfloat16 tensors to feed such a graph from JavaScript.
        throw new FlowbotError(
          ErrorCode.ModelInput,
          `${this.file}: input "${info.name}" is bfloat16, which onnxruntime-node cannot feed; export the model with --dtype fp16 or fp32`,
        );
      default:
        throw this.inputError(
          info.name,
          'a float32, float16, int32 or int64 input',
          `a model input of type ${info.type}`,
        );
    }
  }

  private inputError(input: string, expected: string, received: string): FlowbotError {
    return new FlowbotError(
      ErrorCode.ModelInput,
      `${this.file}: input "${input}" expected ${expected} but received ${received}`,
    );
  }
}

function toValueInfo(meta: ort.InferenceSession.ValueMetadata): ValueInfo {
  if (!meta.isTensor) return { name: meta.name, type: 'non-tensor', shape: [] };
  return { name: meta.name, type: meta.type, shape: [...meta.shape] };
}

function describe(tensor: HostTensor): string {
  const type =
    tensor.data instanceof Float32Array ? 'float32' : tensor.data instanceof Int32Array ? 'int32' : 'int64';
  return `${type} [${tensor.dims.join(', ')}]`;
}

function fromOrt(value: ort.Tensor): HostTensor {
  const dims = [...value.dims];
  switch (value.type) {
    case 'float32':
      return { data: value.data as Float32Array, dims };
    case 'float16':
      return { data: fromFloat16(value.data as Uint16Array), dims };
    case 'int64':
      return { data: value.data as BigInt64Array, dims };
    case 'int32':
      return { data: value.data as Int32Array, dims };
    default:
      throw new FlowbotError(ErrorCode.ModelInvalid, `Model output of unsupported type ${value.type}`);
  }
}

function toBigInt64(data: Int32Array | BigInt64Array): BigInt64Array {
  if (data instanceof BigInt64Array) return data;
  return BigInt64Array.from(data, (v) => BigInt(v));
}

function toInt32(data: Int32Array | BigInt64Array): Int32Array {
  if (data instanceof Int32Array) return data;
  return Int32Array.from(data, (v) => Number(v));
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 → IEEE half, round to nearest even. */
export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32Scratch[0] = values[i]!;
    const x = u32Scratch[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    let mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0);
      continue;
    }
    const e = exponent - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mantissa |= 0x800000;
      const shift = 14 - e;
      const half = mantissa >>> shift;
      const rest = mantissa & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      out[i] = sign | (half + (rest > halfway || (rest === halfway && half & 1) ? 1 : 0));
      continue;
    }
    let half = (e << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
    out[i] = sign | half;
  }
  return out;
}

/** IEEE half → float32. */
export function fromFloat16(values: Uint16Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const h = values[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (mantissa / 1024);
    else if (exponent === 0x1f) out[i] = mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
  }
  return out;
}

/** True when ONNX Runtime's CUDA provider libraries are present beside the binding. */
function cudaAvailable(): boolean {
  if (!ort.listSupportedBackends().some((backend) => backend.name === 'cuda')) return false;
  const bindingDir = path.join(
    path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  return existsSync(path.join(bindingDir, 'libonnxruntime_providers_cuda.so'));
}

/** True when the WebGPU session failed for want of a GPU adapter (Dawn: "No supported adapters"). */
function noWebGpuAdapter(error: unknown): boolean {
  return /adapter/i.test(String((error as Error)?.message ?? error));
}

/** Loads and caches ONNX models. One per process. */
export class OnnxBackend {
  /** The provider in use: the one asked for, or the CPU after a fallback. */
  executionProvider: ExecutionProvider;
  private readonly threads: number;
  private readonly deviceId: number;
  private readonly sessions = new Map<string, Promise<OnnxModel>>();
  /** Evictable sessions' keys, least recently used first, with their estimated megabytes. */
  private readonly merged = new Map<string, number>();
  private readonly mergedBudgetMB: number;

  constructor(options: BackendOptions) {
    this.threads = options.threads ?? 0;
    this.deviceId = options.deviceId ?? 0;
    this.mergedBudgetMB = options.mergedSessionBudgetMB ?? Number.POSITIVE_INFINITY;
    if (options.executionProvider === 'cuda' && !cudaAvailable()) {
      log.warn(
        "EXECUTION_PROVIDER=cuda was asked for, but ONNX Runtime's CUDA libraries are not installed; running on the CPU. Reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install on a host with CUDA 12.",
      );
      this.executionProvider = 'cpu';
    } else if (
      options.executionProvider === 'webgpu' &&
      !ort.listSupportedBackends().some((backend) => backend.name === 'webgpu')
    ) {
      log.warn(
        'EXECUTION_PROVIDER=webgpu was asked for, but this ONNX Runtime build has no WebGPU; running on the CPU.',
      );
      this.executionProvider = 'cpu';
    } else {
      this.executionProvider = options.executionProvider;
    }
  }

  /** The model at `file` (or its `variant`), loaded on first use and reused after. */
  load(file: string, variant?: ModelVariant): Promise<OnnxModel> {
    const resolved = path.resolve(file);
    const key = variant ? `${resolved}#${variant.name}` : resolved;
    let pending = this.sessions.get(key);
    if (!pending) {
      pending = this.create(resolved, variant);
      this.sessions.set(key, pending);
      pending.catch(() => {
        this.sessions.delete(key);
        this.merged.delete(key);
      });
      if (variant?.evictable) this.keepMerged(key, resolved);
    } else if (this.merged.has(key)) {
      const mb = this.merged.get(key)!;
      this.merged.delete(key);
      this.merged.set(key, mb);
    }
    return pending;
  }

  /**
   * A small model flowbot writes itself (the LoRA merge's Gemm), created from `make()`'s bytes on first
   * use and kept under `key`.
   */
  loadBytes(key: string, make: () => Uint8Array): Promise<OnnxModel> {
    let pending = this.sessions.get(key);
    if (!pending) {
      pending = ort.InferenceSession.create(make(), this.sessionOptions()).then(
        (session) => new OnnxModel(key, session),
      );
      this.sessions.set(key, pending);
      pending.catch(() => this.sessions.delete(key));
    }
    return pending;
  }

  /** Number of sessions of evictable variants held now. */
  get mergedSessions(): number {
    return this.merged.size;
  }

  /** Records a new evictable session and releases the least recently used beyond the budget. */
  private keepMerged(key: string, file: string): void {
    this.merged.set(key, existsSync(file) ? weightBytes(file) / 1024 / 1024 : 0);
    let total = [...this.merged.values()].reduce((a, b) => a + b, 0);
    for (const [oldest, mb] of this.merged) {
      if (oldest === key || (total <= this.mergedBudgetMB && this.merged.size <= MAX_MERGED_SESSIONS)) break;
      this.merged.delete(oldest);
      total -= mb;
      const pending = this.sessions.get(oldest);
      this.sessions.delete(oldest);
      log.info('released a merged session (least recently used)', { key: oldest });
      pending?.then((model) => model.disposeIdle()).catch(() => undefined);
    }
  }

  private sessionOptions(): ort.InferenceSession.SessionOptions {
    return {
      executionProviders:
        this.executionProvider === 'cpu'
          ? ['cpu']
          : this.executionProvider === 'cuda'
            ? [{ name: 'cuda', deviceId: this.deviceId }, 'cpu']
            : [this.executionProvider, 'cpu'],
      graphOptimizationLevel: 'all',
      extra: { session: NO_SPINNING },
      ...(this.threads > 0
        ? { intraOpNumThreads: this.threads, interOpNumThreads: 1 }
        : { intraOpNumThreads: os.availableParallelism() }),
    };
  }

  private async create(file: string, variant?: ModelVariant): Promise<OnnxModel> {
    if (!existsSync(file))
      throw new FlowbotError(ErrorCode.ModelInvalid, `Model file ${file} does not exist`);
    const scratch = variant?.writesExternalData ? await scratchFolder(file) : undefined;
    try {
      // A rewritten model is created from its bytes; its external data is still found beside the file.
      const source = variant ? await variant.rewrite(await readFile(file), file, scratch) : file;
      const session = (options: ort.InferenceSession.SessionOptions) =>
        typeof source === 'string'
          ? ort.InferenceSession.create(source, options)
          : ort.InferenceSession.create(source, {
              ...options,
              extra: {
                session: {
                  ...NO_SPINNING,
                  model_external_initializers_file_folder_path: path.dirname(file),
                },
              },
            });
      try {
        return new OnnxModel(file, await session(this.sessionOptions()));
      } catch (error) {
        if (this.executionProvider !== 'webgpu' || !noWebGpuAdapter(error)) throw error;
        // Dawn found no GPU (no Vulkan driver, or one lacking a feature it needs): one line, then the CPU.
        log.warn(
          'EXECUTION_PROVIDER=webgpu was asked for, but no WebGPU adapter was found; running on the CPU.',
          {
            reason: (error as Error).message.split('\n')[0]!.replace(/^.*?(Failed to get)/, '$1'),
          },
        );
        this.executionProvider = 'cpu';
        return new OnnxModel(file, await session(this.sessionOptions()));
      }
    } catch (error) {
      if (error instanceof FlowbotError) throw error;
      throw new FlowbotError(ErrorCode.ModelInvalid, `Cannot load ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      // The session has mapped what it needs; on Linux a mapping outlives the file's name.
      if (scratch) await rm(scratch, { recursive: true, force: true });
    }
  }

  /** Releases every cached session (or those under a folder). */
  async dispose(under?: string): Promise<void> {
    const prefix = under ? path.resolve(under) : '';
    for (const [key, pending] of [...this.sessions]) {
      if (!key.startsWith(prefix)) continue;
      this.sessions.delete(key);
      this.merged.delete(key);
      await pending.then((model) => model.dispose()).catch(() => undefined);
    }
  }
}
