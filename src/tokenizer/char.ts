// A character tokenizer for builtin:tiny and its arithmetic task: one id per character
// of a small fixed alphabet, plus <pad>, <bos>, <eos>. It can also write itself out as a
// Hugging Face tokenizer.json (WordLevel over single characters), so a saved builtin
// model carries a tokenizer that `tokenizers` and transformers load with the same ids.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkMessages } from './chat.js';
import {
  TokenizerError,
  type ChatMessage,
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeOptions,
  type TextTokenizer,
} from './types.js';

export const CHAR_SPECIAL_TOKENS = ['<pad>', '<bos>', '<eos>'] as const;
export const CHAR_PAD_ID = 0;
export const CHAR_BOS_ID = 1;
export const CHAR_EOS_ID = 2;
/** Digits, arithmetic, space, newline and what "Answer:" / "Question?" need. */
export const DEFAULT_CHAR_ALPHABET = '0123456789+-*=:?. \nAnswerQuestion';

// The template the HF export uses; applyChatTemplate below does the same thing. It writes the
// <bos> itself and prompts are then encoded without special tokens (as verl does), so a saved
// builtin model renders prompts to the same ids as the in-memory tokenizer.
const CHAR_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ message['content'] }}{% if not loop.last %}{{ '\\n' }}{% endif %}{% endfor %}";

export class CharTokenizer implements TextTokenizer {
  readonly kind = 'char' as const;
  readonly alphabet: readonly string[];
  readonly vocabSize: number;
  readonly eosTokenIds = [CHAR_EOS_ID];
  readonly eosToken = '<eos>';
  readonly bosTokenId = CHAR_BOS_ID;
  readonly bosToken = '<bos>';
  readonly padTokenId = CHAR_PAD_ID;
  readonly padToken = '<pad>';
  readonly specialTokenIds: ReadonlySet<number> = new Set([CHAR_PAD_ID, CHAR_BOS_ID, CHAR_EOS_ID]);
  readonly hasChatTemplate = true;
  private readonly ids = new Map<string, number>();

  /** @param alphabet characters, each once (code points; specials are added in front). */
  constructor(alphabet: string = DEFAULT_CHAR_ALPHABET) {
    const chars = Array.from(new Set(Array.from(alphabet)));
    if (chars.length === 0) throw new RangeError('alphabet must not be empty');
    this.alphabet = chars;
    CHAR_SPECIAL_TOKENS.forEach((t, i) => this.ids.set(t, i));
    chars.forEach((c, i) => this.ids.set(c, CHAR_SPECIAL_TOKENS.length + i));
    this.vocabSize = CHAR_SPECIAL_TOKENS.length + chars.length;
  }

  /** Synchronous encode: special-token strings ("<eos>") in the text become their ids. */
  encodeSync(text: string, options: EncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const out: number[] = [];
    if (options.addSpecialTokens ?? true) out.push(CHAR_BOS_ID);
    for (let off = 0; off < text.length; ) {
      if (text.charCodeAt(off) === 0x3c /* '<' */) {
        const special = CHAR_SPECIAL_TOKENS.find((t) => text.startsWith(t, off));
        if (special) {
          out.push(this.ids.get(special)!);
          off += special.length;
          continue;
        }
      }
      const ch = String.fromCodePoint(text.codePointAt(off)!);
      const id = this.ids.get(ch);
      if (id === undefined) {
        throw new TokenizerError('E_UNKNOWN_CHAR', `character ${JSON.stringify(ch)} at offset ${off} is not in the alphabet ${JSON.stringify(this.alphabet.join(''))}`);
      }
      out.push(id);
      off += ch.length;
    }
    return Int32Array.from(out);
  }

  decodeSync(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TokenizerError('E_BAD_TOKEN_ID', `token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      }
      if (id < CHAR_SPECIAL_TOKENS.length) {
        if (!skip) s += CHAR_SPECIAL_TOKENS[id];
      } else s += this.alphabet[id - CHAR_SPECIAL_TOKENS.length];
    }
    return s;
  }

  async encode(text: string, options?: EncodeOptions): Promise<Int32Array> {
    return this.encodeSync(text, options);
  }
  async encodeBatch(texts: readonly string[], options?: EncodeOptions): Promise<Int32Array[]> {
    return texts.map((t) => this.encodeSync(t, options));
  }
  async decode(ids: ArrayLike<number>, options?: DecodeOptions): Promise<string> {
    return this.decodeSync(ids, options);
  }
  async decodeBatch(ids: ReadonlyArray<ArrayLike<number>>, options?: DecodeOptions): Promise<string[]> {
    return ids.map((x) => this.decodeSync(x, options));
  }

  /** <bos>, then the message contents joined by newlines; no role markers (the tiny task is one turn). */
  applyChatTemplate(messages: readonly ChatMessage[], _options: ChatTemplateOptions = {}): string {
    checkMessages(messages);
    return CHAR_SPECIAL_TOKENS[CHAR_BOS_ID] + messages.map((m) => m.content).join('\n');
  }

  /** The rendered prompt (which starts with <bos>), with no further special tokens. */
  encodeChatSync(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): Int32Array {
    return this.encodeSync(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }
  async encodeChat(messages: readonly ChatMessage[], options?: ChatTemplateOptions): Promise<Int32Array> {
    return this.encodeChatSync(messages, options);
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }
  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return undefined;
    return id < CHAR_SPECIAL_TOKENS.length ? CHAR_SPECIAL_TOKENS[id] : this.alphabet[id - CHAR_SPECIAL_TOKENS.length];
  }

  /** tokenizer.json and tokenizer_config.json contents for a Hugging Face folder. */
  toHuggingFaceFiles(): { 'tokenizer.json': string; 'tokenizer_config.json': string } {
    const vocab: Record<string, number> = {};
    for (const [tok, id] of this.ids) vocab[tok] = id;
    const added = CHAR_SPECIAL_TOKENS.map((content, id) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    }));
    const tokenizerJson = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      // Every character is its own word; WordLevel then maps it to its id.
      pre_tokenizer: { type: 'Split', pattern: { Regex: '[\\s\\S]' }, behavior: 'Isolated', invert: false },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<bos>': { id: '<bos>', ids: [CHAR_BOS_ID], tokens: ['<bos>'] } },
      },
      decoder: { type: 'Fuse' },
      model: { type: 'WordLevel', vocab, unk_token: '<pad>' },
    };
    const added_tokens_decoder: Record<string, unknown> = {};
    for (const t of added) {
      added_tokens_decoder[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
    }
    const config = {
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: '<bos>',
      eos_token: '<eos>',
      pad_token: '<pad>',
      add_bos_token: true,
      clean_up_tokenization_spaces: false,
      model_max_length: 1_000_000,
      added_tokens_decoder,
      chat_template: CHAR_CHAT_TEMPLATE,
      dapo_char_alphabet: this.alphabet.join(''),
    };
    return {
      'tokenizer.json': JSON.stringify(tokenizerJson, null, 2) + '\n',
      'tokenizer_config.json': JSON.stringify(config, null, 2) + '\n',
    };
  }

  /** Write tokenizer.json and tokenizer_config.json into dir (created if needed). */
  saveTo(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const [name, body] of Object.entries(this.toHuggingFaceFiles())) writeFileSync(join(dir, name), body);
  }
}
