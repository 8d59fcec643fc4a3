#!/usr/bin/env bash
# Builds another revision of pycnn as the extension module `_D` (same code,
# other name), so a kernel change can be timed against it in ONE process,
# alternating calls: on a shared VM the machine's speed drifts by up to 2x
# between runs, which separate-process comparisons cannot tell from a change.
#   tools/abbuild.sh [rev=HEAD] [out-dir=build/ab]
#   PYTHONPATH=.:build/ab python -c "from pycnn import _C; import _D; ..."
# The revision is checked out in a detached worktree (../wt-ab) with its own
# build directory, so rebuilding it is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rev=$(git rev-parse "${1:-HEAD}")
out=$(realpath -m "${2:-build/ab}")
wt=$(realpath -m "$root/../wt-ab")
[ -d "$wt" ] || git worktree add -q --detach "$wt" "$rev"
git -C "$wt" checkout -q --detach "$rev"
git -C "$wt" checkout -q -- .
sed -i 's/PYBIND11_MODULE(_C,/PYBIND11_MODULE(_D,/' "$wt/csrc/bindings/module.cpp"
bdir=$wt/build/ab
if [ ! -f "$bdir/build.ninja" ]; then
  cmake -S "$wt" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
fi
cmake --build "$bdir" -j2 >&2
git -C "$wt" checkout -q -- .
mkdir -p "$out"
so=$(ls "$bdir"/_C*.so)
cp -f "$so" "$out/$(basename "$so" | sed 's/^_C/_D/')"
echo "built _D from $(git rev-parse --short "$rev") into $out"
