"""SpMM peers on the shared inputs: Y = A·X (copy_u/sum) and Y = A_w·X (u_mul_e/sum), fp32.

  torch.sparse_csr   torch.sparse_csr_tensor @ dense (cuSPARSE SpMM)
  pyg.scatter        PyG's MessagePassing default path: gather x[col] (· w), then
                     torch_geometric.utils.scatter(..., reduce='sum') over the destination rows
  pyg.segment        torch_geometric.utils.segment(gathered, row_ptr, reduce='sum') (CSR segment reduce)
  pyg.spmm           torch_geometric.utils.spmm(adj, x, reduce='sum') on a torch sparse CSR adjacency

Every peer's output is checked against torch.sparse_csr (itself checked on a row sample in float64)
before it is timed; a peer that errors or disagrees is recorded as FAILED and the script exits 1.
Usage: python3 spmm_peers.py --data DIR --out DIR [--features 32,128] [--datasets arxiv,products]
"""
import gkbench


def main():
    args = gkbench.parse_args(__doc__)
    import torch
    import torch_geometric
    from torch_geometric.utils import scatter, segment, spmm

    m = gkbench.load_manifest(args.data)
    res = gkbench.Results("spmm_peers.py")
    print(f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, {res.device}")
    for ds in gkbench.select(m, args):
        name = ds["name"]
        rp = gkbench.load_torch(args.data, ds, "row_ptr").to(torch.int64)
        col = gkbench.load_torch(args.data, ds, "col_idx").to(torch.int64)
        w = gkbench.load_torch(args.data, ds, "w")
        x_all = gkbench.load_torch(args.data, ds, "x")
        n = ds["nodes"]
        row = torch.repeat_interleave(torch.arange(n, device="cuda"), rp[1:] - rp[:-1])
        for f in args.features:
            if f > ds["features"]:
                continue
            x = x_all[:, :f].contiguous()
            for op, weighted in (("copy_u_sum", False), ("u_mul_e_sum", True)):
                vals = w if weighted else torch.ones_like(w)
                a = torch.sparse_csr_tensor(rp, col, vals, (n, n))
                ref = a @ x
                torch.cuda.synchronize()

                def check_ref():
                    # The reference itself, in float64 on a sample of rows (hubs included).
                    idx = torch.unique(torch.cat([torch.randint(0, n, (64,), device="cuda"), torch.argmax(rp[1:] - rp[:-1]).view(1)]))
                    for r in idx.tolist():
                        s, e = rp[r].item(), rp[r + 1].item()
                        exp = (vals[s:e].double().unsqueeze(1) * x[col[s:e]].double()).sum(0)
                        torch.testing.assert_close(ref[r].double(), exp, rtol=1e-3, atol=1e-3)

                def checker(fn):
                    def c():
                        torch.testing.assert_close(fn(), ref, rtol=1e-3, atol=1e-3)
                    return c

                def f_csr():
                    return a @ x

                def f_scatter():
                    msg = x.index_select(0, col)
                    if weighted:
                        msg = msg * w.unsqueeze(1)
                    return scatter(msg, row, dim=0, dim_size=n, reduce="sum")

                def f_segment():
                    msg = x.index_select(0, col)
                    if weighted:
                        msg = msg * w.unsqueeze(1)
                    return segment(msg, rp, reduce="sum")

                def f_spmm():
                    return spmm(a, x, reduce="sum")

                res.run("spmm", op, name, f, "torch.sparse_csr", f_csr, check=check_ref, reps=args.reps)
                res.run("spmm", op, name, f, "pyg.scatter", f_scatter, check=checker(f_scatter), reps=args.reps)
                res.run("spmm", op, name, f, "pyg.segment", f_segment, check=checker(f_segment), reps=args.reps)
                res.run("spmm", op, name, f, "pyg.spmm", f_spmm, check=checker(f_spmm), reps=args.reps)
                del a, ref
            del x
    res.write(args.out, "spmm")


if __name__ == "__main__":
    main()
