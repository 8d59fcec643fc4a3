#!/usr/bin/env bash
# Incremental developer build: compiles pycnn._C into build/<name> and copies
# it next to the Python sources, so `PYTHONPATH=. python -c "import pycnn"`
# runs the tree as it is. Usage: tools/devbuild.sh [build-dir-name] [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-dev}; shift || true
bdir=build/$name
if [ ! -f "$bdir/build.ninja" ]; then
  cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" "$@" >/dev/null
fi
cmake --build "$bdir" -j2 >&2
so=$(ls "$bdir"/_C*.so)
# Copy then rename: overwriting the mapped .so in place would crash (SIGBUS)
# any Python process that has it loaded.
cp -f "$so" "pycnn/.$(basename "$so").tmp.$$"
mv -f "pycnn/.$(basename "$so").tmp.$$" "pycnn/$(basename "$so")"
echo "built $(basename "$so")"
