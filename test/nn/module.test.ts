// Module machinery: parameter/submodule discovery and dotted names, train/eval, state dicts (round
// trip, strict-load errors, cross-backend loads), freeze/unfreeze, numParameters, zeroGrad,
// dispose, replaceModule (how adapters wrap Linear layers by name).
import { describe, expect, it } from 'vitest';
import * as mg from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { expectClose, setupBackends } from '../helpers.js';

setupBackends();

class Toy extends nn.Module {
  fc1 = new nn.Linear(3, 4, { seed: 1, backend: 'cpu' });
  layers = [new nn.Linear(4, 4, { seed: 2, backend: 'cpu' }), new nn.Linear(4, 2, { seed: 3, bias: false, backend: 'cpu' })];
  scale = new nn.Parameter(mg.ones([2], { backend: 'cpu' }));
  _private = new nn.Linear(2, 2, { backend: 'cpu' }); // '_' fields are not discovered
  nothing: nn.Module | null = null;
  count = 3;
  forward(x: mg.Tensor): mg.Tensor {
    let h = this.fc1.forward(x).relu();
    for (const l of this.layers) h = l.forward(h);
    return h.mul(this.scale);
  }
}

/** A stand-in for an adapter: wraps a Linear and adds a learned scale. */
class Wrapped extends nn.Module {
  extra: nn.Parameter;
  constructor(readonly base: nn.Linear) {
    super();
    this.extra = new nn.Parameter(mg.full([base.outFeatures], 2, { backend: base.weight.backend.name }));
  }
  forward(x: mg.Tensor): mg.Tensor {
    return this.base.forward(x).mul(this.extra);
  }
}

const tiny = (seed = 1, backend: 'cpu' | 'webgpu' = 'cpu', extra: Partial<nn.GPTConfig> = {}) =>
  new nn.GPT({ vocabSize: 11, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8, seed, backend, ...extra });

describe('discovery and names', () => {
  it('finds fields in assignment order, arrays as name.i, skips null, numbers and _private fields', () => {
    const t = new Toy();
    expect(t.namedParameters().map(([n]) => n)).toEqual([
      'scale',
      'fc1.weight',
      'fc1.bias',
      'layers.0.weight',
      'layers.0.bias',
      'layers.1.weight',
    ]);
    expect(t.namedModules().map(([n, m]) => `${n}:${m.constructor.name}`)).toEqual([
      ':Toy',
      'fc1:Linear',
      'layers.0:Linear',
      'layers.1:Linear',
    ]);
    expect(t.namedChildren().map(([n]) => n)).toEqual(['fc1', 'layers.0', 'layers.1']);
    expect(t.parameters().every((p) => p.requiresGrad && p instanceof mg.Tensor)).toBe(true);
    expect(t.numParameters()).toBe(3 * 4 + 4 + 16 + 4 + 8 + 2);
    t.register('late', new nn.Linear(2, 2, { backend: 'cpu' }));
    expect(t.namedParameters().map(([n]) => n)).toContain('late.weight');
    expect(() => t.register('a.b', null)).toThrow(/Module.register: name 'a.b' must start with a letter/);
    expect(() => t.register('x', 3 as unknown as null)).toThrow(
      /'x' must be a Parameter, a Module, an array of Modules or null, got number 3/,
    );
  });

  it('a parameter or module reachable twice (shared weights) is listed once, under its first name', () => {
    class Shared extends nn.Module {
      a = new nn.Linear(2, 2, { backend: 'cpu' });
      b = this.a;
      w = this.a.weight;
      forward(x: mg.Tensor): mg.Tensor {
        return this.b.forward(this.a.forward(x));
      }
    }
    const s = new Shared();
    expect(s.namedParameters().map(([n]) => n)).toEqual(['w', 'a.bias']);
    expect(s.namedModules().map(([n]) => n)).toEqual(['', 'a']);
    expect(s.numParameters()).toBe(6);
  });

  it('GPT names parameters like blocks.0.attn.q.weight; the tied head shares wte.weight (listed once)', () => {
    const m = tiny();
    const names = m.namedParameters().map(([n]) => n);
    expect(names.slice(0, 2)).toEqual(['wte.weight', 'wpe.weight']);
    expect(names).toContain('blocks.0.attn.q.weight');
    expect(names).toContain('blocks.1.mlp.down.bias');
    expect(names).toContain('lnF.weight');
    expect(names).not.toContain('head.weight');
    expect(m.getParameter('blocks.0.attn.q.weight').name).toBe('blocks.0.attn.q.weight'); // nameParameters() ran
    const C = 8;
    const perBlock = 2 * 2 * C + 4 * (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C);
    expect(m.numParameters()).toBe(11 * C + 6 * C + 2 * perBlock + 2 * C);
    const untied = tiny(1, 'cpu', { tiedHead: false, positions: 'rotary', norm: 'rmsnorm', mlp: 'swiglu', bias: false });
    const un = untied.namedParameters().map(([n]) => n);
    expect(un).toContain('head.weight');
    expect(un).not.toContain('wpe.weight');
    expect(un).toContain('blocks.0.mlp.gate.weight');
    expect(un.filter((n) => n.endsWith('.bias'))).toEqual([]);
    m.dispose();
    untied.dispose();
  });

  it('train()/eval() propagate to every submodule', () => {
    const m = tiny();
    expect(m.namedModules().every(([, s]) => s.training)).toBe(true);
    m.eval();
    expect(m.namedModules().every(([, s]) => !s.training)).toBe(true);
    m.blocks[0].train();
    expect(m.blocks[0].attn.drop.training).toBe(true);
    expect(m.blocks[1].attn.drop.training).toBe(false);
    m.dispose();
  });

  it('parameters live on the default backend unless { backend } is given', () => {
    expect(new nn.Linear(2, 2).weight.backend.name).toBe('webgpu');
    expect(new nn.Linear(2, 2, { backend: 'cpu' }).weight.backend.name).toBe('cpu');
  });
});

describe('state dicts', () => {
  it('round trip: a snapshot loaded into a differently-seeded model reproduces its outputs; parameters stay the same objects', async () => {
    const a = tiny(1);
    const b = tiny(2);
    const idx = mg.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1], [2, 6], { dtype: 'int32', backend: 'cpu' });
    const ya = await a.forward(idx).logits.data();
    expect(Array.from(await b.forward(idx).logits.data())).not.toEqual(Array.from(ya));
    const before = b.parameters();
    const sd = a.stateDict({ clone: true });
    expect(Object.keys(sd)).toEqual(a.namedParameters().map(([n]) => n));
    expect(sd['wte.weight']).not.toBe(a.getParameter('wte.weight'));
    const res = b.loadStateDict(sd);
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(b.parameters()).toEqual(before);
    expectClose(await b.forward(idx).logits.data(), ya, { rtol: 0, atol: 0 }, 'after load');
    // the snapshot is independent of later changes to a
    a.getParameter('lnF.bias').dispose();
    expect(sd['lnF.bias'].isDisposed).toBe(false);
    for (const t of Object.values(sd)) t.dispose();
    // a plain stateDict holds the parameters themselves
    expect(b.stateDict()['wte.weight']).toBe(b.getParameter('wte.weight'));
  });

  it('a cpu state dict loads into a webgpu model (and the reverse is refused with a hint)', async () => {
    const c = tiny(3, 'cpu');
    const g = tiny(4, 'webgpu');
    g.loadStateDict(c.stateDict());
    const idx = [3, 1, 4, 1, 5, 9];
    const yc = await c.forward(mg.tensor(idx, [1, 6], { dtype: 'int32', backend: 'cpu' })).logits.data();
    const yg = await g.forward(mg.tensor(idx, [1, 6], { dtype: 'int32' })).logits.data();
    expectClose(yg, yc, { rtol: 1e-4, atol: 1e-5 }, 'cpu weights on webgpu');
    expect(() => c.loadStateDict(g.stateDict())).toThrow(
      /'wte.weight' lives on webgpu and the parameter on cpu; move it first with await t.to\('cpu'\)/,
    );
  });

  it('strict load lists missing and unexpected keys; shape mismatches name the key and both shapes; nothing is copied on error', async () => {
    const m = tiny(1);
    const ref = await m.getParameter('wte.weight').data();
    const src = tiny(2).stateDict();
    const partial = { ...src };
    delete partial['lnF.weight'];
    delete partial['blocks.1.attn.o.bias'];
    partial['blocks.9.attn.q.weight'] = mg.zeros([8, 8], { backend: 'cpu' });
    expect(() => m.loadStateDict(partial)).toThrow(
      /loadStateDict: .*missing keys: blocks\.1\.attn\.o\.bias, lnF\.weight; unexpected keys: blocks\.9\.attn\.q\.weight/,
    );
    expect(Array.from(await m.getParameter('wte.weight').data())).toEqual(Array.from(ref));
    // non-strict: loads what matches and reports the rest
    const res = m.loadStateDict(partial, { strict: false });
    expect(res.missingKeys).toEqual(['blocks.1.attn.o.bias', 'lnF.weight']);
    expect(res.unexpectedKeys).toEqual(['blocks.9.attn.q.weight']);
    expectClose(await m.getParameter('wte.weight').data(), await src['wte.weight'].data(), { rtol: 0, atol: 0 });
    // shape mismatches throw even when not strict
    const bad = { ...src, 'blocks.0.mlp.up.weight': mg.zeros([32, 7], { backend: 'cpu' }) };
    expect(() => m.loadStateDict(bad, { strict: false })).toThrow(
      /size mismatch for 'blocks\.0\.mlp\.up\.weight': the checkpoint has \[32, 7\], the model \[32, 8\]/,
    );
    expect(() => m.loadStateDict({ ...src, 'lnF.bias': 3 as unknown as mg.Tensor })).toThrow(/'lnF.bias' is not a Tensor/);
    expect(() => m.loadStateDict({ ...src, 'lnF.bias': mg.zeros([8], { dtype: 'int32', backend: 'cpu' }) })).toThrow(
      /dtype mismatch for 'lnF.bias': the checkpoint has int32, the model float32/,
    );
  });
});

describe('freeze, zeroGrad, dispose, replaceModule', () => {
  it('freeze() stops gradients; numParameters({ trainableOnly }) counts the rest; unfreeze() restores', async () => {
    const m = tiny(1);
    const total = m.numParameters();
    m.blocks[0].freeze();
    const frozen = m.blocks[0].numParameters();
    expect(m.numParameters({ trainableOnly: true })).toBe(total - frozen);
    const idx = mg.tensor([1, 2, 3, 4, 5, 6], [1, 6], { dtype: 'int32', backend: 'cpu' });
    m.forward(idx, idx).loss!.backward();
    expect(m.blocks[0].parameters().every((p) => p.grad === null)).toBe(true);
    expect(m.blocks[1].parameters().every((p) => p.grad !== null)).toBe(true);
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
    m.unfreeze();
    expect(m.numParameters({ trainableOnly: true })).toBe(total);
  });

  it('dispose() frees every parameter', () => {
    const before = mg.memory('cpu').liveTensors;
    const m = tiny(5);
    const n = m.parameters().length;
    expect(mg.memory('cpu').liveTensors).toBe(before + n);
    m.dispose();
    expect(mg.memory('cpu').liveTensors).toBe(before);
    expect(m.parameters().every((p) => p.isDisposed)).toBe(true);
  });

  it('parameters made inside tidy() survive it', () => {
    const m = mg.tidy(() => new nn.Linear(3, 3, { backend: 'cpu' }));
    expect(m.weight.isDisposed).toBe(false);
  });

  it('replaceModule wraps a Linear by dotted name; names, forward and optimizers see the new module', async () => {
    const m = tiny(1);
    const idx = mg.tensor([1, 2, 3, 4, 5, 6], [1, 6], { dtype: 'int32', backend: 'cpu' });
    const q = m.getModule('blocks.1.attn.q') as nn.Linear;
    m.eval();
    const old = m.replaceModule('blocks.1.attn.q', new Wrapped(q));
    expect(old).toBe(q);
    expect(m.blocks[1].attn.q).toBeInstanceOf(Wrapped);
    expect(m.blocks[1].attn.q.training).toBe(false);
    const names = m.namedParameters().map(([n]) => n);
    expect(names).toContain('blocks.1.attn.q.base.weight');
    expect(names).toContain('blocks.1.attn.q.extra');
    expect(names).not.toContain('blocks.1.attn.q.weight');
    const { loss } = m.forward(idx, idx);
    loss!.backward();
    expect(m.getParameter('blocks.1.attn.q.extra').grad).not.toBeNull();
    // array elements can be replaced too
    const blk = m.blocks[0];
    m.replaceModule('blocks.0', new nn.TransformerBlock(8, 2, { backend: 'cpu' }));
    expect(m.blocks[0]).not.toBe(blk);
    expect(() => m.replaceModule('blocks.1.attn.zz', new nn.Linear(2, 2))).toThrow(
      /replaceModule: no submodule 'blocks\.1\.attn\.zz': MultiHeadAttention at 'blocks\.1\.attn' has no field 'zz'; modules: wte, wpe/,
    );
    expect(() => m.replaceModule('blocks.7', new nn.Linear(2, 2))).toThrow(/'blocks' is a list of 2 modules, '7' is not an index of it/);
    expect(() => m.replaceModule('blocks.0.attn.dim', new nn.Linear(2, 2))).toThrow(
      /'blocks\.0\.attn\.dim' is not a module \(it holds number 8\)/,
    );
  });
});
