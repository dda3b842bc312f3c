// onnxruntime-node (CPU execution provider) as the native CPU peer: one-node ONNX models built here
// byte by byte (a minimal protobuf writer; no `onnx` package needed), run through an InferenceSession.
//
//   const s = await ortSession('MatMul', [['a', [512, 512]], ['b', [512, 512]]], { threads: 2 });
//   await s.run();                       // inputs are random float32, made once
//
// Timing an ORT run includes wrapping the inputs and copying the output back into a JS array (ORT
// has no device-resident outputs on the CPU provider); for the products measured here that copy is
// small against the arithmetic.
import { createRequire } from 'node:module';

type OrtModule = typeof import('onnxruntime-node');

let ortModule: OrtModule | null | undefined;

/** onnxruntime-node, or null when it cannot be loaded (not installed, no binary for this platform). */
export function loadOrt(): OrtModule | null {
  if (ortModule !== undefined) return ortModule;
  try {
    ortModule = createRequire(import.meta.url)('onnxruntime-node') as OrtModule;
  } catch {
    ortModule = null;
  }
  return ortModule;
}

// ---- protobuf writer (wire types 0 varint, 2 length-delimited, 5 fixed32) ----------------------------

class Pb {
  private bytes: number[] = [];

  private varint(v: number): void {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n; // int64 two's complement (negative axes)
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (x > 0n);
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.bytes.push(...b);
    return this;
  }

  bytesField(field: number, v: Uint8Array): this {
    this.key(field, 2);
    this.varint(v.length);
    for (const b of v) this.bytes.push(b);
    return this;
  }

  str(field: number, v: string): this {
    return this.bytesField(field, new TextEncoder().encode(v));
  }

  msg(field: number, m: Pb): this {
    return this.bytesField(field, m.done());
  }

  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export type OrtAttr = number | number[] | { float: number };

/** ValueInfoProto of a float32 tensor with a fixed shape. */
function valueInfo(name: string, shape: number[]): Pb {
  const dims = new Pb();
  for (const d of shape) dims.msg(1, new Pb().int(1, d)); // TensorShapeProto.dim { dim_value }
  const tensorType = new Pb().int(1, 1).msg(2, dims); // elem_type FLOAT, shape
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tensorType)); // name, TypeProto.tensor_type
}

/** AttributeProto: INT (2), INTS (7) or FLOAT (1). */
function attribute(name: string, v: OrtAttr): Pb {
  const a = new Pb().str(1, name);
  if (typeof v === 'number') return a.int(3, v).int(20, 2);
  if (Array.isArray(v)) {
    for (const x of v) a.int(8, x);
    return a.int(20, 7);
  }
  return a.float(2, v.float).int(20, 1);
}

/** A ModelProto (IR 8, opset 17) with one node `op` over the given float32 inputs. */
export function oneNodeModel(op: string, inputs: [string, number[]][], output: number[], attrs: Record<string, OrtAttr> = {}): Uint8Array {
  const node = new Pb();
  for (const [name] of inputs) node.str(1, name);
  node.str(2, 'y').str(3, 'n0').str(4, op);
  for (const [k, v] of Object.entries(attrs)) node.msg(5, attribute(k, v));
  const graph = new Pb().msg(1, node).str(2, `bench_${op}`);
  for (const [name, shape] of inputs) graph.msg(11, valueInfo(name, shape));
  graph.msg(12, valueInfo('y', output));
  return new Pb()
    .int(1, 8) // ir_version
    .str(2, 'moragrad-bench')
    .msg(7, graph)
    .msg(8, new Pb().str(1, '').int(2, 17)) // opset_import { domain '', version 17 }
    .done();
}

export interface OrtRunner {
  run(): Promise<void>;
  release(): Promise<void>;
}

/** A session for one node over random inputs; `run()` evaluates it once. Null when ORT is missing. */
export async function ortSession(
  op: string,
  inputs: [string, number[]][],
  output: number[],
  opts: { threads: number; attrs?: Record<string, OrtAttr> },
): Promise<OrtRunner | null> {
  const ort = loadOrt();
  if (!ort) return null;
  const model = oneNodeModel(op, inputs, output, opts.attrs);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed / 2 ** 32) * 2 - 1;
  };
  const feeds: Record<string, InstanceType<OrtModule['Tensor']>> = {};
  for (const [name, shape] of inputs) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rnd();
    feeds[name] = new ort.Tensor('float32', data, shape);
  }
  await session.run(feeds); // first run allocates and plans
  return {
    run: async () => {
      await session.run(feeds);
    },
    release: () => session.release(),
  };
}
