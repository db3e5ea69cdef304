// A Hugging Face tokenizer folder: tokenizer.json through the `tokenizers` bindings,
// special tokens and the chat template from tokenizer_config.json (or chat_template.jinja),
// eos/bos/pad ids also from generation_config.json and config.json.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import tokenizers from 'tokenizers';
import { ChatTemplate, checkMessages } from './chat.js';
import {
  TokenizerError,
  type ChatMessage,
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeOptions,
  type TextTokenizer,
} from './types.js';

/**
 * The part of the `tokenizers` package's Tokenizer that HfTokenizer calls. Declared here so
 * that our published declarations do not import that package's types (which do not compile
 * under skipLibCheck: false); its Tokenizer satisfies it, as loadTokenizer's call checks.
 */
export interface TokenizerBackend {
  getVocabSize(withAddedTokens?: boolean): number;
  tokenToId(token: string): number | null;
  idToToken(id: number): string | null;
  encode(text: string, pair: null, options: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }>;
  encodeBatch(texts: string[], options: { addSpecialTokens: boolean }): Promise<Array<{ getIds(): number[] }>>;
  decode(ids: number[], skipSpecialTokens: boolean): Promise<string>;
  decodeBatch(ids: number[][], skipSpecialTokens: boolean): Promise<string[]>;
}
type Json = Record<string, unknown>;

export interface LoadTokenizerOptions {
  /** Use this Jinja source instead of the folder's chat template. */
  chatTemplate?: string;
}

function readJson(file: string, required: boolean): Json | undefined {
  if (!existsSync(file)) {
    if (required) throw new TokenizerError('E_TOKENIZER_NOT_FOUND', `missing ${file}`, { file });
    return undefined;
  }
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (err) {
    throw new TokenizerError('E_TOKENIZER_CONFIG', `cannot parse ${file}: ${(err as Error).message}`, { file, cause: err });
  }
}

/** tokenizer_config.json writes special tokens as a string or as an AddedToken object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

function idList(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

function pickChatTemplate(dir: string, cfg: Json | undefined): { source?: string; origin: string } {
  const raw = cfg?.chat_template;
  if (typeof raw === 'string') return { source: raw, origin: join(dir, 'tokenizer_config.json') };
  // A list of named templates: take "default", else the first.
  if (Array.isArray(raw)) {
    const named = raw as Array<{ name?: string; template?: string }>;
    const t = named.find((x) => x.name === 'default') ?? named[0];
    if (t && typeof t.template === 'string') return { source: t.template, origin: join(dir, 'tokenizer_config.json') };
  }
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return { source: readFileSync(jinja, 'utf8'), origin: jinja };
  const json = readJson(join(dir, 'chat_template.json'), false);
  if (typeof json?.chat_template === 'string') return { source: json.chat_template, origin: join(dir, 'chat_template.json') };
  return { origin: dir };
}

export class HfTokenizer implements TextTokenizer {
  readonly kind = 'hf' as const;
  readonly vocabSize: number;
  readonly eosTokenIds: number[];
  readonly eosToken?: string;
  readonly bosTokenId?: number;
  readonly bosToken?: string;
  readonly padTokenId?: number;
  readonly padToken?: string;
  readonly specialTokenIds: ReadonlySet<number>;
  readonly hasChatTemplate: boolean;
  /** The folder it was loaded from. */
  readonly dir: string;
  private readonly template?: ChatTemplate;

  constructor(
    private readonly native: TokenizerBackend,
    dir: string,
    options: LoadTokenizerOptions = {},
  ) {
    this.dir = dir;
    const cfgFile = join(dir, 'tokenizer_config.json');
    const cfg = readJson(cfgFile, false);
    const gen = readJson(join(dir, 'generation_config.json'), false);
    const model = readJson(join(dir, 'config.json'), false);
    this.vocabSize = native.getVocabSize(true);

    const idOf = (text: string | undefined, field: string): number | undefined => {
      if (text === undefined) return undefined;
      const id = native.tokenToId(text);
      if (id === null || id === undefined) {
        throw new TokenizerError('E_TOKENIZER_CONFIG', `${cfgFile}: ${field} ${JSON.stringify(text)} is not in the vocabulary`, { file: cfgFile });
      }
      return id;
    };

    this.eosToken = tokenText(cfg?.eos_token);
    this.bosToken = tokenText(cfg?.bos_token);
    this.padToken = tokenText(cfg?.pad_token);
    const unkToken = tokenText(cfg?.unk_token);

    // generation_config.json is what generate() stops on; transformers derives it from
    // config.json only when the file is absent.
    const stopIds = gen ? idList(gen.eos_token_id) : idList(model?.eos_token_id);
    const eos = idOf(this.eosToken, 'eos_token');
    this.eosTokenIds = [...new Set([...(eos === undefined ? [] : [eos]), ...stopIds])];
    if (this.eosToken === undefined && this.eosTokenIds.length > 0) this.eosToken = native.idToToken(this.eosTokenIds[0]) ?? undefined;

    this.bosTokenId = idOf(this.bosToken, 'bos_token') ?? idList(gen?.bos_token_id)[0] ?? idList(model?.bos_token_id)[0];
    this.padTokenId = idOf(this.padToken, 'pad_token') ?? idList(gen?.pad_token_id)[0] ?? idList(model?.pad_token_id)[0] ?? this.eosTokenIds[0];

    // Special ids: tokenizer.json's added tokens marked special, plus the named ones.
    const special = new Set<number>();
    try {
      const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { added_tokens?: Array<{ id: number; special?: boolean }> };
      for (const t of tj.added_tokens ?? []) if (t.special) special.add(t.id);
    } catch {
      /* already parsed by the native loader; nothing more to learn */
    }
    for (const id of [...this.eosTokenIds, this.bosTokenId, this.padTokenId]) if (id !== undefined) special.add(id);
    this.specialTokenIds = special;

    const picked = options.chatTemplate !== undefined ? { source: options.chatTemplate, origin: 'chatTemplate option' } : pickChatTemplate(dir, cfg);
    this.hasChatTemplate = picked.source !== undefined;
    if (picked.source !== undefined) {
      this.template = new ChatTemplate(
        picked.source,
        { bos_token: this.bosToken, eos_token: this.eosToken, pad_token: this.padToken, unk_token: unkToken },
        picked.origin,
      );
    }
  }

  async encode(text: string, options: EncodeOptions = {}): Promise<Int32Array> {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    const enc = await this.native.encode(text, null, { addSpecialTokens: options.addSpecialTokens ?? true });
    return Int32Array.from(enc.getIds());
  }

  async encodeBatch(texts: readonly string[], options: EncodeOptions = {}): Promise<Int32Array[]> {
    if (texts.length === 0) return [];
    const encs = await this.native.encodeBatch([...texts], { addSpecialTokens: options.addSpecialTokens ?? true });
    return encs.map((e) => Int32Array.from(e.getIds()));
  }

  private checkIds(ids: ArrayLike<number>): number[] {
    const out = Array.from(ids);
    for (const id of out) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TokenizerError('E_BAD_TOKEN_ID', `token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
    return out;
  }

  async decode(ids: ArrayLike<number>, options: DecodeOptions = {}): Promise<string> {
    return this.native.decode(this.checkIds(ids), options.skipSpecialTokens ?? false);
  }

  async decodeBatch(ids: ReadonlyArray<ArrayLike<number>>, options: DecodeOptions = {}): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.native.decodeBatch(ids.map((x) => this.checkIds(x)), options.skipSpecialTokens ?? false);
  }

  /**
   * Render with the folder's chat template. Without one (a base model), messages are
   * joined with blank lines and nothing is added: check hasChatTemplate to warn.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.template) return this.template.render(messages, options);
    checkMessages(messages);
    return messages.map((m) => m.content).join('\n\n');
  }

  async encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): Promise<Int32Array> {
    // With a template the specials are in the text; without one, let the post-processor add bos.
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: !this.template });
  }

  tokenToId(token: string): number | undefined {
    return this.native.tokenToId(token) ?? undefined;
  }

  idToToken(id: number): string | undefined {
    return this.native.idToToken(id) ?? undefined;
  }
}

/**
 * Load a Hugging Face tokenizer folder (tokenizer.json required; tokenizer_config.json,
 * generation_config.json, config.json, chat_template.jinja when present). A path to a
 * tokenizer.json file also works.
 */
export function loadTokenizer(path: string, options: LoadTokenizerOptions = {}): HfTokenizer {
  let dir = resolve(path);
  if (!existsSync(dir)) throw new TokenizerError('E_TOKENIZER_NOT_FOUND', `tokenizer folder not found: ${dir}`, { file: dir });
  if (statSync(dir).isFile()) dir = resolve(dir, '..');
  const file = join(dir, 'tokenizer.json');
  if (!existsSync(file)) {
    throw new TokenizerError('E_TOKENIZER_NOT_FOUND', `${dir} has no tokenizer.json (only the fast-tokenizer format is supported)`, { file });
  }
  let native: TokenizerBackend;
  try {
    native = tokenizers.Tokenizer.fromFile(file);
  } catch (err) {
    throw new TokenizerError('E_TOKENIZER_PARSE', `cannot load ${file}: ${(err as Error).message}`, { file, cause: err });
  }
  return new HfTokenizer(native, dir, options);
}
