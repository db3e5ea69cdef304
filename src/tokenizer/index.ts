// Tokenizers: Hugging Face folders (tokenizer.json + chat template) and the character
// tokenizer of builtin:tiny, behind one TextTokenizer interface.
export { loadTokenizer, HfTokenizer } from './hf.js';
export type { LoadTokenizerOptions, TokenizerBackend } from './hf.js';
export { CharTokenizer, DEFAULT_CHAR_ALPHABET, CHAR_SPECIAL_TOKENS, CHAR_PAD_ID, CHAR_BOS_ID, CHAR_EOS_ID } from './char.js';
export { ChatTemplate } from './chat.js';
export { TokenizerError } from './types.js';
export type {
  TextTokenizer,
  ChatMessage,
  EncodeOptions,
  DecodeOptions,
  ChatTemplateOptions,
  TokenizerErrorCode,
} from './types.js';
