#!/usr/bin/env bash
# Stages the Liger-Kernel files that benchmarks/peers/loss_peers.py runs as peers, from a git
# mirror of github.com/linkedin/Liger-Kernel into .devcarry/peers/liger_kernel (git-ignored: Liger's
# code travels to the GPU machine with the checkout and is never committed). Only what the peers
# import is taken (see the shared DEVICE.md): ops/grpo_loss.py imports only torch and triton;
# the chunked loss needs chunked_loss/grpo_loss.py and chunked_loss/fused_linear_ppo.py. Their
# packages get empty __init__.py files, because Liger's own import every other op and its
# dependencies. Then the staged tree's imports are checked statically (no torch needed).
#
#   scripts/stage-peers.sh [MIRROR_GIT_DIR]
#
# MIRROR_GIT_DIR: a git directory (bare or not) holding Liger-Kernel; default $LIGER_MIRROR, else
# /work/.mirror/linkedin+Liger-Kernel/repo. Output: $PEERS_DIR (default .devcarry/peers, the folder
# scripts/device-check.sh passes as --liger) gets liger_kernel/, LIGER-LICENSE and LIGER-COMMIT.
set -euo pipefail

mirror=${1:-${LIGER_MIRROR:-/work/.mirror/linkedin+Liger-Kernel/repo}}
out=${PEERS_DIR:-.devcarry/peers}
files=(ops/grpo_loss.py chunked_loss/grpo_loss.py chunked_loss/fused_linear_ppo.py)

rev=$(git --git-dir="$mirror" rev-parse --verify HEAD^{commit}) || {
  echo "stage-peers: $mirror is not a git directory with Liger-Kernel in it" >&2
  exit 1
}
rm -rf "$out/liger_kernel"
mkdir -p "$out/liger_kernel/ops" "$out/liger_kernel/chunked_loss"
for f in "${files[@]}"; do
  git --git-dir="$mirror" show "$rev:src/liger_kernel/$f" > "$out/liger_kernel/$f"
done
: > "$out/liger_kernel/__init__.py"
: > "$out/liger_kernel/ops/__init__.py"
: > "$out/liger_kernel/chunked_loss/__init__.py"
git --git-dir="$mirror" show "$rev:LICENSE" > "$out/LIGER-LICENSE"  # its license travels with its files
echo "$rev" > "$out/LIGER-COMMIT"

# Every import of the staged files must be torch, triton, the standard library or a staged
# module, and the names the peers take must be defined where they look for them.
python3 - "$out" <<'PY'
import ast, pathlib, sys

root = pathlib.Path(sys.argv[1])
allowed = {"torch", "triton", "math", "typing", "abc", "functools"}
wanted = {"liger_kernel.ops.grpo_loss": "GrpoLossFunction", "liger_kernel.chunked_loss.grpo_loss": "LigerFusedLinearGRPOLoss"}
modules = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
           for p in (root / "liger_kernel").rglob("*.py")}

def defined(module):
    names = set()
    for n in ast.parse(modules[module].read_text()).body:
        if isinstance(n, (ast.ClassDef, ast.FunctionDef)):
            names.add(n.name)
        elif isinstance(n, ast.Assign):
            names |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    return names

problems = []
for name, path in modules.items():
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            targets = [node.module] if node.level == 0 else [f"(relative) {node.module}"]
        else:
            continue
        for target in targets:
            top = target.split(".")[0]
            if top in allowed:
                continue
            if top != "liger_kernel" or target not in modules:
                problems.append(f"{name} imports {target}: not torch, triton, the standard library or a staged module")
            elif isinstance(node, ast.ImportFrom):
                problems += [f"{name} imports {a.name} from {target}, which does not define it"
                             for a in node.names if a.name not in defined(target)]
problems += [f"{m} does not define {s}" for m, s in wanted.items() if s not in defined(m)]
if problems:
    sys.exit("stage-peers: the staged tree would not import:\n  " + "\n  ".join(problems))
print(f"stage-peers: {len(modules)} modules staged in {root}, imports resolve (torch, triton, stdlib, staged)")
PY
echo "stage-peers: Liger-Kernel $rev -> $out"
