// A key/value cache for incremental decoding: per attention layer, the keys (after rotary) and values
// of every position seen so far, [B, T, nKvHead, hs] (the layout attention reads in place). Each
// decoding step runs the model on the new tokens only, appends their k and v, and attends over the
// cache (a query block of Tq new tokens after Tk - Tq cached ones: attention's bottom-right causal
// alignment). The cached tensors are kept out of tidy scopes and owned here: dispose() frees them.
import { fail, fmtShape } from '../errors.js';
import { concat } from '../ops/shape.js';
import { keep } from '../runtime.js';
import type { Tensor } from '../tensor.js';

/** One layer's cache: keys and values [B, T, nKv, hs] of positions 0..length-1. */
export class LayerKVCache {
  k: Tensor | null = null;
  v: Tensor | null = null;

  /** Positions cached (the absolute position of the next token). */
  get length(): number {
    return this.k ? this.k.shape[1] : 0;
  }

  /** Appends k, v [B, T, nKv, hs] and returns the whole cache [B, length, nKv, hs] (owned by the cache). */
  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    if (this.k && this.v) {
      const want = [this.k.shape[0], this.k.shape[2], this.k.shape[3]].join();
      if ([k.shape[0], k.shape[2], k.shape[3]].join() !== want || k.shape.join() !== v.shape.join()) {
        fail('KVCache.append', `k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} do not continue the cached ${fmtShape(this.k.shape)}`);
      }
      const nk = keep(concat([this.k, k], 1)); // (B, length + T, nKv, hs)
      const nv = keep(concat([this.v, v], 1));
      this.k.dispose();
      this.v.dispose();
      this.k = nk;
      this.v = nv;
    } else {
      // taken over (a view keeps its projection's storage alive; the caller's scope no longer frees it)
      this.k = keep(k);
      this.v = keep(v);
    }
    return { k: this.k, v: this.v };
  }

  dispose(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = null;
    this.v = null;
  }
}

/** The caches of a model's attention layers, in order. */
export class KVCache {
  readonly layers: LayerKVCache[];

  constructor(nLayer: number) {
    this.layers = Array.from({ length: nLayer }, () => new LayerKVCache());
  }

  /** Positions cached (every layer holds the same). */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}
