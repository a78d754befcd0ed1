"""Shared helpers of the peer scripts: the bench binary format (bench/FORMAT.md), timing with CUDA
events, and the results file (the schema GraphKernels.Bench's report-gk exporter writes).

The format part uses the standard library only, so `python3 bench/peers/gkbench.py check DATA_DIR`
verifies a data folder (headers, sizes, CRC-32) on a machine without numpy or torch (CI does).
numpy and torch are imported only by the functions that need them.
"""
import json
import os
import statistics
import struct
import sys
import traceback
import zlib

MAGIC = b"GKBENCH1"
HEADER_SIZE = 64
DTYPES = {1: ("i32", "<i4", 4), 2: ("i64", "<i8", 8), 3: ("f32", "<f4", 4), 4: ("bf16", "<u2", 2), 5: ("u8", "u1", 1)}


def read_header(path):
    """(dtype name, numpy dtype string, element size, shape, crc32) of an array file."""
    with open(path, "rb") as f:
        h = f.read(HEADER_SIZE)
    if len(h) != HEADER_SIZE or h[:8] != MAGIC:
        raise ValueError(f"{path}: not a GKBENCH1 array")
    code, ndim = struct.unpack_from("<ii", h, 8)
    if code not in DTYPES or not 1 <= ndim <= 4:
        raise ValueError(f"{path}: dtype code {code}, ndim {ndim}")
    dims = struct.unpack_from("<4q", h, 16)[:ndim]
    (crc,) = struct.unpack_from("<I", h, 48)
    name, np_dtype, size = DTYPES[code]
    count = 1
    for d in dims:
        count *= d
    expected = HEADER_SIZE + count * size
    actual = os.path.getsize(path)
    if actual != expected:
        raise ValueError(f"{path}: {actual} bytes, header implies {expected}")
    return name, np_dtype, size, tuple(dims), crc


def check_crc(path, crc):
    value = 0
    with open(path, "rb") as f:
        f.seek(HEADER_SIZE)
        while True:
            chunk = f.read(1 << 24)
            if not chunk:
                break
            value = zlib.crc32(chunk, value)
    if value != crc:
        raise ValueError(f"{path}: CRC-32 {value:08x}, header says {crc:08x}")


def load_manifest(data_dir):
    with open(os.path.join(data_dir, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    if m.get("format") != "gkbench-1":
        raise ValueError(f"{data_dir}/manifest.json: format {m.get('format')!r}, expected 'gkbench-1'")
    return m


def dataset(manifest, name):
    for d in manifest["datasets"]:
        if d["name"] == name:
            return d
    raise KeyError(f"dataset {name!r} not in the manifest")


def check(data_dir, verify_crc=True):
    """Validates every array of a data folder against its manifest; returns the number checked."""
    m = load_manifest(data_dir)
    n = 0
    for d in m["datasets"]:
        for name, a in d["arrays"].items():
            path = os.path.join(data_dir, a["file"])
            dt, _, _, shape, crc = read_header(path)
            if dt != a["dtype"] or list(shape) != list(a["shape"]) or f"{crc:08x}" != a["crc32"]:
                raise ValueError(f"{path}: header ({dt}, {shape}, {crc:08x}) disagrees with the manifest ({a})")
            if verify_crc:
                check_crc(path, crc)
            n += 1
        rp = os.path.join(data_dir, d["arrays"]["row_ptr"]["file"])
        if read_header(rp)[3] != (d["nodes"] + 1,):
            raise ValueError(f"{d['name']}: row_ptr is not [nodes + 1]")
    return n


def load_numpy(data_dir, ds, array):
    """An array as a numpy array (bf16 arrives as uint16 raw bits)."""
    import numpy as np

    a = ds["arrays"][array]
    path = os.path.join(data_dir, a["file"])
    _, np_dtype, _, shape, _ = read_header(path)
    return np.fromfile(path, dtype=np_dtype, offset=HEADER_SIZE).reshape(shape)


def load_torch(data_dir, ds, array, device="cuda"):
    import torch

    a = load_numpy(data_dir, ds, array)
    t = torch.from_numpy(a.copy())
    if ds["arrays"][array]["dtype"] == "bf16":
        t = t.view(torch.int16).view(torch.bfloat16)
    return t.to(device)


def time_cuda(fn, warmup=5, reps=30):
    """Median/mean/stddev milliseconds of fn() with CUDA events, after warm-up."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return {
        "median_ms": statistics.median(times),
        "mean_ms": statistics.fmean(times),
        "stddev_ms": statistics.stdev(times) if len(times) > 1 else 0.0,
        "n": len(times),
    }


class Results:
    """Collects rows; a peer that raises is recorded as FAILED and makes the script exit 1."""

    def __init__(self, tool):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(f"{tool}: torch.cuda.is_available() is False: the peers only run on a GPU (nothing was measured)")
        self.tool = tool
        self.device = torch.cuda.get_device_name(0)
        self.records = []
        self.failures = 0

    def run(self, family, op, ds_name, features, impl, fn, dtype="fp32", check=None, memory=False, reps=30):
        """Times fn (after check(), if given, validated its output); records a row either way."""
        import torch

        row = {"family": family, "op": op, "dataset": ds_name, "features": features, "dtype": dtype, "impl": impl,
               "device": self.device, "emulated": False, "median_ms": 0.0, "mean_ms": 0.0, "stddev_ms": 0.0, "n": 0,
               "bytes": 0, "gbps": 0.0, "copy_ms": 0.0, "copy_fraction": 0.0, "allocated_bytes_per_op": -1,
               "peak_mem_bytes": -1, "note": ""}
        try:
            if check is not None:
                check()
            if memory:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                fn()
                torch.cuda.synchronize()
                row["peak_mem_bytes"] = torch.cuda.max_memory_allocated() - base
            row.update(time_cuda(fn, reps=reps))
            print(f"  {impl:<22} {family}/{op:<18} {ds_name:<10} F={features:<4} {row['median_ms']:.4f} ms", flush=True)
        except torch.cuda.OutOfMemoryError as e:
            # Not a pass and not a crash: the peer cannot run this size on this device (e.g. PyG's
            # gather materialising E x F messages, research §3.3). Recorded and shown as OOM.
            row["note"] = f"OOM: {str(e).splitlines()[0]}"
            print(f"  {impl:<22} {family}/{op} {ds_name} F={features}: OOM", file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is recorded and fails the run
            self.failures += 1
            row["note"] = f"FAILED: {type(e).__name__}: {e}"
            print(f"  {impl:<22} {family}/{op} {ds_name} F={features}: FAILED", file=sys.stderr, flush=True)
            traceback.print_exc()
        finally:
            torch.cuda.empty_cache()
        self.records.append(row)

    def write(self, out_dir, name):
        import torch

        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, f"peers-{name}.json")
        doc = {"tool": f"bench/peers/{self.tool} (torch {torch.__version__}, CUDA {torch.version.cuda})",
               "device": self.device, "emulated": False, "records": self.records}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
        print(f"{self.tool}: {len(self.records)} rows, {self.failures} failed -> {path}")
        if self.failures or not self.records:
            raise SystemExit(1)


def parse_args(description):
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", required=True, help="data folder made by `generate` (manifest.json)")
    p.add_argument("--out", required=True, help="folder for peers-*.json")
    p.add_argument("--features", default="32,128", help="comma-separated widths")
    p.add_argument("--datasets", default="", help="comma-separated names (default: all of the right kind)")
    p.add_argument("--reps", type=int, default=30)
    args = p.parse_args()
    args.features = [int(f) for f in args.features.split(",") if f]
    args.datasets = [d for d in args.datasets.split(",") if d]
    return args


def select(manifest, args, kind=None):
    out = []
    for d in manifest["datasets"]:
        if kind is not None and d["kind"] != kind:
            continue
        if args.datasets and d["name"] not in args.datasets:
            continue
        out.append(d)
    if not out:
        raise SystemExit(f"no dataset of kind {kind!r} matches {args.datasets or 'all'}: nothing to measure")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "check":
        raise SystemExit("usage: gkbench.py check DATA_DIR")
    print(f"gkbench: {check(sys.argv[2])} arrays ok in {sys.argv[2]}")
