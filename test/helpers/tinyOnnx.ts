/**
 * Writes tiny ONNX graphs for tests: the protobuf encoding of an ONNX ModelProto (onnx.proto3 field
 * numbers), enough for a few standard operators, constant initializers and declared input/output
 * shapes. Used where a test needs a model with a contract no committed fixture has (a Depth
 * Pro-style focal-length output, a detector exported with a fixed batch of 1, a graph with a
 * missing or an extra input) and whose outputs a reader can work out by hand. The graphs are run
 * by the real onnxruntime-node, like every fixture.
 */

export type Dim = number | string;

export interface TinyValue {
  name: string;
  /** ONNX element type: 1 float32, 7 int64. */
  type: 1 | 7;
  shape: Dim[];
}

export interface TinyNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integer-list or integer attributes. */
  attrs?: Record<string, number | number[]>;
}

export interface TinyInitializer {
  name: string;
  dims: number[];
  /** float32 values (type 1) or int64 values (type 7). */
  type: 1 | 7;
  values: number[];
}

export interface TinyGraph {
  inputs: TinyValue[];
  outputs: TinyValue[];
  nodes: TinyNode[];
  initializers?: TinyInitializer[];
  opset?: number;
}

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const key = (field: number, wire: number): number[] => varint((field << 3) | wire);
const int = (field: number, n: number | bigint): number[] => [...key(field, 0), ...varint(n)];
const bytes = (field: number, b: number[] | Uint8Array): number[] => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s, 'utf8')]);

function valueInfo(v: TinyValue): number[] {
  const dims = v.shape.map((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, v.type), ...bytes(2, dims.flat())];
  return [...str(1, v.name), ...bytes(2, bytes(1, tensorType))];
}

function attribute(name: string, value: number | number[]): number[] {
  // AttributeProto: name 1, i 3, ints 8, type 20 (INT = 2, INTS = 7).
  if (Array.isArray(value)) return [...str(1, name), ...value.flatMap((v) => int(8, v)), ...int(20, 7)];
  return [...str(1, name), ...int(3, value), ...int(20, 2)];
}

function node(n: TinyNode, i: number): number[] {
  const attrs = Object.entries(n.attrs ?? {}).flatMap(([k, v]) => bytes(5, attribute(k, v)));
  return [...n.inputs.flatMap((x) => str(1, x)), ...n.outputs.flatMap((x) => str(2, x)), ...str(3, `n${i}`), ...str(4, n.op), ...attrs];
}

function tensor(t: TinyInitializer): number[] {
  const raw = t.type === 1 ? Buffer.from(Float32Array.from(t.values).buffer) : Buffer.from(BigInt64Array.from(t.values.map(BigInt)).buffer);
  return [...t.dims.flatMap((d) => int(1, d)), ...int(2, t.type), ...str(8, t.name), ...bytes(9, raw)];
}

/** The serialized ModelProto of `g` (IR version 8, default-domain opset 17 unless given). */
export function tinyOnnx(g: TinyGraph): Uint8Array {
  const graph = [
    ...g.nodes.flatMap((n, i) => bytes(1, node(n, i))),
    ...str(2, 'tiny'),
    ...(g.initializers ?? []).flatMap((t) => bytes(5, tensor(t))),
    ...g.inputs.flatMap((v) => bytes(11, valueInfo(v))),
    ...g.outputs.flatMap((v) => bytes(12, valueInfo(v))),
  ];
  const model = [...int(1, 8), ...str(2, 'valor-tests'), ...bytes(7, graph), ...bytes(8, [...str(1, ''), ...int(2, g.opset ?? 17)])];
  return Uint8Array.from(model);
}
