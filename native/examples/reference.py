#!/usr/bin/env python3
"""Independent reference for the embedding examples (plain Python, double precision).

usage: reference.py OUTPUT_FILE perfect|displaced

perfect:   FCC argon, a = (fp32 cell) / cells ~ 5.26 A, LJ eps = 0.0104 eV, sigma = 3.405 A, cutoff 8.5 A (not shifted).
           Forces are 0 by symmetry; the stress and the energy are the analytic lattice sums
           sigma_ab = N/(2V) sum_R phi'(|R|) R_a R_b/|R|,  E = N/2 sum_R phi(|R|)
           over the FCC lattice vectors R != 0 with |R| < cutoff (enumerated here).
displaced: brute force over every pair and every image shift in [-3, 3]^3 (the cell is wider than
           the cutoff, so that box holds every image within it) from the positions the example
           printed (fp32 values, printed exactly): F_i = sum_{j,S} phi'(r) r/|r|,
           sigma = 1/(2V) sum_{i,j,S} phi'(r) r (x) r/|r|, E = 1/2 sum phi(r).
Tolerances (the examples compute g_e, r_e and the forces in fp32, the stress sum in fp64):
forces 2e-6 eV/A + 1e-4 relative; stress 1e-5 of its largest component; energy 1e-6 relative.
"""
import math
import sys

EPS, SIGMA, A, RC = 0.0104, 3.405, 5.26, 8.5


def phi(r):
    s6 = (SIGMA / r) ** 6
    return 4 * EPS * (s6 * s6 - s6)


def dphi(r):
    s6 = (SIGMA / r) ** 6
    return 4 * EPS * (-12 * s6 * s6 + 6 * s6) / r


def read(path):
    out = {"position": {}, "force": {}}
    for line in open(path):
        w = line.split()
        if not w or w[0].startswith("#"):
            continue
        if w[0] in ("position", "force"):
            out[w[0]][int(w[1])] = [float(v) for v in w[2:5]]
        elif w[0] in ("cell", "stress"):
            out[w[0]] = [float(v) for v in w[1:10]]
        elif w[0] == "energy":
            out["energy"] = float(w[1])
    return out


def main():
    path, case = sys.argv[1], sys.argv[2]
    got = read(path)
    cell = got["cell"]
    n = len(got["position"])
    lx, ly, lz = cell[0], cell[4], cell[8]
    assert cell[1] == cell[2] == cell[3] == cell[5] == cell[6] == cell[7] == 0, "cubic cell expected"
    vol = lx * ly * lz
    if case == "perfect":
        basis = [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
        s = [[0.0] * 3 for _ in range(3)]
        e_atom = 0.0
        # The lattice constant of the crystal actually simulated: the fp32 cell over the cell count.
        cells = round((n / 4) ** (1 / 3))
        a_eff = lx / cells
        m = int(math.ceil(RC / a_eff)) + 1
        for i in range(-m, m + 1):
            for j in range(-m, m + 1):
                for k in range(-m, m + 1):
                    for b in basis:
                        R = ((i + b[0]) * a_eff, (j + b[1]) * a_eff, (k + b[2]) * a_eff)
                        r = math.sqrt(sum(c * c for c in R))
                        if r == 0 or r >= RC:
                            continue
                        e_atom += 0.5 * phi(r)
                        for a in range(3):
                            for c in range(3):
                                s[a][c] += 0.5 * dphi(r) * R[a] * R[c] / r
        want_stress = [n * s[a][c] / vol for a in range(3) for c in range(3)]
        want_forces = {i: [0.0, 0.0, 0.0] for i in range(n)}
        want_energy = n * e_atom
    else:
        pos = got["position"]
        f = {i: [0.0, 0.0, 0.0] for i in range(n)}
        s = [0.0] * 9
        energy = 0.0
        shifts = [(a, b, c) for a in range(-3, 4) for b in range(-3, 4) for c in range(-3, 4)]
        for i in range(n):
            xi = pos[i]
            for j in range(n):
                xj = pos[j]
                d = (xj[0] - xi[0], xj[1] - xi[1], xj[2] - xi[2])
                for (a, b, c) in shifts:
                    if i == j and a == 0 and b == 0 and c == 0:
                        continue
                    rx, ry, rz = d[0] + a * lx, d[1] + b * ly, d[2] + c * lz
                    r2 = rx * rx + ry * ry + rz * rz
                    if r2 >= RC * RC:
                        continue
                    r = math.sqrt(r2)
                    energy += 0.5 * phi(r)
                    t = dphi(r) / r
                    f[i][0] += t * rx
                    f[i][1] += t * ry
                    f[i][2] += t * rz
                    v = (rx, ry, rz)
                    for p in range(3):
                        for q in range(3):
                            s[3 * p + q] += 0.5 * t * v[p] * v[q]
        want_stress = [v / vol for v in s]
        want_forces = f
        want_energy = energy

    bad = 0
    worst = 0.0
    for i in range(n):
        for c in range(3):
            w, g = want_forces[i][c], got["force"][i][c]
            err = abs(g - w)
            worst = max(worst, err)
            if err > 2e-6 + 1e-4 * abs(w):
                bad += 1
                if bad <= 5:
                    print(f"  force[{i}][{c}] = {g:.8e}, reference {w:.8e}")
    smax = max(abs(v) for v in want_stress)
    serr = max(abs(g - w) for g, w in zip(got["stress"], want_stress))
    if serr > 1e-5 * smax:
        bad += 1
        print(f"  stress {got['stress']} vs reference {want_stress}")
    eerr = abs(got["energy"] - want_energy)
    if eerr > 1e-6 * abs(want_energy):
        bad += 1
        print(f"  energy {got['energy']:.10e} vs reference {want_energy:.10e}")
    print(f"{path} ({case}): max |dF| = {worst:.2e} eV/A, max |dsigma| = {serr:.2e} eV/A^3 "
          f"(sigma_xx = {want_stress[0]:.6e}), |dE| = {eerr:.2e} eV -> {'OK' if bad == 0 else 'FAIL'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
