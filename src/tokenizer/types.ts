// The one tokenizer interface the rest of dapo sees: a Hugging Face tokenizer.json
// (src/tokenizer/hf.ts) or the character tokenizer of builtin:tiny (char.ts).

export interface ChatMessage {
  role: string;
  content: string;
}

export interface EncodeOptions {
  /** Let the tokenizer's post-processor add its special tokens (HF default: true). */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (bos/eos/pad, <|im_end|>, ...) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  /** Append the assistant turn opener (e.g. "<|im_start|>assistant\n"). Default true. */
  addGenerationPrompt?: boolean;
  /** Extra template variables (e.g. { enable_thinking: false } for Qwen3). */
  templateVars?: Record<string, unknown>;
}

export interface TextTokenizer {
  readonly kind: 'hf' | 'char';
  /** Number of token ids the tokenizer can produce (added tokens included). */
  readonly vocabSize: number;
  /** Every id that ends a response (tokenizer_config eos plus generation_config eos ids). */
  readonly eosTokenIds: number[];
  /** The primary eos token text (tokenizer_config's eos_token), if any. */
  readonly eosToken?: string;
  readonly bosTokenId?: number;
  readonly bosToken?: string;
  /** pad id; falls back to the first eos id when the files name none (as verl does). */
  readonly padTokenId?: number;
  /** Ids of all special tokens (skipped by decode({ skipSpecialTokens: true })). */
  readonly specialTokenIds: ReadonlySet<number>;
  /** Whether applyChatTemplate uses a real chat template (false: plain concatenation). */
  readonly hasChatTemplate: boolean;

  encode(text: string, options?: EncodeOptions): Promise<Int32Array>;
  encodeBatch(texts: readonly string[], options?: EncodeOptions): Promise<Int32Array[]>;
  decode(ids: ArrayLike<number>, options?: DecodeOptions): Promise<string>;
  decodeBatch(ids: ReadonlyArray<ArrayLike<number>>, options?: DecodeOptions): Promise<string[]>;
  /** Render messages to the prompt text the model was trained on. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
  /**
   * Render and encode a prompt the way verl does (template text, then token ids with
   * no extra special tokens, since the template writes them itself).
   */
  encodeChat(messages: readonly ChatMessage[], options?: ChatTemplateOptions): Promise<Int32Array>;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

export type TokenizerErrorCode =
  | 'E_TOKENIZER_NOT_FOUND'
  | 'E_TOKENIZER_PARSE'
  | 'E_TOKENIZER_CONFIG'
  | 'E_CHAT_TEMPLATE'
  | 'E_UNKNOWN_CHAR'
  | 'E_BAD_TOKEN_ID';

export class TokenizerError extends Error {
  readonly code: TokenizerErrorCode;
  readonly file?: string;
  constructor(code: TokenizerErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TokenizerError';
    this.code = code;
    this.file = options.file;
  }
}
