// The blocking of the fused MoRA kernels (kernels/mora_block.wgsl, mora_product_sg.wgsl,
// mora_product_smem.wgsl, mora_dm.wgsl, and the row-staged mora_rows.wgsl): which kernels and
// product, how many lanes, how much staged memory, the grids and the uniforms. src/ops/mora.ts
// defines the kernels with these; docs/performance.md has the measurements behind the choices.
import { isCpuAdapter, type Backend, type UniformField } from '../backend/interface.js';
import { fail } from '../errors.js';
import { defineKernelSwitch } from '../kernel-switches.js';
import type { MoraGeometry } from '../mora/rules.js';

/**
 * Blocking of kernels/mora_forward.wgsl and mora_backward.wgsl (kernels/mora_block.wgsl): workgroups
 * of `wgt` x `wga` lanes; a lane owns 4 consecutive tokens (a vec4) x 8 columns of M; `smem`: vec4s
 * of the staged compressed tokens over the block (wgt x R vec4s when whole; K runs in passes of
 * smem / wgt rows); `sg`: the product takes M's entries from the lanes' registers by subgroup
 * broadcast and each lane stages its own tokens in a private array (kernels/mora_product_sg.wgsl:
 * wgt 8, wga 1, the workgroup one subgroup; smem <= 8 x 256), else the block of M and the staged
 * tokens sit in workgroup memory (mora_product_smem.wgsl). The backward always runs with wga = 1 (a
 * lane owns its tokens' rows of dx).
 */
export interface MoraTile {
  wgt: number;
  wga: number;
  smem: number;
  sg: boolean;
  /** The forward and backward run kernels/mora_forward_rows.wgsl, mora_backward_rows.wgsl where the shape fits (`rowsFit`). */
  rows: boolean;
}

/** Everything one dispatch of the fused kernels needs. */
export interface MoraParams extends MoraGeometry {
  /** Tokens: numel of x's leading dims. */
  T: number;
  /** Backward: which gradients to produce. */
  wantDx: boolean;
  wantDM: boolean;
  /** Kernel blocking (webgpu). */
  tile: MoraTile;
}

/** vec4s of workgroup memory for the staged block of M (kernels/mora_product_smem.wgsl `Ms`). */
const MS4 = 256;
/** Most rows of the subgroup product's private St per lane (kernels/mora_product_sg.wgsl, mora_dm.wgsl). */
const SG_ST_ROWS = 256;

/** `mg.testing.forceKernel('mora', ...)`: the product and its blocking. */
const moraSwitch = defineKernelSwitch('mora', {
  rows: { about: "the row-staged forward and backward where they fit (a lane's 4 rows in private arrays), else as sg" },
  sg: { knobs: ['smem'], about: 'subgroup product, 8 x 1 lanes, tokens staged per lane (smem: vec4s, K in passes beyond)' },
  smem: { knobs: ['wgt', 'wga', 'smem'], about: 'M and the tokens staged in workgroup memory, wgt x wga lanes' },
});

/**
 * `ST_ROWS` of a subgroup-product kernel (kernels/mora_product_sg.wgsl, mora_dm.wgsl) that stages
 * `need` rows of K: the next power of two, at least 64 (one pipeline for all small shapes) and at
 * most the tile's smem / 8 (K runs in passes beyond). A module constant (WGSL sizes private arrays
 * with const expressions only), so each size is its own pipeline; lavapipe's build time grows with
 * the array while the run time gains little past 256 rows.
 */
export function sgRows(need: number, tile: MoraTile): number {
  return Math.min(Math.floor(tile.smem / 8), 2 ** Math.ceil(Math.log2(Math.max(need, 64))));
}

/**
 * The blocking on this adapter. CPU adapters (lavapipe: 8 lanes are one SIMD batch of one CPU
 * thread) run 8 lanes along the tokens with the subgroup product when their subgroups hold 8 lanes
 * (one K pass up to R = 256); GPUs 8 x 8 lanes with M staged in workgroup memory, K in passes when
 * a token block's compressed input (32 tokens x R) does not fit beside it.
 */
export function tileConfig(b: Pick<Backend, 'description' | 'workgroupMemory' | 'subgroups'>): MoraTile {
  const cpuLike = isCpuAdapter(b.description);
  const whole = Math.min(2048, Math.floor(b.workgroupMemory / 16));
  const hasSg = (b.subgroups?.min ?? 0) >= 8;
  const f = moraSwitch.forced();
  let t: MoraTile;
  if (f?.variant === 'sg' || f?.variant === 'rows') {
    if (!hasSg)
      fail(
        'mora',
        `the subgroup product needs subgroups of at least 8 lanes; this device has ${b.subgroups ? `${b.subgroups.min}-${b.subgroups.max}` : 'none'}`,
      );
    t = { wgt: 8, wga: 1, smem: f.params.smem ?? 8 * SG_ST_ROWS, sg: true, rows: f.variant === 'rows' };
  } else if (f?.variant === 'smem') {
    t = { wgt: f.params.wgt ?? 8, wga: f.params.wga ?? (cpuLike ? 1 : 8), smem: f.params.smem ?? whole, sg: false, rows: false };
  } else {
    const sg = cpuLike && hasSg;
    t = { wgt: 8, wga: cpuLike ? 1 : 8, smem: sg ? 8 * SG_ST_ROWS : whole, sg, rows: sg };
  }
  if (t.wgt < 1 || t.wga < 1 || t.smem < 1) fail('mora', `the blocking needs wgt, wga, smem >= 1, got ${JSON.stringify(t)}`);
  return { ...t, smem: Math.min(t.smem, t.sg ? 8 * SG_ST_ROWS : whole - MS4) };
}

/** Tokens per workgroup of the row-staged kernels (BT in kernels/mora_rows.wgsl). */
const ROWS_BT = 32;

/** A power of two >= max(need, 64): one pipeline for all small shapes (as `sgRows`). */
const pow2Rows = (need: number) => 2 ** Math.ceil(Math.log2(Math.max(need, 64)));

/**
 * The private array sizes (rows of 4 tokens) of the row-staged kernels (kernels/mora_rows.wgsl):
 * Xp a lane's 4 rows of x (and the backward's Dx: k), St one chunk's v or u (R), Z the forward's
 * product and the backward's Ut for all chunks (nc·R).
 */
export const rowsArrays = (p: MoraGeometry) => ({ XP_ROWS: pow2Rows(p.k), ST_ROWS: pow2Rows(p.R), Z_ROWS: pow2Rows(p.nc * p.R) });

/**
 * Whether the forward and backward run the row-staged kernels: on the tile's say (CPU adapters with
 * 8-lane subgroups), with each private array at most SG_ST_ROWS rows (lavapipe's compile time and
 * stack grow with them; the demo's shapes need at most 256).
 */
export function rowsFit(p: MoraParams): boolean {
  return p.tile.rows && Math.max(...Object.values(rowsArrays(p))) <= SG_ST_ROWS;
}

/** Workgroups of the row-staged kernels: one per 32 tokens. */
export const rowsBlocks = (T: number) => Math.ceil(T / ROWS_BT);

/** Pipeline-overridable constants of the fused kernels. */
export const tileConstants = ({ code, tile }: MoraParams, backward: boolean) => ({
  TYPE: code,
  WGT: tile.wgt,
  WGA: backward ? 1 : tile.wga,
  ...(tile.sg ? {} : { SMEM4: tile.smem }),
});

/** Grid of one dispatch (kernels read it from the uniforms; see `Params` in mora_common.wgsl). */
export interface Grid {
  tb: number;
  acols: number;
  ab: number;
  total: number;
}

export function grid(p: MoraParams, backward: boolean): Grid {
  const { wgt, wga } = p.tile;
  const tb = Math.ceil(p.T / (4 * wgt)); // a lane owns 4 tokens
  if (backward) return { tb, acols: 0, ab: 0, total: p.wantDx || p.wantDM ? tb : 0 };
  // forward: rows a per workgroup: one block of 8 per lane (AN in mora_block.wgsl) when several lanes
  // share the tokens (GPUs), else all of R (the tokens are compressed once)
  const block = wga * 8;
  const acols = wga > 1 ? block : block * Math.ceil(p.R / block);
  const ab = Math.ceil(p.R / acols);
  return { tb, acols, ab, total: tb * p.nc * ab };
}

/** The `Params` uniform struct of kernels/mora_common.wgsl. */
export function uniforms(p: MoraParams, gr: Grid): UniformField[] {
  const v = [p.T, p.k, p.d, p.R, p.n, p.nc, p.nfold, gr.tb, gr.acols, gr.ab, p.wantDx ? 1 : 0, p.wantDM ? 1 : 0, gr.total];
  return v.map((x) => ['u32', x] as UniformField);
}

/** Workgroups the dM reduction aims for: enough to keep lavapipe's worker threads busy. */
const DM_WORKGROUPS = 16;
/** Fewest steps τ in one slice of K (shorter ones cost more in partial sums than they gain). */
const DM_MIN_SLICE = 256;

/** Grid of the dM reduction (kernels/mora_dm.wgsl). */
export interface DmGrid {
  jb: number;
  arows: number;
  ab: number;
  /** Steps τ per slice of K (a multiple of 4). */
  kslice: number;
  /** Slices of K: partial products P (slices, R, R) that the op sums. */
  slices: number;
  total: number;
}

/**
 * Grid of the dM reduction: 32 columns per workgroup, rows split so that about 8 workgroups run
 * (fewer rows per workgroup restage V more often), and K split into slices when that still leaves
 * fewer than DM_WORKGROUPS (small R: one row range and one column block would otherwise run the
 * whole reduction on one thread), each at least DM_MIN_SLICE steps.
 */
export function dmGrid(R: number, K: number): DmGrid {
  const jb = Math.ceil(R / 32);
  const rowBlocks = Math.ceil(R / 8);
  const ab0 = Math.max(1, Math.min(rowBlocks, Math.ceil(8 / jb)));
  const arows = 8 * Math.ceil(rowBlocks / ab0);
  const ab = Math.ceil(R / arows);
  const want = Math.max(1, Math.min(Math.ceil(DM_WORKGROUPS / (jb * ab)), Math.floor(K / DM_MIN_SLICE)));
  const kslice = 4 * Math.ceil(K / want / 4);
  const slices = Math.ceil(K / kslice);
  return { jb, arows, ab, kslice, slices, total: jb * ab * slices };
}
