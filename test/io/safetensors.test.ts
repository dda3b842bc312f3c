// safetensors: byte-exact layout, round trips over generated tensors, every dtype on read, rejection
// of malformed files (explicit cases + fast-check corruptions: always a MoragradError, never a crash),
// tensors saved/loaded through a backend, and atomic writes.
import fc from 'fast-check';
import fs from 'node:fs/promises';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as mg from '../../src/index.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  fromBF16,
  fromF16,
  loadSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  toBF16,
  toF16,
  type EncodeEntry,
} from '../../src/io/safetensors.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { hasGpu, setupBackends } from '../helpers.js';

setupBackends();
const arb = mg.testing.arbitraries;
const dir = mkdtempSync(join(tmpdir(), 'moragrad-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const utf8 = (s: string) => new TextEncoder().encode(s);

/** A file from a header string (padded with spaces to `pad`) and raw data bytes, built by hand. */
function handBuilt(header: string, data: number[] | Uint8Array, pad = 8): Uint8Array {
  const h = utf8(header);
  const n = Math.ceil(h.length / pad) * pad;
  const out = new Uint8Array(8 + n + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(h, 8);
  out.fill(0x20, 8 + h.length, 8 + n);
  out.set(data, 8 + n);
  return out;
}

function le(kind: 'f32' | 'i32' | 'f64' | 'i64' | 'u16', values: (number | bigint)[]): number[] {
  const size = { f32: 4, i32: 4, f64: 8, i64: 8, u16: 2 }[kind];
  const dv = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((v, i) => {
    if (kind === 'f32') dv.setFloat32(i * 4, v as number, true);
    if (kind === 'i32') dv.setInt32(i * 4, v as number, true);
    if (kind === 'f64') dv.setFloat64(i * 8, v as number, true);
    if (kind === 'i64') dv.setBigInt64(i * 8, BigInt(v), true);
    if (kind === 'u16') dv.setUint16(i * 2, v as number, true);
  });
  return Array.from(new Uint8Array(dv.buffer));
}

function expectRejects(bytes: Uint8Array, message: RegExp): void {
  let err: unknown;
  try {
    decodeSafetensors(bytes);
  } catch (e) {
    err = e;
  }
  expect(err, 'decode should throw').toBeInstanceOf(mg.MoragradError);
  expect((err as Error).message).toMatch(message);
}

describe('safetensors layout', () => {
  it('encodes byte-for-byte like a hand-built file (header order, padding, little-endian data)', () => {
    const bytes = encodeSafetensors(
      {
        w: { dtype: 'F32', shape: [2, 2], data: [1, -2, 0.5, 3] },
        h: { dtype: 'F16', shape: [3], data: [1, -2, 65504] },
        idx: { dtype: 'I32', shape: [3], data: [7, -1, 2147483647] },
      },
      { format: 'pt' },
    );
    // 4-byte dtypes first (by name: idx, w), then F16; offsets contiguous from 0.
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"idx":{"dtype":"I32","shape":[3],"data_offsets":[0,12]},' +
      '"w":{"dtype":"F32","shape":[2,2],"data_offsets":[12,28]},' +
      '"h":{"dtype":"F16","shape":[3],"data_offsets":[28,34]}}';
    const expected = handBuilt(header, [
      ...le('i32', [7, -1, 2147483647]),
      ...le('f32', [1, -2, 0.5, 3]),
      ...le('u16', [0x3c00, 0xc000, 0x7bff]),
    ]);
    expect(Array.from(bytes)).toEqual(Array.from(expected));
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8).toBe(0);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors)).toEqual(['idx', 'w', 'h']);
    expect(Array.from(tensors.w.data)).toEqual([1, -2, 0.5, 3]);
    expect(tensors.w.data).toBeInstanceOf(Float32Array);
    expect(Array.from(tensors.h.data)).toEqual([1, -2, 65504]);
    expect(Array.from(tensors.idx.data)).toEqual([7, -1, 2147483647]);
    expect(tensors.idx.data).toBeInstanceOf(Int32Array);
  });

  it('reads every supported dtype from a hand-built file, in any JSON key order', () => {
    const parts: [string, string, number[], number[]][] = [
      ['f64', 'F64', le('f64', [0.1, -1e30]), [Math.fround(0.1), Math.fround(-1e30)]],
      ['bf', 'BF16', le('u16', [0x3f80, 0xc040, 0x7f80]), [1, -3, Infinity]],
      ['hf', 'F16', le('u16', [0x0001, 0x3555, 0xfc00]), [2 ** -24, fromF16(0x3555), -Infinity]],
      ['i64', 'I64', le('i64', [-5n, 2147483647n]), [-5, 2147483647]],
      ['i8', 'I8', [0xff, 0x7f], [-1, 127]],
      ['u8', 'U8', [0xff, 0x00], [255, 0]],
      ['b', 'BOOL', [1, 0, 1], [1, 0, 1]],
    ];
    let off = 0;
    const entries: string[] = [];
    const data: number[] = [];
    for (const [name, dtype, bytes, values] of parts) {
      entries.push(`"${name}":{"dtype":"${dtype}","shape":[${values.length}],"data_offsets":[${off},${off + bytes.length}]}`);
      data.push(...bytes);
      off += bytes.length;
    }
    // Reverse JSON order vs data order: allowed, the offsets decide. Also no __metadata__, and
    // whitespace inside the JSON.
    const file = handBuilt(`{ ${entries.reverse().join(' , ')} }`, data);
    const { tensors, metadata } = decodeSafetensors(file);
    expect(metadata).toEqual({});
    for (const [name, dtype, , values] of parts) {
      expect(tensors[name].dtype).toBe(dtype);
      expect(Array.from(tensors[name].data), name).toEqual(values);
      expect(tensors[name].data).toBeInstanceOf(['F64', 'BF16', 'F16'].includes(dtype) ? Float32Array : Int32Array);
    }
  });

  it('handles scalars, empty tensors, an empty file body and unaligned header lengths on read', () => {
    const bytes = encodeSafetensors({ s: { dtype: 'F32', shape: [], data: [4.5] }, e: { dtype: 'F32', shape: [0, 3], data: [] } });
    const { tensors } = decodeSafetensors(bytes);
    expect(tensors.s.shape).toEqual([]);
    expect(Array.from(tensors.s.data)).toEqual([4.5]);
    expect(tensors.e.shape).toEqual([0, 3]);
    expect(tensors.e.data.length).toBe(0);
    expect(decodeSafetensors(encodeSafetensors({})).tensors).toEqual({});
    // A header length that is not a multiple of 8 (other writers may not pad) still reads.
    const odd = handBuilt('{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}', [1, 2, 3], 1);
    expect(Array.from(decodeSafetensors(odd).tensors.a.data)).toEqual([1, 2, 3]);
  });

  it('F16 and BF16 conversions round to nearest even and cover the special values', () => {
    expect(toF16(1)).toBe(0x3c00);
    expect(toF16(65504)).toBe(0x7bff);
    expect(toF16(65520)).toBe(0x7c00); // halfway to the next binade rounds up to inf
    expect(toF16(65519)).toBe(0x7bff);
    expect(toF16(2 ** -24)).toBe(0x0001);
    expect(toF16(2 ** -25)).toBe(0x0000); // tie -> even (0)
    expect(toF16(1.5 * 2 ** -24)).toBe(0x0002); // tie -> even (2)
    expect(toF16(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(toF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toF16(-0)).toBe(0x8000);
    expect(Number.isNaN(fromF16(toF16(NaN)))).toBe(true);
    expect(toBF16(1)).toBe(0x3f80);
    expect(toBF16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(toBF16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(Number.isNaN(fromBF16(toBF16(NaN)))).toBe(true);
    // Every finite half is exactly representable and survives the round trip.
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = fromF16(h);
      if (!Number.isNaN(v) && toF16(v) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });
});

describe('safetensors round trip', () => {
  const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__');
  const entry: fc.Arbitrary<EncodeEntry> = fc.oneof(
    arb.shape({ maxRank: 3, maxDim: 6 }).chain((shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return fc.oneof(
        fc.array(fc.float({ noNaN: false }), { minLength: n, maxLength: n }).map((data) => ({ dtype: 'F32' as const, shape, data })),
        fc
          .array(fc.integer({ min: -2147483648, max: 2147483647 }), { minLength: n, maxLength: n })
          .map((data) => ({ dtype: 'I32' as const, shape, data })),
        fc
          .array(fc.integer({ min: 0, max: 0xffff }), { minLength: n, maxLength: n })
          .map((bits) => ({ dtype: 'F16' as const, shape, data: bits.map(fromF16) })),
        fc
          .array(fc.integer({ min: 0, max: 0xffff }), { minLength: n, maxLength: n })
          .map((bits) => ({ dtype: 'BF16' as const, shape, data: bits.map(fromBF16) })),
      );
    }),
    fc.constant({ dtype: 'F32' as const, shape: [0], data: [] }),
  );

  it('decode(encode(tensors)) gives back the tensors and metadata exactly (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(name, entry, { maxKeys: 5 }),
        fc.option(fc.dictionary(fc.string(), fc.string({ unit: 'binary' }), { maxKeys: 3 }), { nil: undefined }),
        (tensors, metadata) => {
          const bytes = encodeSafetensors(tensors, metadata);
          const out = decodeSafetensors(bytes);
          expect(out.metadata).toEqual(metadata ?? {});
          expect(Object.keys(out.tensors).sort()).toEqual(Object.keys(tensors).sort());
          for (const [k, t] of Object.entries(tensors)) {
            const got = out.tensors[k];
            expect(got.dtype).toBe(t.dtype);
            expect(got.shape).toEqual(t.shape);
            // Object.is: NaN equals NaN, -0 differs from 0.
            const want = t.dtype === 'I32' ? Array.from(t.data) : Array.from(t.data, Math.fround);
            Array.from(got.data).forEach((v, i) =>
              expect(Object.is(v, want[i]) || (Number.isNaN(v) && Number.isNaN(want[i])), `${k}[${i}]: ${v} vs ${want[i]}`).toBe(true),
            );
          }
          // Same tensors, any insertion order -> same bytes.
          const reordered = Object.fromEntries(Object.entries(tensors).reverse());
          expect(Array.from(encodeSafetensors(reordered, metadata))).toEqual(Array.from(bytes));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('encode rejects bad input with clear errors', () => {
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3] } })).toThrow(
      /encodeSafetensors: tensor 'a': shape \[2, 2\] needs 4 values, data has 3/,
    );
    expect(() => encodeSafetensors({ a: { dtype: 'I32', shape: [1], data: [1.5] } })).toThrow(/element 0 = 1.5 is not an int32/);
    expect(() => encodeSafetensors({ a: { dtype: 'I32', shape: [1], data: [2 ** 31] } })).toThrow(/is not an int32/);
    expect(() => encodeSafetensors({ a: { dtype: 'U16' as never, shape: [1], data: [1] } })).toThrow(/cannot write dtype 'U16'/);
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [-1], data: [] } })).toThrow(/non-negative integers/);
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [], data: [1] } })).toThrow(/reserved/);
    expect(() => encodeSafetensors({}, { step: 3 as never })).toThrow(/metadata\['step'\] must be a string/);
  });
});

describe('safetensors rejects malformed files', () => {
  const good = encodeSafetensors(
    { a: { dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, b: { dtype: 'I32', shape: [2], data: [1, 2] } },
    { k: 'v' },
  );
  const entry = (name: string, dtype: string, shape: number[], off: [number, number]) =>
    `"${name}":{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(off)}}`;
  const zeros = (n: number) => new Array<number>(n).fill(0);

  it('names the problem for each kind of corruption', () => {
    expectRejects(new Uint8Array(5), /5 bytes, too short/);
    const big = good.slice();
    new DataView(big.buffer).setBigUint64(0, BigInt(good.length), true);
    expectRejects(big, /header length \d+ runs past the end of the file/);
    new DataView(big.buffer).setBigUint64(0, 2n ** 63n, true);
    expectRejects(big, /exceeds the 100000000-byte limit/);
    expectRejects(handBuilt('{"a": [1, 2', []), /not valid JSON: .* at character/);
    expectRejects(handBuilt('not json at all', []), /must be a JSON object starting with '\{'/);
    expectRejects(handBuilt('{"a":1} xx', []), /trailing characters/);
    expectRejects(handBuilt(`{${entry('a', 'Q99', [1], [0, 4])}}`, zeros(4)), /tensor 'a': unknown dtype 'Q99'/);
    expectRejects(handBuilt(`{${entry('a', 'U16', [1], [0, 2])}}`, zeros(2)), /dtype 'U16' is not supported/);
    expectRejects(
      handBuilt(`{${entry('a', 'F32', [3], [0, 8])}}`, zeros(8)),
      /shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/,
    );
    expectRejects(
      handBuilt(`{${entry('a', 'F32', [2], [0, 8])},${entry('b', 'F32', [2], [4, 12])}}`, zeros(12)),
      /tensor 'b': .* overlap tensor 'a'/,
    );
    expectRejects(
      handBuilt(`{${entry('a', 'F32', [1], [0, 4])},${entry('b', 'F32', [1], [8, 12])}}`, zeros(12)),
      /leave a hole at bytes \[4, 8\)/,
    );
    expectRejects(handBuilt(`{${entry('a', 'F32', [1], [4, 8])}}`, zeros(8)), /leave a hole at bytes \[0, 4\)/);
    expectRejects(handBuilt(`{${entry('a', 'F32', [1], [0, 4])}}`, zeros(6)), /2 trailing bytes/);
    expectRejects(handBuilt(`{${entry('a', 'F32', [0], [8, 4])}}`, zeros(8)), /end before they begin/);
    expectRejects(handBuilt(`{${entry('a', 'F32', [2], [0, 8])}}`, zeros(4)), /run past the end of the data section \(4 bytes\)/);
    expectRejects(good.subarray(0, good.length - 3), /run past the end of the data section/); // truncation
    expectRejects(handBuilt(`{${entry('a', 'F32', [1], [0, 4])},${entry('a', 'F32', [1], [4, 8])}}`, zeros(8)), /duplicate name "a"/);
    expectRejects(handBuilt(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, zeros(4)), /duplicate name "dtype"/);
    expectRejects(handBuilt(`{"a":{"dtype":"F32","shape":[1]}}`, zeros(4)), /'data_offsets' must be \[begin, end\].*missing/);
    expectRejects(
      handBuilt(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, zeros(4)),
      /'shape' must be an array of non-negative integers/,
    );
    expectRejects(handBuilt(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e300]}}`, zeros(4)), /'data_offsets' must be/);
    expectRejects(handBuilt(`{"a":5}`, []), /tensor 'a': entry must be an object/);
    expectRejects(handBuilt(`{"__metadata__":{"k":1}}`, []), /'__metadata__'\['k'\] must be a string/);
    expectRejects(handBuilt(`{"__metadata__":[]}`, []), /'__metadata__' must be an object/);
    expectRejects(handBuilt(`{"a":${'['.repeat(100_000)}}`, []), /nesting deeper than 64/);
    const badUtf8 = handBuilt('{"a":1}', []);
    badUtf8[10] = 0xff;
    expectRejects(badUtf8, /not valid UTF-8/);
    expectRejects(
      handBuilt(`{${entry('a', 'I64', [1], [0, 8])}}`, le('i64', [2n ** 40n])),
      /I64 element 0 = 1099511627776 is outside int32 range/,
    );
    expectRejects(handBuilt(`{${entry('a', 'F64', [1], [0, 8])}}`, le('f64', [1e300])), /F64 element 0 = 1e\+300 is outside float32 range/);
    expectRejects(handBuilt(`{${entry('a', 'BOOL', [2], [0, 2])}}`, [1, 7]), /BOOL element 1 is byte 7/);
    // '__proto__' is an ordinary tensor name, not a prototype hijack.
    const proto = decodeSafetensors(handBuilt(`{${entry('__proto__', 'U8', [1], [0, 1])}}`, [9]));
    expect(Object.keys(proto.tensors)).toEqual(['__proto__']);
    // Its data, read back as the object's one own entry.
    expect(Array.from(Object.values(proto.tensors)[0].data)).toEqual([9]);
  });

  /** decode must either succeed or throw a MoragradError; anything else (TypeError, RangeError, hang) fails. */
  function decodeOrReject(bytes: Uint8Array): void {
    try {
      const out = decodeSafetensors(bytes);
      // A mutation that still parses must describe a self-consistent file.
      for (const t of Object.values(out.tensors)) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    } catch (e) {
      if (!(e instanceof mg.MoragradError)) throw new Error(`decode crashed with ${(e as Error)?.name}: ${(e as Error)?.message}`);
      expect(e.message).toMatch(/^decodeSafetensors: /);
    }
  }

  it('random byte edits and truncations of a valid file: MoragradError or a valid decode (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(good.length),
        (edits, cut) => {
          const bytes = good.slice(0, cut);
          for (const [i, v] of edits) if (i < bytes.length) bytes[i] = v;
          decodeOrReject(bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random headers (wrong types, dtypes, shapes, offsets, duplicates): MoragradError or a valid decode (fast-check)', () => {
    const jsonish = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean(), fc.double());
    const dtype = fc.oneof(fc.constantFrom('F32', 'I32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'I8', 'BOOL', 'U16', 'X'), jsonish);
    const shape = fc.oneof(fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }), jsonish);
    const offsets = fc.oneof(
      fc.tuple(fc.integer({ min: -1, max: 40 }), fc.integer({ min: -1, max: 40 })),
      fc.array(fc.nat(40), { maxLength: 3 }),
      jsonish,
    );
    const info = fc.record({ dtype, shape, data_offsets: offsets }, { requiredKeys: [] });
    const raw = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', '__metadata__', '__proto__'), fc.oneof(info, jsonish)), { maxLength: 4 });
    fc.assert(
      fc.property(raw, fc.nat(40), fc.boolean(), (pairs, dataLen, spaced) => {
        // Built as text so that duplicate names survive.
        const header = `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(spaced ? ' , ' : ',')}}`;
        decodeOrReject(handBuilt(header, zeros(dataLen)));
      }),
      { numRuns: 300 },
    );
  });

  it('random header lengths and garbage: MoragradError, never a crash (fast-check)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 64 }), (n, rest) => {
        const bytes = new Uint8Array(8 + rest.length);
        new DataView(bytes.buffer).setBigUint64(0, n, true);
        bytes.set(rest, 8);
        decodeOrReject(bytes);
      }),
      { numRuns: 200 },
    );
  });
});

describe('safetensors files and tensors', () => {
  it('saves and loads tensors (cpu), reads the header alone, filters names', async () => {
    const w = mg.tensor([1.5, -2, 3.25, 4, 5, 6], [2, 3], { backend: 'cpu' });
    const ids = mg.tensor([3, 1, 4], [3], { backend: 'cpu', dtype: 'int32' });
    const path = join(dir, 'model.safetensors');
    await saveSafetensors(path, { 'h.0.w': w, ids }, { step: '10' });
    const header = await readSafetensorsHeader(path);
    expect(header.metadata).toEqual({ step: '10' });
    expect(header.tensors['h.0.w']).toEqual({ dtype: 'F32', shape: [2, 3], dataOffsets: [0, 24] });
    expect(header.tensors.ids).toEqual({ dtype: 'I32', shape: [3], dataOffsets: [24, 36] });
    expect(header.dataStart % 8).toBe(0);
    const loaded = await loadSafetensors(path, { backend: 'cpu' });
    expect(loaded['h.0.w'].shape).toEqual([2, 3]);
    expect(loaded['h.0.w'].dtype).toBe('float32');
    expect(await loaded['h.0.w'].toArray()).toEqual(await w.toArray());
    expect(loaded.ids.dtype).toBe('int32');
    expect(Array.from(await loaded.ids.data())).toEqual([3, 1, 4]);
    const only = await loadSafetensors(path, { backend: 'cpu', names: ['ids'] });
    expect(Object.keys(only)).toEqual(['ids']);
    await expect(loadSafetensors(path, { backend: 'cpu', names: ['nope'] })).rejects.toThrow(
      /loadSafetensors\(.*model.safetensors\): no tensor named 'nope'/,
    );
    await expect(loadSafetensors(join(dir, 'missing.safetensors'))).rejects.toThrow(
      /loadSafetensors\(.*\): no such file: .*missing.safetensors/,
    );
    await fs.writeFile(join(dir, 'bad.safetensors'), new Uint8Array([1, 2, 3]));
    await expect(loadSafetensors(join(dir, 'bad.safetensors'))).rejects.toThrow(/loadSafetensors\(.*bad.safetensors\): file is 3 bytes/);
    await expect(readSafetensorsHeader(join(dir, 'bad.safetensors'))).rejects.toThrow(/readSafetensorsHeader\(.*\): file is 3 bytes/);
    await saveSafetensors(join(dir, 'half.safetensors'), { w }, undefined, { floatDtype: 'BF16' });
    const half = decodeSafetensors(await fs.readFile(join(dir, 'half.safetensors')));
    expect(half.tensors.w.dtype).toBe('BF16');
    expect(Array.from(half.tensors.w.data)).toEqual([1.5, -2, 3.25, 4, 5, 6]);
    for (const t of [w, ids, ...Object.values(loaded), ...Object.values(only)]) t.dispose();
  });

  it('webgpu tensors save (read back from the GPU) and load onto the GPU', async () => {
    if (!(await hasGpu())) return;
    const x = mg.randn([3, 5], { seed: 7, backend: 'webgpu' });
    const path = join(dir, 'gpu.safetensors');
    await saveSafetensors(path, { x });
    const back = await loadSafetensors(path, { backend: 'webgpu' });
    expect(back.x.backend.name).toBe('webgpu');
    expect(Array.from(await back.x.data())).toEqual(Array.from(await x.data()));
    x.dispose();
    back.x.dispose();
  });
});

describe('writeFileAtomic', () => {
  const temps = (d: string) => readdirSync(d).filter((f) => f.endsWith('.tmp'));

  it('writes the bytes and leaves no temporary file', async () => {
    const path = join(dir, 'atomic.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(Array.from(await fs.readFile(path))).toEqual([1, 2, 3]);
    await writeFileAtomic(path, 'replaced');
    expect(await fs.readFile(path, 'utf8')).toBe('replaced');
    expect(temps(dir)).toEqual([]);
  });

  it('on failure keeps the old file intact and removes the temporary file', async () => {
    const path = join(dir, 'keep.bin');
    await writeFileAtomic(path, 'old contents');
    const spy = vi.spyOn(fs, 'rename').mockRejectedValueOnce(new Error('EIO: simulated rename failure'));
    await expect(writeFileAtomic(path, 'new contents')).rejects.toThrow(
      /writeFileAtomic: could not write '.*keep.bin' \(12 bytes\); the previous file, if any, is unchanged: EIO: simulated/,
    );
    spy.mockRestore();
    expect(await fs.readFile(path, 'utf8')).toBe('old contents');
    expect(temps(dir)).toEqual([]);

    // A failure in the middle of writing the data.
    const open = fs.open.bind(fs);
    const spyOpen = vi.spyOn(fs, 'open').mockImplementationOnce(async (...args: Parameters<typeof fs.open>) => {
      const fh = await open(...args);
      let calls = 0;
      fh.write = (async (...w: unknown[]) => {
        if (calls++ > 0) throw new Error('ENOSPC: simulated full disk');
        return (fh.constructor.prototype.write as (...a: unknown[]) => Promise<{ bytesWritten: number }>).call(fh, w[0], w[1], 4);
      }) as typeof fh.write;
      return fh;
    });
    await expect(writeFileAtomic(path, 'much longer new contents')).rejects.toThrow(/ENOSPC: simulated full disk/);
    spyOpen.mockRestore();
    expect(await fs.readFile(path, 'utf8')).toBe('old contents');
    expect(temps(dir)).toEqual([]);

    // A directory that does not exist: nothing is created.
    await expect(writeFileAtomic(join(dir, 'no', 'such', 'dir.bin'), 'x')).rejects.toThrow(/writeFileAtomic: could not write .*ENOENT/);
  });
});
