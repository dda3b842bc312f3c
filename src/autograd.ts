// Reverse-mode autograd over a tape. Every op that sees an input with requiresGrad records a Node on
// its output: the inputs, and a backward closure that maps dL/d(output) to dL/d(each input) using
// ordinary tensor ops (so it runs on either backend). `backward()` walks the nodes in reverse
// topological order, accumulating gradients; leaves receive theirs in `.grad`.
import { fail } from './errors.js';
import { tidy } from './runtime.js';
import { releaseSaved, retainSaved } from './tape-hold.js';
import type { Tensor } from './tensor.js';

export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

export class Node {
  constructor(
    readonly op: string,
    readonly inputs: Tensor[],
    public backwardFn: BackwardFn | null,
    /** Tensors the backward reads (kept alive until the graph is freed). */
    public saved: Tensor[],
  ) {}
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording the tape (like torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Attaches a tape node to `out` when grad mode is on and any input requires grad. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: BackwardFn, saved: Tensor[] = []): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.node = new Node(op, inputs, backward, saved);
  retainSaved(saved);
  return out;
}

export interface BackwardOptions {
  /** Keep the graph (and saved tensors) so backward can run again. */
  retainGraph?: boolean;
}

/** What backward needs from tensor.ts (kept as hooks so autograd.ts does not import ops). */
export interface BackwardHooks {
  /** Adds `g` into `leaf.grad`; takes ownership of `g` when `owned`, else copies it. */
  accumulate(leaf: Tensor, g: Tensor, owned: boolean): void;
  add(a: Tensor, b: Tensor): Tensor;
  /** acc ← acc + x in place (acc owns its storage alone). */
  addInto(acc: Tensor, x: Tensor): void;
  dispose(t: Tensor): void;
}

/**
 * dL/d(leaves) for `root`, seeded with `seed` (dL/d(root)). Runs without recording (no
 * double-backward). Intermediate gradients are disposed as soon as nothing needs them; a tensor
 * may appear as the gradient of several inputs (add passes `g` through), so ownership is counted.
 */
export function runBackward(root: Tensor, seed: Tensor, opts: BackwardOptions, hooks: BackwardHooks): void {
  // Topological order by iterative DFS (deep graphs would overflow recursion).
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, done] = stack.pop()!;
    if (done) {
      order.push(t);
      continue;
    }
    if (visited.has(t)) continue;
    visited.add(t);
    stack.push([t, true]);
    for (const inp of t.node?.inputs ?? []) if (inp.requiresGrad && !visited.has(inp)) stack.push([inp, false]);
  }

  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  const uses = new Map<Tensor, number>([[seed, 1]]); // how many entries of `grads` hold each tensor
  const use = (g: Tensor, d: number) => uses.set(g, (uses.get(g) ?? 0) + d);
  const releaseIfUnused = (g: Tensor) => {
    if (g !== seed && !uses.get(g)) hooks.dispose(g);
  };

  const prev = gradEnabled;
  gradEnabled = false;
  try {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      use(g, -1);
      const node = t.node;
      if (!node) {
        // A leaf: hand over g when nothing else holds it.
        hooks.accumulate(t, g, g !== seed && !uses.get(g));
        continue;
      }
      if (!node.backwardFn) {
        fail(
          'backward',
          `the graph through '${node.op}' was already freed by an earlier backward(); pass { retainGraph: true } to backward twice`,
        );
      }
      // A scope per node: temporaries of the backward formula (g·b before sumTo, ...) die here.
      const backwardFn = node.backwardFn;
      const inGrads = tidy(() => backwardFn(g));
      const replaced: Tensor[] = [];
      node.inputs.forEach((inp, k) => {
        const gi = inGrads[k];
        if (!gi || !inp.requiresGrad) return;
        const before = grads.get(inp);
        if (before && before !== seed && uses.get(before) === 1 && before.storage.refs === 1 && !inGrads.includes(before)) {
          // dL/d(inp) so far is ours alone: add the new part in place.
          hooks.addInto(before, gi);
        } else if (before) {
          const sum = hooks.add(before, gi);
          grads.set(inp, sum);
          use(sum, 1);
          use(before, -1);
          replaced.push(before);
        } else {
          grads.set(inp, gi);
          use(gi, 1);
        }
      });
      // Release only after every input took its gradient: one tensor may serve several inputs.
      for (const c of new Set([g, ...replaced, ...inGrads])) if (c) releaseIfUnused(c);
      if (!opts.retainGraph) {
        node.backwardFn = null;
        releaseSaved(node.saved); // activations only this node still read are freed now
        node.saved = [];
      }
    }
  } finally {
    gradEnabled = prev;
  }
}
