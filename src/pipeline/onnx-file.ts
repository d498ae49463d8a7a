/**
 * Reading and rewriting ONNX model files without ONNX Runtime: the model's opsets, its graph's nodes
 * (inputs, outputs, operator, attributes) and its initializers (name, shape, type, and where the data
 * is: inside the file or in an external data file). Fields are written in field-number order, as
 * protobuf serializes them, and fields nobody read are kept as they were (`protobuf.ts`): reading and
 * writing a model unedited gives its bytes back, so a rewrite changes only what it means to. Graph rewrites (circular padding for
 * `--tile`) and weight edits are built on this; subgraphs (If/Loop bodies) are kept as they are.
 */
import {
  canonicalOrder,
  int64Fields,
  int64Of,
  int64sOf,
  messageField,
  type ProtoField,
  readFields,
  stringField,
  textOf,
  varintField,
  writeFields,
} from './protobuf.js';

/** Field numbers of onnx.proto's messages, as far as flowbot reads them. */
const MODEL = { opsetImport: 8, graph: 7 } as const;
const OPSET = { domain: 1, version: 2 } as const;
const GRAPH = { node: 1, initializer: 5 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { name: 1, i: 3, s: 4, ints: 8, type: 20 } as const;
const ATTRIBUTE_TYPE = { int: 2, string: 3, ints: 7 } as const;
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9, externalData: 13, dataLocation: 14 } as const;
const ENTRY = { key: 1, value: 2 } as const;

/** TensorProto data types flowbot writes. */
export const TensorDataType = { float: 1, int64: 7, float16: 10 } as const;

/** A node attribute: its name and its fields as read (so any kind of attribute survives a rewrite). */
export interface OnnxAttribute {
  readonly name: string;
  readonly fields: readonly ProtoField[];
}

/** A graph node. Arrays are the node's own: edit them in place. */
export interface OnnxNode {
  inputs: string[];
  outputs: string[];
  name: string | undefined;
  opType: string;
  domain: string;
  attributes: OnnxAttribute[];
  /** Fields not read (doc strings, overloads), written back as they were. */
  readonly other: readonly ProtoField[];
}

/** Where an initializer's values are: in the file, or in an external data file beside it. */
export interface OnnxInitializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: number;
  /** The `external_data` entries (location, offset, length) when the values live outside the file. */
  readonly external:
    | { readonly location: string; readonly offset: number; readonly length?: number }
    | undefined;
  /** The raw values when they are inside the file as `raw_data` (a view, not a copy). */
  readonly rawData: Uint8Array | undefined;
  /** The TensorProto's fields as read. */
  readonly fields: readonly ProtoField[];
}

function nodeOf(bytes: Uint8Array): OnnxNode {
  const node: OnnxNode = {
    inputs: [],
    outputs: [],
    name: undefined,
    opType: '',
    domain: '',
    attributes: [],
    other: [],
  };
  const other: ProtoField[] = [];
  for (const f of readFields(bytes)) {
    if (f.field === NODE.input) node.inputs.push(textOf(f));
    else if (f.field === NODE.output) node.outputs.push(textOf(f));
    else if (f.field === NODE.name) node.name = textOf(f);
    else if (f.field === NODE.opType) node.opType = textOf(f);
    else if (f.field === NODE.domain) node.domain = textOf(f);
    else if (f.field === NODE.attribute && f.wire === 2) {
      const fields = readFields(f.value);
      const name = fields.find((a) => a.field === ATTRIBUTE.name);
      node.attributes.push({ name: name ? textOf(name) : '', fields });
    } else other.push(f);
  }
  return { ...node, other };
}

function nodeFields(node: OnnxNode): ProtoField[] {
  return canonicalOrder([
    ...node.inputs.map((name) => stringField(NODE.input, name)),
    ...node.outputs.map((name) => stringField(NODE.output, name)),
    ...(node.name !== undefined ? [stringField(NODE.name, node.name)] : []),
    stringField(NODE.opType, node.opType),
    ...node.attributes.map((a) => messageField(NODE.attribute, a.fields)),
    ...node.other,
    ...(node.domain !== '' ? [stringField(NODE.domain, node.domain)] : []),
  ]);
}

/** An attribute's ints (e.g. pads, kernel_shape), or undefined when the node has no such attribute. */
export function intsAttribute(node: OnnxNode, name: string): number[] | undefined {
  const attribute = node.attributes.find((a) => a.name === name);
  return attribute ? int64sOf(attribute.fields, ATTRIBUTE.ints) : undefined;
}

/** An attribute's int, or undefined. */
export function intAttribute(node: OnnxNode, name: string): number | undefined {
  const field = node.attributes.find((a) => a.name === name)?.fields.find((f) => f.field === ATTRIBUTE.i);
  return field ? int64Of(field) : undefined;
}

/** An attribute's string (e.g. auto_pad), or undefined. */
export function stringAttribute(node: OnnxNode, name: string): string | undefined {
  const field = node.attributes.find((a) => a.name === name)?.fields.find((f) => f.field === ATTRIBUTE.s);
  return field ? textOf(field) : undefined;
}

/** Sets (or adds) an ints attribute. */
export function setIntsAttribute(node: OnnxNode, name: string, values: readonly number[]): void {
  const attribute: OnnxAttribute = {
    name,
    fields: [
      stringField(ATTRIBUTE.name, name),
      ...int64Fields(ATTRIBUTE.ints, values),
      varintField(ATTRIBUTE.type, ATTRIBUTE_TYPE.ints),
    ],
  };
  node.attributes = [...node.attributes.filter((a) => a.name !== name), attribute];
}

/** Sets (or adds) an int attribute. */
export function setIntAttribute(node: OnnxNode, name: string, value: number): void {
  const attribute: OnnxAttribute = {
    name,
    fields: [
      stringField(ATTRIBUTE.name, name),
      varintField(ATTRIBUTE.i, value),
      varintField(ATTRIBUTE.type, ATTRIBUTE_TYPE.int),
    ],
  };
  node.attributes = [...node.attributes.filter((a) => a.name !== name), attribute];
}

/** Removes an attribute. */
export function removeAttribute(node: OnnxNode, name: string): void {
  node.attributes = node.attributes.filter((a) => a.name !== name);
}

function initializerOf(fields: readonly ProtoField[]): OnnxInitializer {
  const nameField = fields.find((f) => f.field === TENSOR.name);
  const typeField = fields.find((f) => f.field === TENSOR.dataType);
  const raw = fields.find((f) => f.field === TENSOR.rawData);
  const entries = new Map<string, string>();
  for (const f of fields) {
    if (f.field !== TENSOR.externalData || f.wire !== 2) continue;
    const entry = readFields(f.value);
    const key = entry.find((e) => e.field === ENTRY.key);
    const value = entry.find((e) => e.field === ENTRY.value);
    if (key && value) entries.set(textOf(key), textOf(value));
  }
  const location = entries.get('location');
  return {
    name: nameField ? textOf(nameField) : '',
    dims: int64sOf(fields, TENSOR.dims),
    dataType: typeField ? int64Of(typeField) : 0,
    external:
      location === undefined
        ? undefined
        : {
            location,
            offset: Number(entries.get('offset') ?? 0),
            ...(entries.has('length') ? { length: Number(entries.get('length')) } : {}),
          },
    rawData: raw?.wire === 2 ? raw.value : undefined,
    fields,
  };
}

/** A tensor initializer with its values in the file. */
export function initializerFields(
  name: string,
  dims: readonly number[],
  dataType: number,
  rawData: Uint8Array,
): ProtoField[] {
  return [
    ...int64Fields(TENSOR.dims, dims),
    varintField(TENSOR.dataType, dataType),
    stringField(TENSOR.name, name),
    { field: TENSOR.rawData, wire: 2, value: rawData },
  ];
}

/** A tensor initializer whose values live in an external data file (relative to the model). */
export function externalInitializerFields(
  name: string,
  dims: readonly number[],
  dataType: number,
  external: { readonly location: string; readonly offset: number; readonly length: number },
): ProtoField[] {
  const entry = (key: string, value: string) =>
    messageField(TENSOR.externalData, [stringField(ENTRY.key, key), stringField(ENTRY.value, value)]);
  return [
    ...int64Fields(TENSOR.dims, dims),
    varintField(TENSOR.dataType, dataType),
    stringField(TENSOR.name, name),
    entry('location', external.location),
    entry('offset', String(external.offset)),
    entry('length', String(external.length)),
    varintField(TENSOR.dataLocation, 1),
  ];
}

/** An ONNX model read for rewriting. */
export class OnnxFile {
  /** The graph's nodes in order; replace or edit them, then {@link write}. */
  nodes: OnnxNode[];
  /** The graph's initializers as TensorProto fields; append with {@link addInitializer}. */
  private readonly initializerFields: (readonly ProtoField[])[];
  private readonly modelFields: readonly ProtoField[];
  private readonly graphFields: readonly ProtoField[];

  private constructor(modelFields: readonly ProtoField[]) {
    this.modelFields = modelFields;
    const graph = modelFields.find((f) => f.field === MODEL.graph);
    if (graph?.wire !== 2) throw new Error('not an ONNX model: it has no graph');
    const fields = readFields(graph.value);
    this.nodes = fields
      .filter((f) => f.field === GRAPH.node && f.wire === 2)
      .map((f) => nodeOf(f.value as Uint8Array));
    this.initializerFields = fields
      .filter((f) => f.field === GRAPH.initializer && f.wire === 2)
      .map((f) => readFields(f.value as Uint8Array));
    this.graphFields = fields.filter((f) => f.field !== GRAPH.node && f.field !== GRAPH.initializer);
  }

  /** Reads a model file's bytes. */
  static read(bytes: Uint8Array): OnnxFile {
    return new OnnxFile(readFields(bytes));
  }

  /** The opset version the model imports for a domain ('' is the default ONNX domain). */
  opsetVersion(domain = ''): number | undefined {
    for (const f of this.modelFields) {
      if (f.field !== MODEL.opsetImport || f.wire !== 2) continue;
      const entry = readFields(f.value);
      const name = entry.find((e) => e.field === OPSET.domain);
      const version = entry.find((e) => e.field === OPSET.version);
      const entryDomain = name ? textOf(name) : '';
      if ((entryDomain === 'ai.onnx' ? '' : entryDomain) === domain && version) return int64Of(version);
    }
    return undefined;
  }

  /** The initializers: names, shapes, types and where their values are. */
  initializers(): OnnxInitializer[] {
    return this.initializerFields.map(initializerOf);
  }

  /** Adds an initializer (see {@link initializerFields}). */
  addInitializer(fields: readonly ProtoField[]): void {
    this.initializerFields.push(fields);
  }

  /** Replaces the initializer of that name (a weight edit), keeping its place. */
  replaceInitializer(name: string, fields: readonly ProtoField[]): void {
    const index = this.initializerFields.findIndex((fields) => {
      const nameField = fields.find((f) => f.field === TENSOR.name);
      return nameField !== undefined && textOf(nameField) === name;
    });
    if (index === -1) throw new Error(`no initializer "${name}"`);
    this.initializerFields[index] = fields;
  }

  /** The model as bytes: untouched fields as read, the graph's nodes and initializers as they are now. */
  write(): Uint8Array {
    const graph = writeFields(
      canonicalOrder([
        ...this.nodes.map((node) => messageField(GRAPH.node, nodeFields(node))),
        ...this.initializerFields.map((fields) => messageField(GRAPH.initializer, fields)),
        ...this.graphFields,
      ]),
    );
    return writeFields(
      this.modelFields.map((f) =>
        f.field === MODEL.graph ? { field: MODEL.graph, wire: 2, value: graph } : f,
      ),
    );
  }
}
