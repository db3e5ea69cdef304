// The character tokenizer of builtin:tiny, and its Hugging Face export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CharTokenizer, loadTokenizer, CHAR_BOS_ID, CHAR_EOS_ID, CHAR_PAD_ID } from '../src/tokenizer/index.js';

test('ids, specials and round trip', async () => {
  const tok = new CharTokenizer();
  assert.equal(tok.kind, 'char');
  assert.equal(tok.vocabSize, 3 + tok.alphabet.length);
  assert.deepEqual(tok.eosTokenIds, [CHAR_EOS_ID]);
  assert.equal(tok.bosTokenId, CHAR_BOS_ID);
  assert.equal(tok.padTokenId, CHAR_PAD_ID);
  const text = '12+7*3-4=?\nAnswer: 33';
  const ids = await tok.encode(text);
  assert.equal(ids[0], CHAR_BOS_ID);
  assert.equal(ids.length, 1 + text.length);
  assert.equal(await tok.decode(ids), '<bos>' + text);
  assert.equal(await tok.decode(ids, { skipSpecialTokens: true }), text);
  assert.deepEqual(tok.encodeSync('1<eos>', { addSpecialTokens: false }), Int32Array.from([tok.tokenToId('1')!, CHAR_EOS_ID]));
  assert.equal(tok.idToToken(CHAR_EOS_ID), '<eos>');
  assert.equal(tok.idToToken(999), undefined);
  for (let id = 0; id < tok.vocabSize; id++) assert.equal(tok.tokenToId(tok.idToToken(id)!), id);
});

test('unknown characters and ids are errors', async () => {
  const tok = new CharTokenizer();
  assert.throws(() => tok.encodeSync('12 & 3'), { name: 'TokenizerError', code: 'E_UNKNOWN_CHAR', message: /"&" at offset 3/ } as object);
  await assert.rejects(tok.decode([tok.vocabSize]), { code: 'E_BAD_TOKEN_ID' } as object);
  assert.throws(() => new CharTokenizer(''), RangeError);
  // A custom alphabet (duplicates collapse, order kept).
  const ab = new CharTokenizer('abba');
  assert.deepEqual(ab.alphabet, ['a', 'b']);
  assert.equal(ab.vocabSize, 5);
});

test('chat template: contents joined by newlines, bos in front', async () => {
  const tok = new CharTokenizer();
  const msgs = [{ role: 'user', content: '2+2=' }];
  assert.equal(tok.applyChatTemplate(msgs), '<bos>2+2=');
  assert.equal(tok.applyChatTemplate([{ role: 'system', content: 'Question' }, ...msgs]), '<bos>Question\n2+2=');
  assert.deepEqual(await tok.encodeChat(msgs), await tok.encode('2+2=', { addSpecialTokens: true }));
});

test('the Hugging Face export loads through `tokenizers` with the same ids', async () => {
  const tok = new CharTokenizer();
  const dir = mkdtempSync(join(tmpdir(), 'dapo-char-'));
  try {
    tok.saveTo(dir);
    const hf = loadTokenizer(dir);
    assert.equal(hf.vocabSize, tok.vocabSize);
    assert.deepEqual(hf.eosTokenIds, [CHAR_EOS_ID]);
    assert.equal(hf.bosTokenId, CHAR_BOS_ID);
    assert.equal(hf.padTokenId, CHAR_PAD_ID);
    for (const text of ['12+7*3-4=?\nAnswer: 33', '  9 ', 'Question: 1-1=?', '']) {
      assert.deepEqual(await hf.encode(text), await tok.encode(text), JSON.stringify(text));
      assert.deepEqual(await hf.encode(text, { addSpecialTokens: false }), await tok.encode(text, { addSpecialTokens: false }));
      const ids = await tok.encode(text + '<eos>');
      assert.equal(await hf.decode(ids, { skipSpecialTokens: true }), text);
    }
    const msgs = [{ role: 'system', content: 'Question' }, { role: 'user', content: '2+2=' }];
    assert.equal(hf.applyChatTemplate(msgs), tok.applyChatTemplate(msgs));
    // A saved builtin model renders prompts to exactly the ids the in-memory tokenizer does.
    assert.deepEqual(await hf.encodeChat(msgs), await tok.encodeChat(msgs));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
