"""EXACT-style per-row INT2 min-max quantization in torch, on the graphs' feature matrices x[:, :F]:

  quantize_int2 / torch      mn, mx per row; scale = (mx − mn) / 3; q = floor((x − mn)/scale + U[0,1))
                             clamped to [0, 3] (stochastic rounding); four 2-bit codes per byte
  dequantize_int2 / torch    unpack, x̂ = q·scale + mn

Check before timing: |x̂ − x| ≤ scale (one quantization step) everywhere, and the mean error over the
matrix is small (unbiased rounding). A failure is recorded as FAILED and the script exits 1.
Usage: python3 quant_peer.py --data DIR --out DIR [--features 32,128] [--datasets arxiv,products]
"""
import gkbench


def main():
    args = gkbench.parse_args(__doc__)
    import torch

    m = gkbench.load_manifest(args.data)
    res = gkbench.Results("quant_peer.py")
    gen = torch.Generator(device="cuda")
    shifts = torch.tensor([0, 2, 4, 6], device="cuda", dtype=torch.uint8)

    def quantize(x):
        mn = x.amin(1, keepdim=True)
        mx = x.amax(1, keepdim=True)
        scale = ((mx - mn) / 3.0).clamp_min(1e-12)
        noise = torch.rand(x.shape, device="cuda", generator=gen)
        q = torch.floor((x - mn) / scale + noise).clamp_(0, 3).to(torch.uint8)
        packed = (q.view(x.shape[0], -1, 4) << shifts).sum(2, dtype=torch.uint8)
        return packed, mn, scale

    def dequantize(packed, mn, scale):
        q = (packed.unsqueeze(2) >> shifts) & 3
        return q.view(packed.shape[0], -1).to(torch.float32) * scale + mn

    for ds in gkbench.select(m, args, kind="graph"):
        x_all = gkbench.load_torch(args.data, ds, "x")
        for f in args.features:
            if f > ds["features"] or f % 4:
                continue
            x = x_all[:, :f].contiguous()
            gen.manual_seed(1234)
            packed, mn, scale = quantize(x)

            def check():
                p, lo, s = quantize(x)
                xh = dequantize(p, lo, s)
                err = (xh - x).abs()
                if not bool((err <= s * (1 + 1e-5) + 1e-6).all()):
                    raise AssertionError(f"dequantized error exceeds one step: max {err.max().item()}")
                bias = (xh - x).mean().item()
                if abs(bias) > 0.05 * s.mean().item() + 1e-3:
                    raise AssertionError(f"stochastic rounding looks biased: mean error {bias}")

            res.run("quantization", "quantize_int2", ds["name"], f, "torch", lambda: quantize(x), check=check, reps=args.reps)
            res.run("quantization", "dequantize_int2", ds["name"], f, "torch", lambda: dequantize(packed, mn, scale), reps=args.reps)
            del x, packed, mn, scale
    res.write(args.out, "quantization")


if __name__ == "__main__":
    main()
