// A SentencePiece unigram tokenizer: the text is cut into the vocabulary's pieces along the path of
// highest total score (the pieces' log-probabilities), found by Viterbi over the lattice of every
// piece that matches at every position.
//
// It reproduces the tokenizer that ships with Universal Sentence Encoder-lite in TensorFlow.js
// (@tensorflow-models/universal-sentence-encoder, also @energetic-ai/embeddings) id for id, including
// its departures from Google's C++ SentencePiece, which the model was used with:
//   - normalisation is only NFKC, then '▁' (U+2581) is prepended and every ASCII space becomes '▁'
//     (no whitespace collapsing or trimming: "a  b" keeps two '▁', "\t" is an ordinary character);
//   - positions are Unicode code points;
//   - the first `reserved` vocabulary entries (6: '�', <s>, </s>, three extra ids) never match;
//   - a position where no piece starts gets the unknown piece (id 0, score 0) over one code point,
//     and consecutive unknowns merge into one id 0;
//   - ties go to the later candidate (start positions ascending), and a best score of exactly 0
//     counts as "not reached yet" (so the path through a score-0 piece can be replaced by any other);
//   - when a piece is listed twice, the later entry (id and score) wins;
//   - a null score counts as 0 (JavaScript's null + x = x); the USE vocab.json has seven, all pieces
//     with a ':' (':', '://', '▁:)', ...), and ':30' scores +30: an artefact of how the vocabulary
//     was exported, kept because the model was run with it;
//   - a position that no piece ends at still counts as reached with score 0, and the backtrack
//     steps over it as one unknown code point.
// (The reference steps back by each piece's UTF-16 length, which equals its code-point length for
// every piece of the USE vocabulary; this steps back to where the piece started.)
// Decoding joins the pieces and turns '▁' back into spaces (dropping the leading one).
import { fail } from '../errors.js';

/** The whitespace marker. */
export const SPACE = '\u2581';

/** A vocabulary entry: [piece, score]; a null score counts as 0 (see the file comment). */
export type Piece = [string, number | null];

export interface SentencePieceOptions {
  /** Entries at the start of the vocabulary that never match (control/unknown ids). Default 6. */
  reserved?: number;
  /** The id unknown text maps to. Default 0. */
  unkId?: number;
}

interface TrieNode {
  children: Map<string, TrieNode>;
  /** The piece ending here: [id, score, length in code points], or null. */
  end: [number, number, number] | null;
}

const newNode = (): TrieNode => ({ children: new Map(), end: null });

/** The reference's normalisation: NFKC, then '▁' before the text and in place of each ' '. */
export function normalize(text: string): string {
  const n = text.normalize('NFKC');
  return n.length > 0 ? SPACE + n.replace(/ /g, SPACE) : n;
}

export class SentencePieceTokenizer {
  readonly name = 'sentencepiece';
  readonly vocabSize: number;
  readonly unkId: number;
  readonly reserved: number;
  private readonly pieces: readonly string[];
  private readonly root = newNode();

  constructor(vocab: readonly Piece[], opts: SentencePieceOptions = {}) {
    const op = 'SentencePieceTokenizer';
    if (!Array.isArray(vocab) || vocab.length === 0)
      fail(op, `expects a non-empty vocabulary of [piece, score] pairs, got ${Array.isArray(vocab) ? 'an empty array' : String(vocab)}`);
    this.reserved = opts.reserved ?? 6;
    this.unkId = opts.unkId ?? 0;
    if (!Number.isInteger(this.reserved) || this.reserved < 0 || this.reserved > vocab.length)
      fail(op, `reserved must be an integer in [0, ${vocab.length}], got ${String(opts.reserved)}`);
    if (!Number.isInteger(this.unkId) || this.unkId < 0 || this.unkId >= vocab.length)
      fail(op, `unkId must be an id in [0, ${vocab.length}), got ${String(opts.unkId)}`);
    vocab.forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || (e[1] !== null && (typeof e[1] !== 'number' || !Number.isFinite(e[1])))) {
        fail(op, `vocabulary entry ${i} must be [piece: string, score: finite number or null], got ${JSON.stringify(e)}`);
      }
      if (i >= this.reserved && e[0] === '') fail(op, `vocabulary entry ${i} is an empty piece`);
    });
    this.vocabSize = vocab.length;
    this.pieces = vocab.map((e) => e[0]);
    for (let i = this.reserved; i < vocab.length; i++) {
      let node = this.root;
      let len = 0;
      for (const ch of vocab[i][0]) {
        let next = node.children.get(ch);
        if (!next) {
          next = newNode();
          node.children.set(ch, next);
        }
        node = next;
        len++;
      }
      node.end = [i, vocab[i][1] ?? 0, len]; // a later duplicate replaces an earlier one
    }
  }

  /** Builds the tokenizer from a vocab.json holding [[piece, score], ...]. */
  static fromJSON(json: unknown, opts: SentencePieceOptions = {}): SentencePieceTokenizer {
    if (!Array.isArray(json))
      fail('SentencePieceTokenizer.fromJSON', `expects an array of [piece, score] pairs, got ${json === null ? 'null' : typeof json}`);
    return new SentencePieceTokenizer(json as Piece[], opts);
  }

  /** The piece of an id. */
  piece(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
      fail('SentencePieceTokenizer.piece', `id ${id} is outside [0, ${this.vocabSize})`);
    return this.pieces[id];
  }

  /** Token ids of `text` (see the file comment for the exact rules). */
  encode(text: string): number[] {
    if (typeof text !== 'string') fail('SentencePieceTokenizer.encode', `expects a string, got ${text === null ? 'null' : typeof text}`);
    const symbols = Array.from(normalize(text)); // code points
    const n = symbols.length;
    // edges[e]: the pieces ending at e, as [start, id, score], start ascending.
    const edges: [number, number, number][][] = Array.from({ length: n + 1 }, () => []);
    for (let i = 0; i < n; i++) {
      let node = this.root.children.get(symbols[i]);
      let found = false;
      for (let j = i; node; ) {
        if (node.end) {
          edges[i + node.end[2]].push([i, node.end[0], node.end[1]]);
          found = true;
        }
        j++;
        node = j < n ? node.children.get(symbols[j]) : undefined;
      }
      if (!found) edges[i + 1].push([i, this.unkId, 0]);
    }
    // Viterbi: best[e] is the highest score of a segmentation of symbols[0, e); 0 means unset.
    // A position no piece ends at keeps (unknown, one code point back), as the reference's
    // backtracking does there.
    const best = new Float64Array(n + 1);
    const last = new Int32Array(n + 1).fill(this.unkId); // id of the last piece on that path
    const from = Int32Array.from({ length: n + 1 }, (_, e) => e - 1); // where that piece starts
    for (let e = 1; e <= n; e++) {
      // edges[e] was filled by increasing start i, which is the reference's visiting order.
      for (const [s, id, score] of edges[e]) {
        const total = score + best[s];
        if (best[e] === 0 || total >= best[e]) {
          best[e] = total;
          last[e] = id;
          from[e] = s;
        }
      }
    }
    const out: number[] = [];
    for (let e = n; e > 0; e = from[e]) out.push(last[e]);
    out.reverse();
    // Merge runs of unknowns into one.
    return out.filter((id, i) => !(id === this.unkId && i > 0 && out[i - 1] === this.unkId));
  }

  /** Text of ids: pieces joined, '▁' -> ' ', the leading space dropped. Reserved ids decode to ''. */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === this.unkId) s += '\uFFFD';
      else if (id >= this.reserved) s += this.piece(id);
      else this.piece(id); // range check
    }
    s = s.replace(new RegExp(SPACE, 'g'), ' ');
    return s.startsWith(' ') ? s.slice(1) : s;
  }
}
