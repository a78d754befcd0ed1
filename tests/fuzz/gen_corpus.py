#!/usr/bin/env python3
"""Writes the seed corpus of every harness into tests/fuzz/corpus/<harness>/ (deterministic).

The seeds are small byte strings the harnesses decode through FuzzedDataProvider: a few fixed
patterns (all zeros, all ones, a ramp) that reach the valid path, the header errors and the
content errors, plus pseudo-random strings from a fixed seed. libFuzzer grows its working corpus
from these; run.sh never writes into this folder. The grown-<sha1> units next to the seeds (force/stress
and quantization) are an every-k-th sample of a `-merge=1` minimised corpus from ~20 min of fuzzing:
they let a 55 s CI run start deep in the round-trip paths; this script does not touch them.
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
# Appending a harness keeps the earlier harnesses' seeds (one random stream, in this order).
HARNESSES = {"fuzz_csr_validate": 12, "fuzz_spmm": 12, "fuzz_quant_plan": 8, "fuzz_force_stress": 12,
             "fuzz_spmm_ex": 12, "fuzz_edge_ops": 12, "fuzz_neighbor_list": 12}


def seeds(rng, count):
    fixed = [bytes(16), b"\xff" * 16, bytes(range(64)), bytes(range(255, 127, -1)),
             b"\x01" + bytes(40), b"\x00\x10\x08" + b"\x02" * 60]
    out = fixed[:]
    while len(out) < count:
        n = rng.choice([8, 24, 64, 160, 400])
        out.append(bytes(rng.getrandbits(8) for _ in range(n)))
    return out


def main():
    rng = random.Random(20240611)
    for name, count in HARNESSES.items():
        folder = os.path.join(HERE, "corpus", name)
        os.makedirs(folder, exist_ok=True)
        for i, data in enumerate(seeds(rng, count)):
            with open(os.path.join(folder, f"seed-{i:02d}"), "wb") as f:
                f.write(data)
        print(f"{folder}: {count} seeds")


if __name__ == "__main__":
    main()
