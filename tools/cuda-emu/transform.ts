// Copies native/cuda/ into a tree g++ compiles against the emulator's headers
// (tools/cuda-emu/include), rewriting what C++ cannot express:
//   kernel<<<grid, block, smem, stream>>>(args)  -> ::emu::launch_call("kernel", LaunchConfig(...),
//                                                   [=](const auto&... a) { kernel(a...); }, args)
//   __global__ functions                          -> registered at load (::emu::kernel_entry at the top)
//   extern __shared__ T name[];                   -> the block's dynamic shared memory
//   __shared__ T name[...];                       -> one variable per block (::emu::shared_ref)
//   asm("ptx" : ...)                              -> the emulated instruction (emu/ptx.h); an
//                                                    instruction the emulator lacks stops the build
// Every rewrite keeps the line count, and each file starts with #line, so compiler messages and
// the emulator's fault reports name the original file and line. .cu files become .cu.cc.
// Files are written only when their text changes, so an incremental build recompiles only what
// changed.
//
// Usage: node --import tsx tools/cuda-emu/transform.ts <native dir> <out dir>
//        node --import tsx tools/cuda-emu/transform.ts --file <in.cu> <out.cc>   (one file: the selftest)
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** The source with comments and string / char literals blanked (same length, newlines kept). */
export function maskCode(src: string): string {
  const out = src.split('');
  let i = 0;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '/' && src[i + 1] === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? src.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      let k = i + 1;
      while (k < src.length && src[k] !== c) k += src[k] === '\\' ? 2 : 1;
      blank(i + 1, k);  // keep the quotes, so literals stay visible as tokens
      i = k + 1;
    } else i++;
  }
  return out.join('');
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/** Applies edits (non-overlapping), each padded with the newlines of the text it replaces. */
function applyEdits(src: string, edits: Edit[]): string {
  edits.sort((a, b) => b.start - a.start);
  let out = src;
  for (const e of edits) {
    const lines = (src.slice(e.start, e.end).match(/\n/g) ?? []).length;
    const have = (e.text.match(/\n/g) ?? []).length;
    out = out.slice(0, e.start) + e.text + '\n'.repeat(Math.max(0, lines - have)) + out.slice(e.end);
  }
  return out;
}

const OPEN: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/** Index of the bracket closing the one at `at` (in masked text). */
function matching(m: string, at: number): number {
  const stack: string[] = [];
  for (let i = at; i < m.length; i++) {
    const c = m[i];
    if (c in OPEN) stack.push(OPEN[c]);
    else if (c === ')' || c === ']' || c === '}') {
      if (stack.pop() !== c) throw new Error(`unbalanced ${c} at ${i}`);
      if (stack.length === 0) return i;
    }
  }
  throw new Error(`no closing bracket for ${m[at]} at ${at}`);
}

/**
 * Splits at top-level occurrences of `sep` (a single character). A `::` is a scope, not two
 * separators, unless `colonsAlways` (asm sections, where expressions sit inside parentheses).
 */
function splitTop(m: string, from: number, to: number, sep: string, colonsAlways = false): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < to; i++) {
    const c = m[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && c === sep) {
      if (sep === ':' && !colonsAlways && (m[i + 1] === ':' || m[i - 1] === ':')) continue;
      parts.push([start, i]);
      start = i + 1;
    }
  }
  parts.push([start, to]);
  return parts;
}

function lineOf(src: string, at: number): number {
  return src.slice(0, at).split('\n').length;
}

// ---- asm ----------------------------------------------------------------------------------

interface Operand {
  constraint: string;
  expr: string;
}

function unescapeString(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

/** C++ for one asm statement's instruction(s), or an error naming it. */
export function translatePtx(template: string, ops: Operand[]): string {
  const text = template.replace(/\s+/g, ' ').trim();
  const op = (ref: string): string => {
    const m = /^%(\d+)$/.exec(ref.trim());
    if (!m) return ref.trim();
    const o = ops[Number(m[1])];
    if (!o) throw new Error(`operand ${ref} does not exist`);
    return `(${o.expr})`;
  };
  const list = (refs: string) => refs.split(',').map((r) => op(r));
  let m: RegExpExecArray | null;
  if ((m = /^cp\.async\.(?:ca|cg)\.shared(?:::cta)?\.global(?:\.L2::\w+)? \[(%\d+)\], \[(%\d+)\], (\d+|%\d+)(?:, (\d+|%\d+))?;?$/.exec(text)))
    return `::emu::ptx::cp_async(${op(m[1])}, ::emu::ptx::global(${op(m[2])}), ${op(m[3])}, ${op(m[4] ?? m[3])})`;
  if (/^cp\.async\.commit_group;?$/.test(text)) return '::emu::ptx::cp_async_commit()';
  if ((m = /^cp\.async\.wait_group (\d+|%\d+);?$/.exec(text))) return `::emu::ptx::cp_async_wait(${op(m[1])})`;
  if (/^cp\.async\.wait_all;?$/.test(text)) return '::emu::ptx::cp_async_wait_all()';
  if ((m = /^ldmatrix\.sync\.aligned\.m8n8\.x([124])(\.trans)?\.shared(?:::cta)?\.b16 \{([^}]*)\}, \[(%\d+)\];?$/.exec(text)))
    return `::emu::ptx::ldmatrix_x${m[1]}(${list(m[3]).join(', ')}, ${op(m[4])}, ${m[2] ? 'true' : 'false'})`;
  if ((m = /^mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.bf16\.bf16\.f32 \{([^}]*)\}, \{([^}]*)\}, \{([^}]*)\}, \{([^}]*)\};?$/.exec(text)))
    return `::emu::ptx::mma_m16n8k16_bf16_f32(${[...list(m[1]), ...list(m[2]), ...list(m[3]), ...list(m[4])].join(', ')})`;
  if ((m = /^mbarrier\.init\.shared(?:::cta)?\.b64 \[(%\d+)\], (%\d+|\d+);?$/.exec(text)))
    return `::emu::ptx::mbarrier_init(${op(m[1])}, ${op(m[2])})`;
  if ((m = /^mbarrier\.arrive\.expect_tx\.shared(?:::cta)?\.b64 _, \[(%\d+)\], (%\d+|\d+);?$/.exec(text)))
    return `::emu::ptx::mbarrier_arrive_expect_tx(${op(m[1])}, ${op(m[2])})`;
  if ((m = /^mbarrier\.expect_tx\.shared(?:::cta)?\.b64 \[(%\d+)\], (%\d+|\d+);?$/.exec(text)))
    return `::emu::ptx::mbarrier_expect_tx(${op(m[1])}, ${op(m[2])})`;
  if ((m = /^mbarrier\.arrive\.shared(?:::cta)?\.b64 _, \[(%\d+)\];?$/.exec(text)))
    return `::emu::ptx::mbarrier_arrive(${op(m[1])})`;
  if ((m = /^cp\.async\.bulk\.shared::cluster\.global\.mbarrier::complete_tx::bytes \[(%\d+)\], \[(%\d+)\], (%\d+|\d+), \[(%\d+)\];?$/.exec(text)))
    return `::emu::ptx::bulk_copy_g2s(${op(m[1])}, ::emu::ptx::global(${op(m[2])}), ${op(m[3])}, ${op(m[4])})`;
  if (/^fence\.(?:mbarrier_init\.release\.cluster|proxy\.async(?:\.shared::cta)?|acq_rel\.cluster);?$/.test(text))
    return '::emu::ptx::fence()';
  // { .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }
  const wait = /mbarrier\.try_wait\.parity(?:\.shared(?:::cta)?)?\.b64 (\w+), \[(%\d+)\], (%\d+|\d+);/.exec(text);
  if (wait) {
    const sel = new RegExp(`selp\\.(?:u32|b32) (%\\d+), 1, 0, ${wait[1]};`).exec(text);
    if (sel) return `${op(sel[1])} = ::emu::ptx::mbarrier_try_wait_parity(${op(wait[2])}, ${op(wait[3])}) ? 1u : 0u`;
  }
  throw new Error(`the emulator has no model of this PTX: ${JSON.stringify(text)}`);
}

function rewriteAsm(src: string, file: string): string {
  const m = maskCode(src);
  const edits: Edit[] = [];
  const re = /\b(?:asm|__asm__)\b(\s*(?:volatile|__volatile__))?\s*\(/g;
  let hit: RegExpExecArray | null;
  while ((hit = re.exec(m))) {
    const open = hit.index + hit[0].length - 1;
    const close = matching(m, open);
    let end = close + 1;
    while (/\s/.test(m[end])) end++;
    if (m[end] !== ';') throw new Error(`${file}:${lineOf(src, hit.index)}: asm statement without ';'`);
    const sections = splitTop(m, open + 1, close, ':', true);
    const template = [...src.slice(sections[0][0], sections[0][1]).matchAll(/"((?:[^"\\]|\\.)*)"/g)]
      .map((s) => unescapeString(s[1]))
      .join('');
    const operands: Operand[] = [];
    for (const section of sections.slice(1, 3)) {
      if (m.slice(section[0], section[1]).trim() === '') continue;
      for (const [a, b] of splitTop(m, section[0], section[1], ',')) {
        const piece = src.slice(a, b);
        const om = /^\s*(?:\[\w+\]\s*)?"([^"]*)"\s*\(([\s\S]*)\)\s*$/.exec(piece);
        if (!om) throw new Error(`${file}:${lineOf(src, a)}: cannot read the asm operand ${piece.trim()}`);
        operands.push({ constraint: om[1], expr: om[2].trim() });
      }
    }
    let code: string;
    try {
      code = translatePtx(template, operands);
    } catch (e) {
      throw new Error(`${file}:${lineOf(src, hit.index)}: ${(e as Error).message}`);
    }
    edits.push({ start: hit.index, end: end + 1, text: `${code};` });
    re.lastIndex = end + 1;
  }
  return applyEdits(src, edits);
}

// ---- shared memory ------------------------------------------------------------------------

function rewriteExternShared(src: string): string {
  const m = maskCode(src);
  const edits: Edit[] = [];
  const re = /extern\s+(?:(?:__align__|alignas)\s*\(\s*\d+\s*\)\s+)?__shared__\s+(?:(?:__align__|alignas)\s*\(\s*\d+\s*\)\s+)?([\w:<>, ]+?)\s+(\w+)\s*\[\s*\]\s*;/g;
  let hit: RegExpExecArray | null;
  while ((hit = re.exec(m))) {
    const type = hit[1].trim();
    edits.push({
      start: hit.index,
      end: hit.index + hit[0].length,
      text: `${type}* ${hit[2]} = reinterpret_cast<${type}*>(::emu::dynamic_shared());`,
    });
  }
  return applyEdits(src, edits);
}

function rewriteShared(src: string, file: string): string {
  const m = maskCode(src);
  const edits: Edit[] = [];
  const re = /(?:(?:__align__|alignas)\s*\(\s*(\d+)\s*\)\s+)?\b__shared__\b/g;
  let hit: RegExpExecArray | null;
  while ((hit = re.exec(m))) {
    const start = hit.index;
    let end = start + hit[0].length;
    // The declaration runs to the next top-level ';'.
    let depth = 0;
    while (end < m.length && !(depth === 0 && m[end] === ';')) {
      if (m[end] in OPEN) depth++;
      else if (m[end] === ')' || m[end] === ']' || m[end] === '}') depth--;
      end++;
    }
    let body = src.slice(start + hit[0].length, end).trim();
    let align = hit[1] ?? '0';
    const am = /^(?:__align__|alignas)\s*\(\s*(\d+)\s*\)\s*/.exec(body);
    if (am) {
      align = am[1];
      body = body.slice(am[0].length);
    }
    if (/^static\b/.test(body)) body = body.replace(/^static\s+/, '');
    const mb = maskCode(body);
    const declarators = splitTop(mb, 0, mb.length, ',').map(([a, b]) => body.slice(a, b).trim());
    const first = /^([\s\S]*?[\s*&])(\w+)\s*((?:\[[^\]]*\]\s*)*)$/.exec(declarators[0]);
    if (!first) throw new Error(`${file}:${lineOf(src, start)}: cannot read the __shared__ declaration ${body}`);
    const type = first[1].trim();
    const out: string[] = [];
    for (const [k, d] of declarators.entries()) {
      const dm = k === 0 ? first : /^(\s*)(\w+)\s*((?:\[[^\]]*\]\s*)*)$/.exec(d);
      if (!dm || /=/.test(d)) throw new Error(`${file}:${lineOf(src, start)}: cannot read the __shared__ declarator ${d}`);
      const name = dm[2];
      const dims = dm[3].replace(/\s+/g, '');
      out.push(
        `static char emu_shared_key_${name}; auto& ${name} = ::emu::shared_ref<${type}${dims ? ` ${dims}` : ''}>(&emu_shared_key_${name}, ${align});`,
      );
    }
    edits.push({ start, end: end + 1, text: out.join(' ') });
    re.lastIndex = end + 1;
  }
  return applyEdits(src, edits);
}

// ---- __global__ functions -------------------------------------------------------------------

/** `template <typename T, int V, typename... R>` -> "T, V, R..." */
function templateArgs(params: string): string {
  const mp = maskCode(params);
  return splitTop(mp, 0, mp.length, ',')
    .map(([a, b]) => params.slice(a, b).replace(/=[\s\S]*$/, '').trim())
    .filter((p) => p.length > 0)
    .map((p) => {
      const name = /(\w+)\s*$/.exec(p)?.[1];
      if (!name) throw new Error(`cannot read the template parameter ${p}`);
      return p.includes('...') ? `${name}...` : name;
    })
    .join(', ');
}

function rewriteKernels(src: string, file: string): string {
  const m = maskCode(src);
  const edits: Edit[] = [];
  const re = /\b__global__\b/g;
  let hit: RegExpExecArray | null;
  while ((hit = re.exec(m))) {
    let i = hit.index + hit[0].length;
    let bounds = '0';
    let name = '';
    for (;;) {
      while (/\s/.test(m[i])) i++;
      const word = /^\w+/.exec(m.slice(i, i + 200))?.[0] ?? '';
      if (word === '__launch_bounds__') {
        const open = m.indexOf('(', i);
        const close = matching(m, open);
        bounds = src.slice(open + 1, close).split(',')[0].trim();
        i = close + 1;
      } else if (['void', 'static', 'inline', '__noinline__', '__forceinline__'].includes(word)) {
        i += word.length;
      } else {
        name = word;
        i += word.length;
        break;
      }
    }
    if (!name) throw new Error(`${file}:${lineOf(src, hit.index)}: cannot find the kernel's name`);
    while (/\s/.test(m[i])) i++;
    if (m[i] !== '(') throw new Error(`${file}:${lineOf(src, hit.index)}: cannot find ${name}'s parameters`);
    let j = matching(m, i) + 1;
    while (/\s/.test(m[j])) j++;
    if (m[j] !== '{') continue;  // a declaration
    // template <...> right before __global__ (or before its __launch_bounds__ / void prefix)?
    let args = '';
    let k = hit.index - 1;
    while (k >= 0 && /\s/.test(m[k])) k--;
    if (m[k] === '>') {
      let depth = 0;
      let lt = k;
      for (; lt >= 0; lt--) {
        if (m[lt] === '>') depth++;
        else if (m[lt] === '<' && --depth === 0) break;
      }
      const before = m.slice(Math.max(0, lt - 20), lt);
      if (/\btemplate\s*$/.test(before)) args = templateArgs(src.slice(lt + 1, k));
    }
    const fn = args ? `&${name}<${args}>` : `&${name}`;
    edits.push({ start: j + 1, end: j + 1, text: ` ::emu::kernel_entry<${fn}, static_cast<unsigned>(${bounds})>();` });
  }
  return applyEdits(src, edits);
}

// ---- launches -------------------------------------------------------------------------------

/** Start of the kernel expression that ends right before `at` (identifiers, ::, template args). */
function kernelStart(m: string, at: number): number {
  let i = at - 1;
  while (i >= 0 && /\s/.test(m[i])) i--;
  for (;;) {
    if (m[i] === '>') {
      let depth = 0;
      for (; i >= 0; i--) {
        if (m[i] === '>' || m[i] === ')') depth++;
        else if ((m[i] === '<' || m[i] === '(') && --depth === 0) break;
      }
      i--;
      while (i >= 0 && /\s/.test(m[i])) i--;
      continue;
    }
    if (m[i] === ')') {  // (kernel pointer)
      let depth = 0;
      for (; i >= 0; i--) {
        if (m[i] === ')') depth++;
        else if (m[i] === '(' && --depth === 0) break;
      }
      return i;
    }
    const id = /\w+$/.exec(m.slice(Math.max(0, i - 200), i + 1));
    if (!id) return i + 1;
    i -= id[0].length;
    if (m[i] === ':' && m[i - 1] === ':') {
      i -= 2;
      continue;
    }
    return i + 1;
  }
}

function rewriteLaunches(src: string, file: string): string {
  const m = maskCode(src);
  const edits: Edit[] = [];
  let from = 0;
  for (;;) {
    const open = m.indexOf('<<<', from);
    if (open < 0) break;
    const close = m.indexOf('>>>', open);
    let p = close + 3;
    while (/\s/.test(m[p])) p++;
    if (m[p] !== '(') throw new Error(`${file}:${lineOf(src, open)}: a launch without arguments`);
    const end = matching(m, p);
    const start = kernelStart(m, open);
    const kernel = src.slice(start, open).trim();
    const config = src.slice(open + 3, close).trim();
    const args = src.slice(p + 1, end).trim();
    const name = JSON.stringify(kernel.replace(/\s+/g, ' '));
    edits.push({
      start,
      end: end + 1,
      text: `::emu::launch_call(${name}, ::emu::LaunchConfig(${config}), [=](const auto&... emu_a) { ${kernel}(emu_a...); }${args ? `, ${args}` : ''})`,
    });
    from = end + 1;
  }
  return applyEdits(src, edits);
}

export function transformSource(src: string, file: string): string {
  let out = rewriteAsm(src, file);
  out = rewriteExternShared(out);
  out = rewriteShared(out, file);
  out = rewriteKernels(out, file);
  out = rewriteLaunches(out, file);
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** Writes `target` only when its text changes (so the build recompiles only what changed). */
function writeIfChanged(target: string, text: string): boolean {
  if (existsSync(target) && readFileSync(target, 'utf8') === text) return false;
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
  return true;
}

/** One file, named `shown` in messages and #line. */
function transformFile(path: string, shown: string, target: string): boolean {
  return writeIfChanged(target, `#line 1 "${shown}"\n${transformSource(readFileSync(path, 'utf8'), shown)}`);
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--file' && args.length === 3) {
    transformFile(args[1], relative(process.cwd(), args[1]), args[2]);
    return;
  }
  const [nativeDir, outDir] = args;
  if (!nativeDir || !outDir) throw new Error('usage: transform.ts <native dir> <out dir> | --file <in.cu> <out.cc>');
  const root = resolve(nativeDir);
  let written = 0;
  let total = 0;
  for (const path of walk(join(root, 'cuda'))) {
    if (!/\.(cu|cuh|cc|h)$/.test(path)) continue;
    const rel = relative(root, path);
    total++;
    if (transformFile(path, `native/${rel}`, join(outDir, rel.endsWith('.cu') ? `${rel}.cc` : rel))) written++;
  }
  // A source that is gone takes its copy with it, so the build does not compile a stale file.
  let removed = 0;
  if (existsSync(outDir))
    for (const path of walk(outDir)) {
      const rel = relative(outDir, path).replace(/\.cu\.cc$/, '.cu');
      if (!existsSync(join(root, rel))) {
        rmSync(path);
        removed++;
      }
    }
  console.log(`cuda-emu transform: ${total} files, ${written} rewritten, ${removed} removed`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) main();
