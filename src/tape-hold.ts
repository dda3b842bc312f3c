// Who owns the activations the backward needs. A tidy scope that returns a tensor with a tape
// (`const loss = mg.tidy(() => model.loss(x, y))`) does not dispose the scope's tensors that the
// tape still reads: it hands them to the tape, as torch keeps a graph's saved tensors alive only
// through the graph.
//
//   - a tensor some node saved (listed in `record(..., saved)`; `savedBy` counts the nodes that
//     saved it and have not run their backward) keeps its storage; backward frees it as soon as
//     the last of them has run;
//   - a tensor that is only a vertex of the graph (an op's output nobody saved) keeps its node
//     but its storage is freed at once: the walk from the loss needs the node, not the numbers;
//   - every handed-over tensor is claimed by the returned roots that reach it; disposing the last
//     claiming root (the loss, after backward or instead of it) disposes it.
//
// So a training step that writes `loss = tidy(forward); loss.backward(); loss.dispose()` holds,
// between forward and backward, only what the backward needs, and frees it node by node.
import type { Tensor } from './tensor.js';

export interface TapeHold {
  /** Returned roots whose graph reaches this tensor. */
  roots: Set<Tensor>;
}

/**
 * At the end of a tidy scope: the scope's tensors that the graphs of `returned` reach. They leave
 * the scope (the caller disposes the rest) and belong to the tape from now on.
 */
export function handOverToTape(scope: Set<Tensor>, returned: Set<Tensor>): void {
  const held = new Set<Tensor>();
  for (const root of returned) {
    if (!root.node) continue;
    const claimed: Tensor[] = [];
    const seen = new Set<Tensor>([root]);
    const stack = [root];
    while (stack.length) {
      const node = stack.pop()!.node;
      if (!node) continue;
      for (const u of [...node.inputs, ...node.saved]) {
        if (seen.has(u) || !scope.has(u) || returned.has(u)) continue;
        seen.add(u);
        u.tapeHold ??= { roots: new Set() };
        u.tapeHold.roots.add(root);
        claimed.push(u);
        held.add(u);
        stack.push(u);
      }
    }
    if (claimed.length) root.heldGraph = [...(root.heldGraph ?? []), ...claimed];
  }
  for (const t of held) {
    scope.delete(t);
    if (t.savedBy === 0) t.releaseStorage();
  }
}

/** A node saves tensors for its backward (called by `record`). */
export function retainSaved(saved: readonly Tensor[]): void {
  for (const s of saved) s.savedBy++;
}

/**
 * A node will not read its saved tensors again (its backward ran without retainGraph, or its output
 * was disposed): each loses a reader, and a tape-held one nobody reads any more is freed.
 */
export function releaseSaved(saved: readonly Tensor[]): void {
  for (const s of saved) if (--s.savedBy === 0 && s.tapeHold) s.releaseStorage();
}

/** A root is disposed: it stops claiming its graph; tensors no root claims any more are disposed. */
export function releaseGraph(root: Tensor): void {
  const held = root.heldGraph;
  if (!held) return;
  root.heldGraph = null;
  for (const t of held) {
    const h = t.tapeHold;
    if (!h) continue;
    h.roots.delete(root);
    if (h.roots.size === 0) t.dispose();
  }
}
