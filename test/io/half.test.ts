// float16 and bfloat16 against PyTorch 1.13 (test/io/fixtures/half_safetensors.py wrote half.json and
// half.safetensors): the conversions bit for bit (subnormals, halfway cases, overflow, ±Inf, NaN),
// safetensors F16 loading as float16 tensors and saving as F16, BF16 loading exactly into float32.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import { bf16BitsToNumber, f16BitsToNumber, f16round, float32ToBf16Bits, numberToF16Bits } from '../../src/dtype.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { setupBackends } from '../helpers.js';

setupBackends();
const FIX = join(import.meta.dirname, 'fixtures');
const golden = JSON.parse(readFileSync(join(FIX, 'half.json'), 'utf8')) as {
  source: (number | string)[];
  f16_bits: number[];
  f16_values: (number | string)[];
  bf16_bits: number[];
  bf16_values: (number | string)[];
  f16_2d_bits: number[];
};
const num = (v: number | string): number =>
  v === 'nan' ? Number.NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === '-0' ? -0 : (v as number);
const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
const source = golden.source.map(num);
const dir = mkdtempSync(join(tmpdir(), 'moragrad-half-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('binary16 / bfloat16 conversions match torch bit for bit', () => {
  it('float32 -> float16 bits, and back to the value torch gives', () => {
    source.forEach((v, i) => {
      expect(numberToF16Bits(v), `${v}`).toBe(golden.f16_bits[i]);
      expect(same(f16BitsToNumber(golden.f16_bits[i]), num(golden.f16_values[i])), `${v}`).toBe(true);
    });
  });

  it('float32 -> bfloat16 bits (NaN: any NaN; torch itself writes 0x7fc0 or 0xffff by code path)', () => {
    source.forEach((v, i) => {
      if (Number.isNaN(v)) expect(Number.isNaN(bf16BitsToNumber(float32ToBf16Bits(v)))).toBe(true);
      else expect(float32ToBf16Bits(v), `${v}`).toBe(golden.bf16_bits[i]);
      expect(same(bf16BitsToNumber(golden.bf16_bits[i]), num(golden.bf16_values[i])), `${v}`).toBe(true);
    });
  });

  it('every half survives value -> bits -> value; f16round is idempotent', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToNumber(h);
      if (Number.isNaN(v)) continue;
      if (numberToF16Bits(v) !== h) expect.fail(`half 0x${h.toString(16)} = ${v} came back as 0x${numberToF16Bits(v).toString(16)}`);
      if (!Object.is(f16round(v), v)) expect.fail(`f16round(${v}) = ${f16round(v)}`);
    }
  });

  it('the cast kernel (webgpu) and the cpu backend round float32 to half as torch', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const x = mg.tensor(source, [source.length], { backend });
      const h = x.cast('float16');
      const got = Array.from(await h.data());
      got.forEach((v, i) => expect(same(v, num(golden.f16_values[i])), `${backend} ${source[i]} -> ${v}`).toBe(true));
      x.dispose();
      h.dispose();
    }
  });
});

describe('safetensors F16 and BF16', () => {
  it('loads F16 as float16 tensors (float32 on request) and BF16 exactly into float32', async () => {
    for (const backend of ['cpu', 'webgpu'] as const) {
      const t = await mg.io.loadSafetensors(join(FIX, 'half.safetensors'), { backend, allowNonFinite: true });
      expect(t.f16.dtype).toBe('float16');
      expect(t.f16_2d.dtype).toBe('float16');
      expect(t.f16_2d.shape).toEqual([2, 3]);
      expect(t.bf16.dtype).toBe('float32');
      const f16 = Array.from(await t.f16.data());
      const bf16 = Array.from(await t.bf16.data());
      f16.forEach((v, i) => expect(same(v, num(golden.f16_values[i])), `f16 ${i}`).toBe(true));
      bf16.forEach((v, i) => expect(same(v, num(golden.bf16_values[i])), `bf16 ${i}`).toBe(true));
      for (const x of Object.values(t)) x.dispose();
      const up = await mg.io.loadSafetensors(join(FIX, 'half.safetensors'), { backend, allowNonFinite: true, float16As: 'float32' });
      expect(up.f16.dtype).toBe('float32');
      expect(Array.from(await up.f16.data())).toEqual(f16);
      for (const x of Object.values(up)) x.dispose();
    }
  });

  it('saves float16 tensors as F16 with the bytes torch wrote, and round-trips them', async () => {
    const file = join(dir, 'rt.safetensors');
    for (const backend of ['cpu', 'webgpu'] as const) {
      const orig = await mg.io.loadSafetensors(join(FIX, 'half.safetensors'), { backend, allowNonFinite: true, names: ['f16_2d'] });
      await mg.io.saveSafetensors(file, { w: orig.f16_2d });
      const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(file)), 'test');
      expect(tensors.w.dtype).toBe('F16');
      const bytes = readFileSync(file);
      const n = Number(bytes.readBigUInt64LE(0));
      const bits = Array.from({ length: 6 }, (_, i) => bytes.readUInt16LE(8 + n + 2 * i));
      expect(bits).toEqual(golden.f16_2d_bits);
      const back = await mg.io.loadSafetensors(file, { backend, allowNonFinite: true });
      expect(back.w.dtype).toBe('float16');
      expect(Array.from(await back.w.data())).toEqual(Array.from(await orig.f16_2d.data()));
      orig.f16_2d.dispose();
      back.w.dispose();
    }
  });

  it('writes float32 tensors as BF16 and F16 rounding to nearest even, as torch', async () => {
    const finite = source.map((v, i) => [v, i] as const).filter(([v]) => !Number.isNaN(v));
    const x = mg.tensor(
      finite.map(([v]) => v),
      [finite.length],
      { backend: 'cpu' },
    );
    for (const [floatDtype, key] of [
      ['BF16', 'bf16_bits'],
      ['F16', 'f16_bits'],
    ] as const) {
      const file = join(dir, `${floatDtype}.safetensors`);
      await mg.io.saveSafetensors(file, { x }, undefined, { floatDtype });
      const bytes = readFileSync(file);
      const n = Number(bytes.readBigUInt64LE(0));
      finite.forEach(([v, i], j) => expect(bytes.readUInt16LE(8 + n + 2 * j), `${floatDtype} ${v}`).toBe(golden[key][i]));
    }
    x.dispose();
  });
});
