"""Force/stress peers on the molecular batch (bench/FORMAT.md: pos, cell, batch_ptr, row_ptr,
col_idx, unit_shift, edge_grad). Edge e = (i = receiver row, j = sender col, S = unit_shift):
r_e = pos[j] + S·cell[b] − pos[i], g_e = ∂E/∂r_e (edge_grad).

  readout / torch.index_add     the unfused readout our fused kernel replaces:
                                F[i] += g_e, F[j] −= g_e; σ_b = (1/V_b) Σ_e r_e ⊗ g_e
  autograd_create_graph / torch.autograd
                                MACE's displacement trick: E = Σ_e φ(|r_e|) (Gaussian radial basis
                                times a cosine cutoff), ε [B,3,3] zeros with requires_grad, positions
                                and cells strained by sym(ε), then autograd.grad(E, [pos, ε],
                                create_graph=True): F = −∂E/∂pos, σ = (1/V) ∂E/∂ε. Time and peak memory.

Checks: the autograd forces and stress must equal the readout applied to the autograd edge
gradients ∂E/∂r_e; a failure is recorded as FAILED and the script exits 1.
Usage: python3 forcestress_peer.py --data DIR --out DIR [--datasets molecular]
"""
import math

import gkbench


def main():
    args = gkbench.parse_args(__doc__)
    import torch

    m = gkbench.load_manifest(args.data)
    res = gkbench.Results("forcestress_peer.py")
    for ds in gkbench.select(m, args, kind="molecular"):
        name = ds["name"]
        pos = gkbench.load_torch(args.data, ds, "pos")
        cell = gkbench.load_torch(args.data, ds, "cell")
        bp = gkbench.load_torch(args.data, ds, "batch_ptr").to(torch.int64)
        rp = gkbench.load_torch(args.data, ds, "row_ptr").to(torch.int64)
        col = gkbench.load_torch(args.data, ds, "col_idx").to(torch.int64)
        shift = gkbench.load_torch(args.data, ds, "unit_shift").to(torch.float32)
        g = gkbench.load_torch(args.data, ds, "edge_grad")
        n, b = pos.shape[0], cell.shape[0]
        recv = torch.repeat_interleave(torch.arange(n, device="cuda"), rp[1:] - rp[:-1])
        atom_struct = torch.repeat_interleave(torch.arange(b, device="cuda"), bp[1:] - bp[:-1])
        edge_struct = atom_struct[recv]
        volume = torch.linalg.det(cell).abs()

        def edge_vectors(p, c):
            return p[col] + torch.einsum("ek,ekl->el", shift, c[edge_struct]) - p[recv]

        r = edge_vectors(pos, cell)

        def readout(grad):
            forces = torch.zeros_like(pos)
            forces.index_add_(0, recv, grad)
            forces.index_add_(0, col, -grad)
            outer = torch.einsum("ei,ej->eij", r, grad)
            stress = torch.zeros(b, 3, 3, device="cuda").index_add_(0, edge_struct, outer) / volume.view(-1, 1, 1)
            return forces, stress

        mu = torch.linspace(0.5, 5.0, 8, device="cuda")
        coef = torch.linspace(-1.0, 1.0, 8, device="cuda")
        rc = ds["parameters"].get("cutoff_A", 5.0)

        def energy(rv):
            d = rv.norm(dim=1).clamp_min(1e-6)
            cutoff = 0.5 * (torch.cos(math.pi * d / rc) + 1.0) * (d < rc)
            return ((torch.exp(-4.0 * (d.unsqueeze(1) - mu) ** 2) * coef).sum(1) * cutoff).sum()

        def autograd_forces():
            p = pos.clone().requires_grad_(True)
            eps = torch.zeros(b, 3, 3, device="cuda", requires_grad=True)
            sym = 0.5 * (eps + eps.transpose(1, 2))
            p_strained = p + torch.einsum("ai,aij->aj", p, sym[atom_struct])
            c_strained = cell + torch.bmm(cell, sym)
            e = energy(edge_vectors(p_strained, c_strained))
            d_pos, d_eps = torch.autograd.grad(e, [p, eps], create_graph=True)
            return -d_pos, d_eps / volume.view(-1, 1, 1)

        def check_autograd():
            rv = r.clone().requires_grad_(True)
            (g_auto,) = torch.autograd.grad(energy(rv), [rv])
            f_ref, s_ref = readout(g_auto)
            f, s = autograd_forces()
            # F = −∂E/∂pos: receiver i gets +g (r = ... − pos[i]), sender j gets −g.
            torch.testing.assert_close(f.detach(), f_ref, rtol=1e-3, atol=1e-4)
            torch.testing.assert_close(s.detach(), s_ref, rtol=1e-3, atol=1e-4)

        def check_readout():
            f, s = readout(g)
            if not (torch.isfinite(f).all() and torch.isfinite(s).all()):
                raise AssertionError("non-finite readout")
            torch.testing.assert_close(f.sum(0), torch.zeros(3, device="cuda"), rtol=0, atol=1e-2)  # Newton's third law

        res.run("forcestress", "readout", name, 0, "torch.index_add", lambda: readout(g), check=check_readout, memory=True, reps=args.reps)
        res.run("forcestress", "autograd_create_graph", name, 0, "torch.autograd", autograd_forces, check=check_autograd,
                memory=True, reps=args.reps)
    res.write(args.out, "forcestress")


if __name__ == "__main__":
    main()
