// einsum for one and two operands, lowered onto existing ops (no loop of its own):
//   1. a label repeated within one operand (ii, iij) takes that diagonal: a strided view whose
//      stride is the sum of the repeated dims' strides (one copy; backward writes g back there);
//   2. a label that appears in one operand only and not in the output is summed away (sum);
//   3. one operand: permute to the output order;
//      two operands: permute each to [batch, free, contracted] / [batch, contracted, free], reshape
//      to [B, M, K] @ [B, K, N] (batched matmul; an outer product has K = 1), reshape the product
//      to its labels and permute to the output order.
// Gradients come through those ops. Reshapes are views; a permute that keeps the order is skipped,
// and an operand stored transposed ([batch, contracted, free] on the left, [batch, free,
// contracted] on the right: 'ij,kj->ik', 'bhqd,bhkd->bhqk') is read transposed by the matmul.
import { record } from '../autograd.js';
import { fail, fmtShape } from '../errors.js';
import { numel, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { zeros } from './creation.js';
import { matmulT } from './matmul.js';
import { sum } from './reduce.js';
import { checkTensor, done, permute, release, reshape, stridedCopy } from './shape.js';

const OP = 'einsum';

interface Term {
  t: Tensor;
  labels: string[];
}

/** The diagonal over repeated labels (first appearance order), as torch.diagonal generalised. */
// y[i, ..] = x[i, .., i, ..]                    -> dx = zeros(x.shape) with g written on that diagonal
function diagonal(x: Tensor, labels: string[]): Term {
  const unique = [...new Set(labels)];
  if (unique.length === labels.length) return { t: x, labels };
  const xs = stridesOf(x.shape);
  const shape = unique.map((l) => x.shape[labels.indexOf(l)]);
  const strides = unique.map((l) => labels.reduce((s, m, i) => (m === l ? s + xs[i] : s), 0));
  const y = stridedCopy(x, { shape, strides }, undefined, 'einsum.diagonal');
  const xShape = x.shape;
  record(y, 'einsum.diagonal', [x], (g) => {
    const dx = zeros(xShape, { backend: g.backend.name });
    return [done('einsum.diagonal', stridedCopy(g, { shape, strides: stridesOf(shape) }, { tensor: dx, strides }, 'einsum.diagonal'))];
  });
  return { t: y, labels: unique };
}

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((l, i) => l === b[i]);

/** x permuted so that its labels read `order` (no copy when they already do). */
function arrange(term: Term, order: string[]): Tensor {
  const perm = order.map((l) => term.labels.indexOf(l));
  return perm.every((p, i) => p === i) ? term.t : permute(term.t, perm);
}

function parse(spec: string, tensors: readonly Tensor[]): { inputs: string[][]; output: string[] } {
  if (typeof spec !== 'string') fail(OP, `the spec must be a string such as 'ij,jk->ik', got ${typeof spec}`);
  const s = spec.replace(/\s+/g, '');
  if (s.includes('...') || s.includes('.')) fail(OP, `'${spec}': '...' (broadcast dims) is not supported; name every dim with a letter`);
  const [lhs, rhs, ...extra] = s.split('->');
  if (extra.length > 0) fail(OP, `'${spec}' has more than one '->'`);
  const terms = lhs.split(',');
  if (terms.length !== tensors.length) fail(OP, `'${spec}' names ${terms.length} operand(s) but ${tensors.length} tensor(s) were given`);
  if (terms.length < 1 || terms.length > 2) fail(OP, `'${spec}': one or two operands are supported, got ${terms.length}`);
  const bad = /[^a-zA-Z]/.exec(lhs.replace(/,/g, '') + (rhs ?? ''));
  if (bad) fail(OP, `'${spec}': subscripts must be letters a-z, A-Z (got '${bad[0]}')`);
  const inputs = terms.map((t) => [...t]);
  inputs.forEach((labels, i) => {
    checkTensor(OP, tensors[i], `operand ${i}`);
    if (labels.length !== tensors[i].ndim)
      fail(
        OP,
        `'${spec}': operand ${i} has subscripts '${terms[i]}' (${labels.length} dims) but ${tensors[i].describe()} has ${tensors[i].ndim}`,
      );
  });
  const count = new Map<string, number>();
  for (const l of inputs.flat()) count.set(l, (count.get(l) ?? 0) + 1);
  let output: string[];
  if (rhs === undefined) {
    output = [...count.keys()].filter((l) => count.get(l) === 1).sort(); // implicit: the labels seen once, in order
  } else {
    output = [...rhs];
    if (new Set(output).size !== output.length) fail(OP, `'${spec}': the output '${rhs}' repeats a subscript`);
    for (const l of output) if (!count.has(l)) fail(OP, `'${spec}': output subscript '${l}' appears in no operand`);
  }
  // every label has one size
  const size = new Map<string, [number, number]>();
  inputs.forEach((labels, i) =>
    labels.forEach((l, d) => {
      const n = tensors[i].shape[d];
      const seen = size.get(l);
      if (seen && tensors[seen[0]].shape[seen[1]] !== n)
        fail(
          OP,
          `'${spec}': subscript '${l}' has size ${tensors[seen[0]].shape[seen[1]]} in operand ${seen[0]} ${fmtShape(tensors[seen[0]].shape)} and ${n} in operand ${i} ${fmtShape(tensors[i].shape)}`,
        );
      if (!seen) size.set(l, [i, d]);
    }),
  );
  return { inputs, output };
}

/**
 * torch.einsum for one or two operands: 'ij->ji' (transpose), 'ii->i' (diagonal), 'ii->' (trace),
 * 'ij->j' (sum), 'ij,jk->ik' (matmul), 'bij,bjk->bik' (batched), 'i,j->ij' (outer), 'i,i->' (dot),
 * and their mixtures. Without '->' the output is the labels that appear once, in alphabetical order.
 * '...' is not supported. Lowered onto diagonal views, sum, permute, reshape and batched matmul.
 */
// y = Σ over the labels not in the output of Π operands   -> gradients through the lowered ops
export function einsum(spec: string, ...tensors: Tensor[]): Tensor {
  const { inputs, output } = parse(spec, tensors);
  const temps: Tensor[] = [];
  const keep = (t: Tensor): Tensor => {
    temps.push(t);
    return t;
  };
  /** Sums and products take float32 (pure movement, transposes and diagonals, takes any dtype). */
  const needFloat = () => {
    const bad = tensors.find((t) => t.dtype !== 'float32');
    if (bad) fail(OP, `'${spec}' sums or multiplies, which needs float32 operands; got ${bad.describe()} (cast it first)`);
  };
  let terms: Term[] = inputs.map((labels, i) => {
    const d = diagonal(tensors[i], labels);
    if (d.t !== tensors[i]) keep(d.t);
    return d;
  });
  // Sum away the labels only one operand has and the output does not.
  terms = terms.map((term, i) => {
    const others = new Set([...output, ...terms.filter((_, j) => j !== i).flatMap((o) => o.labels)]);
    const axes = term.labels.flatMap((l, d) => (others.has(l) ? [] : [d]));
    if (axes.length === 0) return term;
    needFloat();
    return { t: keep(sum(term.t, axes)), labels: term.labels.filter((l) => others.has(l)) };
  });
  let y: Tensor;
  if (terms.length === 1) {
    y = arrange(terms[0], output);
  } else {
    needFloat();
    const [a, b] = terms;
    const inOut = new Set(output);
    const sizeOf = (l: string) => (a.labels.includes(l) ? a.t.shape[a.labels.indexOf(l)] : b.t.shape[b.labels.indexOf(l)]);
    const batch = output.filter((l) => a.labels.includes(l) && b.labels.includes(l));
    const left = output.filter((l) => a.labels.includes(l) && !b.labels.includes(l));
    const right = output.filter((l) => b.labels.includes(l) && !a.labels.includes(l));
    const contracted = a.labels.filter((l) => b.labels.includes(l) && !inOut.has(l));
    const n = (ls: string[]) => numel(ls.map(sizeOf));
    // An operand as [B, rows, cols] for the matmul: as stored when its labels already read
    // [batch, rows, cols], or [batch, cols, rows] (the matmul reads it transposed); else permuted.
    const operand = (t: Term, rows: string[], cols: string[]): { m: Tensor; trans: boolean } => {
      const trans = cols.length > 0 && rows.length > 0 && same(t.labels, [...batch, ...cols, ...rows]);
      const order = trans ? [...batch, ...cols, ...rows] : [...batch, ...rows, ...cols];
      const dims = trans ? [n(batch), n(cols), n(rows)] : [n(batch), n(rows), n(cols)];
      return { m: keep(reshape(keep(arrange(t, order)), dims)), trans };
    };
    const A = operand(a, left, contracted); // [B, M, K] (or [B, K, M], transA)
    const B = operand(b, contracted, right); // [B, K, N] (or [B, N, K], transB)
    const C = keep(matmulT(A.m, B.m, { transA: A.trans, transB: B.trans })); // [B, M, N]
    const labels = [...batch, ...left, ...right];
    y = arrange({ t: keep(reshape(C, labels.map(sizeOf))), labels }, output);
  }
  release(...new Set(temps.filter((t) => t !== y && !tensors.includes(t))));
  return tensors.includes(y) ? reshape(y, y.shape) : y; // a new tensor (a view) even for 'ij->ij'
}
