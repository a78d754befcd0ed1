using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace GraphKernels.Cli;

/// <summary>
/// The force/stress part of <c>graphkernels demo</c>: the fused readout on a periodic Lennard-Jones
/// crystal (conservative mode, edge vectors computed in the kernel) and on a batch of small molecules
/// (direct mode), then the fused readout head (s_e = w·h_e + b from 16 edge features, computed in the
/// kernel) on both, with its backward's dL/dw, each checked against a double-precision reference and timed.
/// </summary>
public static class DemoForceStress
{
    private const double Cutoff = 2.5;

    /// <summary>Runs both cases; returns whether both match the reference.</summary>
    /// <param name="device">The device.</param>
    /// <returns>True when both pass.</returns>
    public static bool Run(GraphDevice device)
    {
        bool emulated = device.Kind == DeviceKind.Emulated;
        Console.WriteLine();
        Console.WriteLine("GraphKernels demo: fused force/stress readout");
        var crystal = new Batch();
        double[] cell = { 6.3, 0, 0, 0.8, 6.1, 0, -0.5, 0.6, 6.4 };
        var frac = new List<double[]>();
        for (int x = 0; x < 3; x++)
            for (int y = 0; y < 3; y++)
                for (int z = 0; z < 3; z++)
                {
                    frac.Add(new[] { (x + 0.02) / 3, (y + 0.05) / 3, (z + 0.01) / 3 });
                    frac.Add(new[] { (x + 0.51) / 3, (y + 0.47) / 3, (z + 0.53) / 3 });
                }

        crystal.Add(cell, true, frac);
        bool ok = RunCase(device, crystal, ForceStressMode.Conservative, "periodic crystal", emulated);

        var molecules = new Batch();
        var rng = new Random(7);
        for (int m = 0; m < 64; m++)
        {
            var coords = new List<double[]>();
            int atoms = 3 + rng.Next(6);
            while (coords.Count < atoms)
            {
                var c = new[] { rng.NextDouble() * 3, rng.NextDouble() * 3, rng.NextDouble() * 3 };
                if (coords.TrueForAll(o => Dist(o, c) > 0.95)) coords.Add(c);
            }

            molecules.Add(new double[9], false, coords);
        }

        ok &= RunCase(device, molecules, ForceStressMode.Direct, "molecular batch", emulated);
        ok &= RunCase(device, crystal, ForceStressMode.Direct, "crystal, head", emulated, headChannels: 16);
        ok &= RunCase(device, molecules, ForceStressMode.Direct, "molecules, head", emulated, headChannels: 16);
        if (emulated)
        {
            Console.WriteLine("note      emulated on the CPU: these times are not GPU speed");
        }

        return ok;
    }

    private static double Dist(double[] a, double[] b) => Math.Sqrt(((a[0] - b[0]) * (a[0] - b[0])) + ((a[1] - b[1]) * (a[1] - b[1])) + ((a[2] - b[2]) * (a[2] - b[2])));

    private static bool RunCase(GraphDevice device, Batch b, ForceStressMode mode, string name, bool emulated, int headChannels = 0)
    {
        int n = b.Pos.Count / 3, e = b.Src.Count, g = b.Periodic.Count, hc = headChannels;
        // Lennard-Jones (ε = 0.25, σ = 1): s_e = ½ φ'(|r|) per directed edge, g_e = s_e r̂.
        var s = new float[e];
        var gv = new float[3 * e];
        for (int k = 0; k < e; k++)
        {
            var r = b.R(k);
            double d = Math.Sqrt((r[0] * r[0]) + (r[1] * r[1]) + (r[2] * r[2]));
            double s6 = Math.Pow(1 / d, 6);
            s[k] = (float)(0.5 * 0.25 * 4 * ((-12 * s6 * s6) + (6 * s6)) / d);
            for (int c = 0; c < 3; c++) gv[(3 * k) + c] = (float)(s[k] * r[c] / d);
        }

        // The readout head: h [E, C] random, w [C], b; its s_e = Σ h w + b in double replaces the LJ s_e
        // in the reference (the kernel computes it in fp32 and never writes it).
        var sRef = Array.ConvertAll(s, v => (double)v);
        var hh = new float[e * Math.Max(hc, 1)];
        var hw = new float[Math.Max(hc, 1)];
        const float hb = 0.125f;
        if (hc > 0)
        {
            var hr = new Random(11);
            for (int k = 0; k < hh.Length; k++) hh[k] = (float)((hr.NextDouble() * 2) - 1);
            for (int c = 0; c < hc; c++) hw[c] = (float)(((hr.NextDouble() * 2) - 1) / Math.Sqrt(hc));
            for (int k = 0; k < e; k++)
            {
                double acc = hb;
                for (int c = 0; c < hc; c++) acc += (double)hh[(k * hc) + c] * hw[c];
                sRef[k] = acc;
            }
        }

        using var topology = ForceStressTopology.Build(device, b.GraphPtr.ToArray(), b.Src.ToArray(), b.Dst.ToArray());
        var shifts = new float[3 * e];
        for (int k = 0; k < e; k++)
        {
            shifts[3 * k] = b.Shift[k].X;
            shifts[(3 * k) + 1] = b.Shift[k].Y;
            shifts[(3 * k) + 2] = b.Shift[k].Z;
        }

        using var pos = device.Upload<float>(b.Pos.ConvertAll(v => (float)v).ToArray());
        using var sh = device.Upload<float>(topology.SortEdgeData<float>(shifts, 3));
        using var cells = device.Upload<float>(b.Cells.ConvertAll(v => (float)v).ToArray());
        using var periodic = device.Upload<byte>(b.Periodic.ConvertAll(p => p ? (byte)1 : (byte)0).ToArray());
        using var q = device.Upload<float>(mode == ForceStressMode.Direct ? topology.SortEdgeData<float>(s, 1) : topology.SortEdgeData<float>(gv, 3));
        using var forces = device.Allocate<float>(3L * n);
        using var stress = device.Allocate<float>(6L * g);
        var geometry = EdgeGeometry.FromPositions(pos, sh, cells, periodic);
        var options = new ForceStressOptions { Mode = mode, Layout = StressLayout.VoigtAse, Output = StressOutput.StressGpa };
        topology.Validate(geometry);
        using var hFeat = device.Upload<float>(hc > 0 ? topology.SortEdgeData<float>(hh, hc) : hh);
        using var hWeight = device.Upload<float>(hw);
        using var hBias = device.Upload<float>(new[] { hb });
        var head = hc > 0 ? new ForceStressHead(hFeat, hWeight, hc, hBias) : null;
        Action call = head is null
            ? () => ForceStress.Readout(topology, geometry, q, forces, stress, options)
            : () => ForceStress.Readout(topology, geometry, head, forces, stress, options);
        call();
        var f = forces.ToArray();
        var st = stress.ToArray();

        // Double reference: F_i = Σ_src g − Σ_dst g; σ = (1/V) Σ r ⊗ g in GPa, ASE Voigt order.
        var rf = new double[3 * n];
        var bound = new double[3 * n];
        var sig = new double[9 * g];
        for (int k = 0; k < e; k++)
        {
            var r = b.R(k);
            double d = Math.Sqrt((r[0] * r[0]) + (r[1] * r[1]) + (r[2] * r[2]));
            int gr = b.GraphOf(b.Src[k]);
            for (int c = 0; c < 3; c++)
            {
                double gc = sRef[k] * r[c] / d;
                rf[(3 * b.Src[k]) + c] += gc;
                rf[(3 * b.Dst[k]) + c] -= gc;
                bound[(3 * b.Src[k]) + c] += Math.Abs(gc);
                bound[(3 * b.Dst[k]) + c] += Math.Abs(gc);
                for (int a = 0; a < 3; a++) sig[(9 * gr) + (3 * a) + c] += r[a] * gc;
            }
        }

        double worst = 0;
        for (int i = 0; i < 3 * n; i++) worst = Math.Max(worst, Math.Abs(f[i] - rf[i]) / ((1e-5 * bound[i]) + 1e-6));
        double stressErr = 0;
        int[,] voigt = { { 0, 0 }, { 1, 1 }, { 2, 2 }, { 1, 2 }, { 0, 2 }, { 0, 1 } };
        for (int gr = 0; gr < g; gr++)
        {
            double v = b.Periodic[gr] ? b.Volume(gr) : 0;
            for (int k = 0; k < 6; k++)
            {
                int a = voigt[k, 0], c = voigt[k, 1];
                double want = v > 0 ? 160.21766208 * 0.5 * (sig[(9 * gr) + (3 * a) + c] + sig[(9 * gr) + (3 * c) + a]) / v : 0;
                stressErr = Math.Max(stressErr, Math.Abs(st[(6 * gr) + k] - want) / ((1e-5 * Math.Abs(want)) + 1e-5));
            }
        }

        bool pass = worst <= 1 && stressErr <= 1;
        double ms = Time(device, call, emulated, out int runs);
        Console.WriteLine($"{name,-17} {g} structure(s), {n} atoms, {e} edges, {mode} mode{(hc > 0 ? $", head s = w·h + b from C = {hc} edge features (s never written)" : string.Empty)}");
        Console.WriteLine($"          forces {worst:F3} of tolerance, stress {stressErr:F3} of tolerance  {(pass ? "PASS" : "FAIL")}  {ms:F3} ms/call (median of {runs})");
        if (head is not null)
        {
            pass &= HeadBackward(device, b, topology, geometry, head, hh, hc, options);
        }
        if (b.Periodic[0])
        {
            Console.WriteLine($"          stress (GPa, ASE Voigt xx yy zz yz xz xy): {string.Join(" ", Array.ConvertAll(st[..6], x => x.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}");
        }

        return pass;
    }

    /// <summary>The head's backward with G = dL/dF only: dL/dw = Σ_e ((G[src] − G[dst])·r̂_e) h_e against a double sum.</summary>
    private static bool HeadBackward(GraphDevice device, Batch b, ForceStressTopology topology, EdgeGeometry geometry, ForceStressHead head,
        float[] hh, int hc, ForceStressOptions options)
    {
        int n = b.Pos.Count / 3, e = b.Src.Count;
        var rng = new Random(5);
        var gradF = new float[3 * n];
        for (int i = 0; i < gradF.Length; i++) gradF[i] = (float)((rng.NextDouble() * 2) - 1);
        using var gf = device.Upload<float>(gradF);
        using var dW = device.Allocate<float>(hc);
        using var dB = device.Allocate<float>(1);
        ForceStress.Backward(topology, geometry, head, gf, null, new ForceStressHeadGradients { Weight = dW, Bias = dB }, options);
        var gotW = dW.ToArray();
        float gotB = dB.ToArray()[0];
        var want = new double[hc];
        var bound = new double[hc];
        double wantB = 0, boundB = 0;
        for (int k = 0; k < e; k++)
        {
            var r = b.R(k);
            double d = Math.Sqrt((r[0] * r[0]) + (r[1] * r[1]) + (r[2] * r[2]));
            double ds = 0;
            for (int c = 0; c < 3; c++) ds += (gradF[(3 * b.Src[k]) + c] - gradF[(3 * b.Dst[k]) + c]) * r[c] / d;
            wantB += ds;
            boundB += Math.Abs(ds);
            for (int c = 0; c < hc; c++)
            {
                want[c] += ds * hh[(k * hc) + c];
                bound[c] += Math.Abs(ds * hh[(k * hc) + c]);
            }
        }

        // fp32 dL/ds per edge (a few ulps of the two G differences), fp64 sums: 1e-5 of Σ|.|.
        double worst = Math.Abs(gotB - wantB) / ((1e-5 * boundB) + 1e-6);
        for (int c = 0; c < hc; c++) worst = Math.Max(worst, Math.Abs(gotW[c] - want[c]) / ((1e-5 * bound[c]) + 1e-6));
        bool pass = worst <= 1;
        Console.WriteLine($"          backward dL/dw [{hc}], dL/db (two-phase deterministic): {worst:F3} of tolerance  {(pass ? "PASS" : "FAIL")}");
        return pass;
    }

    private static double Time(GraphDevice device, Action call, bool emulated, out int runs)
    {
        call();
        device.Synchronize();
        int maxRuns = emulated ? 5 : 50;
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < maxRuns && (samples.Count < 3 || total.Elapsed.TotalMilliseconds < 2000))
        {
            long start = Stopwatch.GetTimestamp();
            call();
            device.Synchronize();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        samples.Sort();
        runs = samples.Count;
        return samples[samples.Count / 2];
    }

    private readonly record struct Shift3(int X, int Y, int Z);

    /// <summary>Structures with a brute-force neighbour list (r_c = 2.5 Å, images up to ±1).</summary>
    private sealed class Batch
    {
        public List<double> Pos { get; } = new();

        public List<double> Cells { get; } = new();

        public List<bool> Periodic { get; } = new();

        public List<long> GraphPtr { get; } = new() { 0 };

        public List<int> Src { get; } = new();

        public List<int> Dst { get; } = new();

        public List<Shift3> Shift { get; } = new();

        public int GraphOf(int atom)
        {
            int b = 0;
            while (GraphPtr[b + 1] <= atom) b++;
            return b;
        }

        public double Volume(int b)
        {
            var l = Cells.GetRange(9 * b, 9);
            return Math.Abs((l[0] * ((l[4] * l[8]) - (l[5] * l[7]))) - (l[1] * ((l[3] * l[8]) - (l[5] * l[6]))) + (l[2] * ((l[3] * l[7]) - (l[4] * l[6]))));
        }

        public double[] R(int k) => R(Src[k], Dst[k], Shift[k]);

        private double[] R(int i, int j, Shift3 s)
        {
            int b = GraphOf(i);
            var r = new double[3];
            for (int c = 0; c < 3; c++)
            {
                r[c] = (float)Pos[(3 * j) + c] - (float)Pos[(3 * i) + c] + (s.X * Cells[(9 * b) + c]) + (s.Y * Cells[(9 * b) + 3 + c]) + (s.Z * Cells[(9 * b) + 6 + c]);
            }

            return r;
        }

        public void Add(double[] cell, bool periodic, List<double[]> coords)
        {
            int first = Pos.Count / 3;
            foreach (var c in coords)
            {
                for (int k = 0; k < 3; k++) Pos.Add((float)(periodic ? (c[0] * cell[k]) + (c[1] * cell[3 + k]) + (c[2] * cell[6 + k]) : c[k]));
            }

            foreach (double v in cell) Cells.Add((float)v);
            Periodic.Add(periodic);
            int last = Pos.Count / 3;
            GraphPtr.Add(last);
            int span = periodic ? 1 : 0;
            for (int i = first; i < last; i++)
                for (int j = first; j < last; j++)
                    for (int x = -span; x <= span; x++)
                        for (int y = -span; y <= span; y++)
                            for (int z = -span; z <= span; z++)
                            {
                                if (i == j && x == 0 && y == 0 && z == 0) continue;
                                var s = new Shift3(x, y, z);
                                var r = R(i, j, s);
                                if (Math.Sqrt((r[0] * r[0]) + (r[1] * r[1]) + (r[2] * r[2])) < Cutoff)
                                {
                                    Src.Add(i);
                                    Dst.Add(j);
                                    Shift.Add(s);
                                }
                            }
        }
    }
}
