#!/usr/bin/env bash
# Builds GraphKernels, installs it into a prefix, builds the C and Fortran examples against the
# INSTALLED package from copies outside the source tree (find_package(GraphKernels); the C example
# also through pkg-config when it is available), runs both on a perfect and a displaced FCC argon
# crystal, and compares every output with reference.py (analytic lattice sum / brute force).
#
# usage: native/examples/run.sh [--prefix DIR] [--work DIR]
#   --prefix DIR  use an existing installation (cmake --install) instead of building one
#   --work DIR    scratch directory (default: a new temporary directory)
# Needs cmake, a C compiler, gfortran and python3. Exit status 0 when everything matches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=""; work=""
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=$(realpath -m "$2"); shift 2 ;;
    --work) work=$(realpath -m "$2"); shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done
[ -n "$work" ] || work=$(mktemp -d)
mkdir -p "$work"
echo "examples: working in $work"

if [ -z "$prefix" ]; then
  prefix=$work/prefix
  echo "== building and installing GraphKernels (emulated library) into $prefix"
  cmake -S "$root" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGK_BUILD_CUDA=OFF -DGK_BUILD_TESTS=OFF \
        -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/configure.log" 2>&1 || { tail -n 40 "$work/configure.log"; exit 1; }
  cmake --build "$work/build" -j 2 >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; exit 1; }
  cmake --install "$work/build" >"$work/install.log" 2>&1 || { tail -n 40 "$work/install.log"; exit 1; }
fi
[ -f "$prefix/lib/cmake/GraphKernels/GraphKernelsConfig.cmake" ] || { echo "no GraphKernels installation in $prefix"; exit 1; }

echo "== the installed library"
lib=$(readlink -f "$prefix/lib/libgraphkernels_emulated.so")
soname=$(readelf -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
echo "$lib (SONAME $soname)"
[ -n "$soname" ] && [ -e "$prefix/lib/$soname" ] || { echo "FAIL: no versioned SONAME link"; exit 1; }
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^gk_' || true)
[ -z "$others" ] || { echo "FAIL: exports other than gk_*:"; echo "$others" | head; exit 1; }
echo "exports: $(nm -D --defined-only "$lib" | grep -c ' gk_') gk_* symbols and nothing else"

echo "== building the examples outside the source tree"
rm -rf "$work/src-c" "$work/src-fortran"
cp -r "$here/c" "$work/src-c"
cp -r "$here/fortran" "$work/src-fortran"
for ex in c fortran; do
  cmake -S "$work/src-$ex" -B "$work/build-$ex" -DCMAKE_PREFIX_PATH="$prefix" >"$work/$ex-configure.log" 2>&1 \
    || { tail -n 40 "$work/$ex-configure.log"; exit 1; }
  cmake --build "$work/build-$ex" >"$work/$ex-build.log" 2>&1 || { tail -n 40 "$work/$ex-build.log"; exit 1; }
done
runs=("$work/build-c/lj_fcc" "$work/build-fortran/lj_fcc_f")
if command -v pkg-config >/dev/null 2>&1; then
  # shellcheck disable=SC2046
  cc -std=c11 -O2 -o "$work/lj_fcc_pc" "$work/src-c/lj_fcc.c" \
     $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs graphkernels-emulated) -lm \
     -Wl,-rpath,"$prefix/lib"
  runs+=("$work/lj_fcc_pc")
else
  echo "(pkg-config not found: the pkg-config build is skipped)"
fi

echo "== running and comparing with the reference"
fail=0
for exe in "${runs[@]}"; do
  for case in perfect displaced; do
    d=0; [ "$case" = displaced ] && d=1
    out="$work/$(basename "$exe")-$case.txt"
    "$exe" 3 "$d" >"$out" || { echo "FAIL: $exe exited with $?"; fail=1; continue; }
    python3 "$here/reference.py" "$out" "$case" || fail=1
  done
done
[ "$fail" = 0 ] && echo "examples: all outputs match the reference" || echo "examples: FAILED"
exit "$fail"
