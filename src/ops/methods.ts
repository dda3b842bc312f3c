// Tensor methods (x.matmul(w), x.sum(-1) ...), installed on the prototype so that tensor.ts does not
// import the ops. Each forwards to the op function of the same name in its op-family file. Only the
// package entry (src/index.ts) imports this file: the methods are for users; engine code (backward
// closures included) imports the op functions it calls, so nothing below the entry needs them.
// Also installs tensor.ts's `hooks` (what backward() needs from the ops).
import { Tensor, hooks } from '../tensor.js';
import type { DType } from '../dtype.js';
import type { BackendName } from '../runtime.js';
import * as u from './unary.js';
import * as bin from './binary.js';
import * as red from './reduce.js';
import * as sm from './softmax.js';
import * as mm from './matmul.js';
import * as sh from './shape.js';
import * as ga from './gather.js';
import * as cr from './creation.js';
import { accumulate } from './accumulate.js';
import * as vw from './view.js';
import * as spl from './split.js';
import * as rep from './repeat.js';
import * as pd from './pad.js';
import * as fl from './flip.js';
import * as tri from './tri.js';
import * as srt from './sort.js';
import * as oh from './one-hot.js';
import * as ia from './index-add.js';
import * as es from './einsum.js';
import * as st from './stats.js';
import * as sc from './scan.js';
import * as ls from './loss.js';
import * as pl from './pointwise-loss.js';

type Other = Tensor | number;
type Axes = number | readonly number[];

declare module '../tensor.js' {
  interface Tensor {
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    abs(): Tensor;
    relu(): Tensor;
    gelu(approximate?: 'tanh' | 'none'): Tensor;
    silu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    pow(p: number | Tensor): Tensor;
    add(o: Other): Tensor;
    sub(o: Other): Tensor;
    mul(o: Other): Tensor;
    div(o: Other): Tensor;
    maximum(o: Other): Tensor;
    minimum(o: Other): Tensor;
    lt(o: Other): Tensor;
    le(o: Other): Tensor;
    gt(o: Other): Tensor;
    ge(o: Other): Tensor;
    eq(o: Other): Tensor;
    ne(o: Other): Tensor;
    sum(axes?: Axes, keepdim?: boolean): Tensor;
    mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor;
    min(axes?: Axes, keepdim?: boolean): Tensor;
    argmax(axis?: number, keepdim?: boolean): Tensor;
    argmin(axis?: number, keepdim?: boolean): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    matmul(o: Tensor): Tensor;
    reshape(shape: readonly number[]): Tensor;
    permute(perm: readonly number[]): Tensor;
    transpose(d0?: number, d1?: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    slice(axis: number, start: number, end?: number, step?: number): Tensor;
    gather(axis: number, index: Tensor): Tensor;
    indexSelect(axis: number, index: Tensor): Tensor;
    clone(): Tensor;
    cast(dtype: DType): Tensor;
    to(backend: BackendName): Promise<Tensor>;
    // shape, indexing, einsum (ops/view, split, repeat, pad, flip, tri, sort, one-hot, index-add, einsum)
    squeeze(axes?: Axes): Tensor;
    unsqueeze(axis: number): Tensor;
    flatten(start?: number, end?: number): Tensor;
    split(sizeOrSizes: number | readonly number[], axis?: number): Tensor[];
    chunk(n: number, axis?: number): Tensor[];
    repeat(reps: readonly number[]): Tensor;
    pad(pads: readonly number[], value?: number): Tensor;
    flip(axes: Axes): Tensor;
    roll(shift: number | readonly number[], axis?: Axes): Tensor;
    tril(k?: number): Tensor;
    triu(k?: number): Tensor;
    sort(opts?: srt.SortOptions): srt.SortResult;
    topk(k: number, opts?: srt.TopkOptions): srt.SortResult;
    oneHot(numClasses: number): Tensor;
    scatterAdd(axis: number, index: Tensor, src: Tensor | readonly number[]): Tensor;
    indexAdd(axis: number, index: Tensor, source: Tensor, opts?: { alpha?: number }): Tensor;
    einsum(spec: string, ...others: Tensor[]): Tensor;
    // elementwise ops and reductions (issue 15)
    sin(): Tensor;
    cos(): Tensor;
    erf(): Tensor;
    log1p(): Tensor;
    expm1(): Tensor;
    square(): Tensor;
    sign(): Tensor;
    floor(): Tensor;
    round(): Tensor;
    clamp(min?: number, max?: number): Tensor;
    softplus(beta?: number, threshold?: number): Tensor;
    leakyRelu(slope?: number): Tensor;
    elu(alpha?: number): Tensor;
    var(axes?: Axes, opts?: st.VarOptions): Tensor;
    std(axes?: Axes, opts?: st.VarOptions): Tensor;
    logsumexp(axes?: Axes, keepdim?: boolean): Tensor;
    norm(p?: number, axes?: Axes, keepdim?: boolean): Tensor;
    cumsum(axis: number): Tensor;
    prod(axes?: Axes, keepdim?: boolean): Tensor;
    all(axes?: Axes, keepdim?: boolean): Tensor;
    any(axes?: Axes, keepdim?: boolean): Tensor;
    // losses, called on the prediction: logits.crossEntropy(targets), pred.mseLoss(target)
    crossEntropy(targets: Tensor, opts?: ls.CrossEntropyOptions): Tensor;
    nllLoss(targets: Tensor, opts?: ls.NllLossOptions): Tensor;
    mseLoss(target: Tensor, opts?: pl.LossOptions): Tensor;
    l1Loss(target: Tensor, opts?: pl.LossOptions): Tensor;
    smoothL1Loss(target: Tensor, opts?: pl.SmoothL1Options): Tensor;
    bceWithLogits(target: Tensor, opts?: pl.BceWithLogitsOptions): Tensor;
  }
}

const P = Tensor.prototype;
P.neg = function () {
  return u.neg(this);
};
P.exp = function () {
  return u.exp(this);
};
P.log = function () {
  return u.log(this);
};
P.sqrt = function () {
  return u.sqrt(this);
};
P.rsqrt = function () {
  return u.rsqrt(this);
};
P.abs = function () {
  return u.abs(this);
};
P.relu = function () {
  return u.relu(this);
};
P.gelu = function (approximate) {
  return u.gelu(this, approximate);
};
P.silu = function () {
  return u.silu(this);
};
P.sigmoid = function () {
  return u.sigmoid(this);
};
P.tanh = function () {
  return u.tanh(this);
};
P.pow = function (p) {
  return u.pow(this, p);
};
P.add = function (o) {
  return bin.add(this, o);
};
P.sub = function (o) {
  return bin.sub(this, o);
};
P.mul = function (o) {
  return bin.mul(this, o);
};
P.div = function (o) {
  return bin.div(this, o);
};
P.maximum = function (o) {
  return bin.maximum(this, o);
};
P.minimum = function (o) {
  return bin.minimum(this, o);
};
P.lt = function (o) {
  return bin.lt(this, o);
};
P.le = function (o) {
  return bin.le(this, o);
};
P.gt = function (o) {
  return bin.gt(this, o);
};
P.ge = function (o) {
  return bin.ge(this, o);
};
P.eq = function (o) {
  return bin.eq(this, o);
};
P.ne = function (o) {
  return bin.ne(this, o);
};
P.sum = function (axes, keepdim) {
  return red.sum(this, axes, keepdim);
};
P.mean = function (axes, keepdim) {
  return red.mean(this, axes, keepdim);
};
P.max = function (axes, keepdim) {
  return red.max(this, axes, keepdim);
};
P.min = function (axes, keepdim) {
  return red.min(this, axes, keepdim);
};
P.argmax = function (axis, keepdim) {
  return red.argmax(this, axis, keepdim);
};
P.argmin = function (axis, keepdim) {
  return red.argmin(this, axis, keepdim);
};
P.softmax = function (axis) {
  return sm.softmax(this, axis);
};
P.logSoftmax = function (axis) {
  return sm.logSoftmax(this, axis);
};
P.matmul = function (o) {
  return mm.matmul(this, o);
};
P.reshape = function (s) {
  return sh.reshape(this, s);
};
P.permute = function (p) {
  return sh.permute(this, p);
};
P.transpose = function (d0, d1) {
  return sh.transpose(this, d0, d1);
};
P.expand = function (s) {
  return sh.expand(this, s);
};
P.slice = function (axis, start, end, step) {
  return sh.slice(this, axis, start, end, step);
};
P.gather = function (axis, index) {
  return ga.gather(this, axis, index);
};
P.indexSelect = function (axis, index) {
  return ga.indexSelect(this, axis, index);
};
P.clone = function () {
  return cr.clone(this);
};
P.cast = function (dtype) {
  return cr.cast(this, dtype);
};
P.to = function (backend) {
  return cr.to(this, backend);
};

// shape, indexing, einsum
P.squeeze = function (axes) {
  return vw.squeeze(this, axes);
};
P.unsqueeze = function (axis) {
  return vw.unsqueeze(this, axis);
};
P.flatten = function (start, end) {
  return vw.flatten(this, start, end);
};
P.split = function (sizeOrSizes, axis) {
  return spl.split(this, sizeOrSizes, axis);
};
P.chunk = function (n, axis) {
  return spl.chunk(this, n, axis);
};
P.repeat = function (reps) {
  return rep.repeat(this, reps);
};
P.pad = function (pads, value) {
  return pd.pad(this, pads, value);
};
P.flip = function (axes) {
  return fl.flip(this, axes);
};
P.roll = function (shift, axis) {
  return fl.roll(this, shift, axis);
};
P.tril = function (k) {
  return tri.tril(this, k);
};
P.triu = function (k) {
  return tri.triu(this, k);
};
P.sort = function (opts) {
  return srt.sort(this, opts);
};
P.topk = function (k, opts) {
  return srt.topk(this, k, opts);
};
P.oneHot = function (numClasses) {
  return oh.oneHot(this, numClasses);
};
P.scatterAdd = function (axis, index, src) {
  return ia.scatterAdd(this, axis, index, src);
};
P.indexAdd = function (axis, index, source, opts) {
  return ia.indexAdd(this, axis, index, source, opts);
};
P.einsum = function (spec, ...others) {
  return es.einsum(spec, this, ...others);
};

// elementwise ops and reductions (issue 15)
P.sin = function () {
  return u.sin(this);
};
P.cos = function () {
  return u.cos(this);
};
P.erf = function () {
  return u.erf(this);
};
P.log1p = function () {
  return u.log1p(this);
};
P.expm1 = function () {
  return u.expm1(this);
};
P.square = function () {
  return u.square(this);
};
P.sign = function () {
  return u.sign(this);
};
P.floor = function () {
  return u.floor(this);
};
P.round = function () {
  return u.round(this);
};
P.clamp = function (min, max) {
  return u.clamp(this, min, max);
};
P.softplus = function (beta, threshold) {
  return u.softplus(this, beta, threshold);
};
P.leakyRelu = function (slope) {
  return u.leakyRelu(this, slope);
};
P.elu = function (alpha) {
  return u.elu(this, alpha);
};
P.var = function (axes, opts) {
  return st.variance(this, axes, opts);
};
P.std = function (axes, opts) {
  return st.std(this, axes, opts);
};
P.logsumexp = function (axes, keepdim) {
  return st.logsumexp(this, axes, keepdim);
};
P.norm = function (p, axes, keepdim) {
  return st.norm(this, p, axes, keepdim);
};
P.cumsum = function (axis) {
  return sc.cumsum(this, axis);
};
P.prod = function (axes, keepdim) {
  return st.prod(this, axes, keepdim);
};
P.all = function (axes, keepdim) {
  return st.all(this, axes, keepdim);
};
P.any = function (axes, keepdim) {
  return st.any(this, axes, keepdim);
};

P.crossEntropy = function (targets, opts) {
  return ls.crossEntropy(this, targets, opts);
};
P.nllLoss = function (targets, opts) {
  return ls.nllLoss(this, targets, opts);
};
P.mseLoss = function (target, opts) {
  return pl.mseLoss(this, target, opts);
};
P.l1Loss = function (target, opts) {
  return pl.l1Loss(this, target, opts);
};
P.smoothL1Loss = function (target, opts) {
  return pl.smoothL1Loss(this, target, opts);
};
P.bceWithLogits = function (target, opts) {
  return pl.bceWithLogits(this, target, opts);
};

hooks.onesLike = (t) => cr.onesLike(t);
hooks.clone = (t) => cr.clone(t);
hooks.add = (a, b) => bin.add(a, b);
hooks.addInto = (acc, x) => accumulate(acc, x);
