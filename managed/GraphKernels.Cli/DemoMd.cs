using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;

namespace GraphKernels.Cli;

/// <summary>Options of <c>graphkernels demo md</c>.</summary>
public sealed class MdOptions
{
    /// <summary>The device to use.</summary>
    public DeviceChoice Device { get; set; } = DeviceChoice.Auto;

    /// <summary>FCC unit cells per box edge (4 atoms each).</summary>
    public int Cells { get; set; } = 4;

    /// <summary>Number of velocity-Verlet steps.</summary>
    public int Steps { get; set; } = 1000;

    /// <summary>Time step in fs.</summary>
    public double TimeStepFs { get; set; } = 2.0;

    /// <summary>Initial temperature in K.</summary>
    public double Temperature { get; set; } = 60.0;

    /// <summary>Neighbour-list skin in Å (the list is built with cutoff + skin and rebuilt when an atom moved skin/2).</summary>
    public double Skin { get; set; } = 1.0;

    /// <summary>Seed of the initial velocities.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Steps between samples (energy, pressure).</summary>
    public int SampleEvery { get; set; } = 5;

    /// <summary>Directory for md.csv, md.png and final.xyz.</summary>
    public string OutputDirectory { get; set; } = "md-out";

    /// <summary>Parses the options after <c>demo md</c>.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="options">The options, when parsing succeeded.</param>
    /// <param name="error">What is wrong, when it did not.</param>
    /// <returns>Whether parsing succeeded.</returns>
    public static bool TryParse(ReadOnlySpan<string> args, out MdOptions options, out string error)
    {
        options = new MdOptions();
        error = string.Empty;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? value = null;
            int eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                value = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            else if (i + 1 < args.Length)
            {
                value = args[i + 1];
                i++;
            }

            if (value is null)
            {
                error = $"demo md: {arg} needs a value.";
                return false;
            }

            bool ok = true;
            switch (arg)
            {
                case "--device":
                    ok = Enum.TryParse(value, ignoreCase: true, out DeviceChoice d) && Enum.IsDefined(d);
                    options.Device = d;
                    break;
                case "--cells":
                    ok = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int c) && c is >= 1 and <= 20;
                    options.Cells = c;
                    break;
                case "--steps":
                    ok = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) && s >= 1;
                    options.Steps = s;
                    break;
                case "--dt":
                    ok = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double dt) && dt > 0 && dt <= 20;
                    options.TimeStepFs = dt;
                    break;
                case "--temperature":
                    ok = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double t) && t >= 0 && t <= 1000;
                    options.Temperature = t;
                    break;
                case "--skin":
                    ok = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double sk) && sk > 0 && sk <= 3;
                    options.Skin = sk;
                    break;
                case "--seed":
                    ok = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed);
                    options.Seed = seed;
                    break;
                case "--every":
                    ok = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int ev) && ev >= 1;
                    options.SampleEvery = ev;
                    break;
                case "--out":
                    options.OutputDirectory = value;
                    break;
                default:
                    error = $"demo md: unknown option '{arg}'.";
                    return false;
            }

            if (!ok)
            {
                error = $"demo md: {arg} = '{value}' is not valid.";
                return false;
            }
        }

        return true;
    }
}

/// <summary>One sample of the run.</summary>
/// <param name="Step">Step number (0 = initial state).</param>
/// <param name="TimePs">Time in ps.</param>
/// <param name="Kinetic">Kinetic energy (eV).</param>
/// <param name="Potential">Potential energy (eV).</param>
/// <param name="PressureGpa">Pressure (GPa): N k T / V − tr(σ)/3 with σ from the readout.</param>
/// <param name="TemperatureK">Instantaneous temperature (K).</param>
public readonly record struct MdSample(int Step, double TimePs, double Kinetic, double Potential, double PressureGpa, double TemperatureK)
{
    /// <summary>Total energy (eV).</summary>
    public double Total => Kinetic + Potential;
}

/// <summary>The result of <see cref="Md.Simulate"/>.</summary>
public sealed class MdResult
{
    /// <summary>The samples, in step order.</summary>
    public required List<MdSample> Samples { get; init; }

    /// <summary>Atom count.</summary>
    public required int Atoms { get; init; }

    /// <summary>Cubic box edge (Å).</summary>
    public required double Box { get; init; }

    /// <summary>Final positions [N,3] (Å, unwrapped).</summary>
    public required double[] Positions { get; init; }

    /// <summary>Final velocities [N,3] (Å/fs).</summary>
    public required double[] Velocities { get; init; }

    /// <summary>Neighbour-list builds (including the first).</summary>
    public required int Builds { get; init; }

    /// <summary>Wall time of the run (s).</summary>
    public required double Seconds { get; init; }

    /// <summary>(E_last − E_first) / N in eV/atom.</summary>
    public double DriftPerAtom => (Samples[^1].Total - Samples[0].Total) / Atoms;

    /// <summary>max |E(t) − E(0)| / N in eV/atom.</summary>
    public double MaxDeviationPerAtom
    {
        get
        {
            double m = 0;
            foreach (var s in Samples)
            {
                m = Math.Max(m, Math.Abs(s.Total - Samples[0].Total));
            }

            return m / Atoms;
        }
    }
}

/// <summary>
/// <c>graphkernels demo md</c>: velocity-Verlet NVE of FCC argon (Lennard-Jones, ε = 0.0104 eV, σ = 3.405 Å,
/// cutoff 8.5 Å, energy-shifted so φ(rc) = 0), 4 × 4 × 4 cells (256 atoms) by default. The neighbour list
/// (cutoff + skin) is built on the device by <see cref="NeighborList"/> and rebuilt when an atom has moved
/// more than skin/2; the per-edge gradients g_e = ½ φ'(r) r̂ are computed on the host (the "model") and the
/// forces and stress come from <c>ForceStress.Readout</c>. Writes md.csv, md.png (total energy and
/// pressure over time) and final.xyz.
/// </summary>
public static class Md
{
    /// <summary>LJ well depth (eV), argon.</summary>
    public const double Epsilon = 0.0104;

    /// <summary>LJ σ (Å), argon.</summary>
    public const double Sigma = 3.405;

    /// <summary>Cutoff (Å) = 2.5 σ.</summary>
    public const double Cutoff = 8.5;

    /// <summary>FCC lattice constant (Å).</summary>
    public const double LatticeConstant = 5.26;

    /// <summary>Argon mass (amu).</summary>
    public const double Mass = 39.948;

    /// <summary>Boltzmann constant (eV/K).</summary>
    public const double Boltzmann = 8.617333262e-5;

    /// <summary>1 eV/(Å·amu) in Å/fs².</summary>
    public const double AccelerationUnit = 9.64853321e-3;

    /// <summary>1 eV/Å³ in GPa.</summary>
    public const double EvPerA3InGpa = 160.21766208;

    /// <summary>LJ pair energy, shifted so φ(rc) = 0.</summary>
    /// <param name="r">Distance (Å).</param>
    /// <returns>eV.</returns>
    public static double Phi(double r) => Raw(r) - Raw(Cutoff);

    /// <summary>dφ/dr (eV/Å).</summary>
    /// <param name="r">Distance (Å).</param>
    /// <returns>eV/Å.</returns>
    public static double DPhi(double r)
    {
        double s6 = Math.Pow(Sigma / r, 6);
        return 4 * Epsilon * ((-12 * s6 * s6) + (6 * s6)) / r;
    }

    private static double Raw(double r)
    {
        double s6 = Math.Pow(Sigma / r, 6);
        return 4 * Epsilon * ((s6 * s6) - s6);
    }

    /// <summary>Runs <c>demo md</c> from its command-line arguments.</summary>
    /// <param name="args">The arguments after <c>demo md</c>.</param>
    /// <returns>The process exit code.</returns>
    public static int Run(ReadOnlySpan<string> args)
    {
        if (!MdOptions.TryParse(args, out var options, out string error))
        {
            Console.Error.WriteLine("error: " + error);
            return Program.ExitUsage;
        }

        GraphDevice device;
        switch (options.Device)
        {
            case DeviceChoice.Cuda:
                if (!GraphDevice.TryCuda(0, out var cuda, out string whyNot))
                {
                    Console.Error.WriteLine("error: no CUDA device: " + whyNot);
                    return Program.ExitNoDevice;
                }

                device = cuda;
                break;
            case DeviceChoice.Emulated:
                device = GraphDevice.Emulated();
                break;
            default:
                device = GraphDevice.Open();
                break;
        }

        using (device)
        {
            int n = 4 * options.Cells * options.Cells * options.Cells;
            Console.WriteLine($"GraphKernels demo md: NVE velocity Verlet, FCC argon {options.Cells}x{options.Cells}x{options.Cells} cells ({n} atoms), Lennard-Jones rc = {Cutoff} A (shifted)");
            Console.WriteLine($"device    {device.Name} [{device.Kind}]");
            Console.WriteLine($"run       {options.Steps} steps of {options.TimeStepFs} fs, T0 = {options.Temperature} K, skin {options.Skin} A, seed {options.Seed}");
            var progress = new ProgressBar(options.Steps);
            var result = Simulate(device, options, progress.Report);
            progress.Finish();
            var first = result.Samples[0];
            var last = result.Samples[^1];
            double meanP = 0;
            foreach (var s in result.Samples)
            {
                meanP += s.PressureGpa;
            }

            meanP /= result.Samples.Count;
            Console.WriteLine($"energy    E0 = {first.Total / n:F6} eV/atom, E_end = {last.Total / n:F6} eV/atom, drift {result.DriftPerAtom:E2} eV/atom, max |E - E0| {result.MaxDeviationPerAtom:E2} eV/atom");
            Console.WriteLine($"pressure  {first.PressureGpa:F4} GPa at t = 0, {last.PressureGpa:F4} GPa at the end, mean {meanP:F4} GPa; T_end = {last.TemperatureK:F1} K");
            Console.WriteLine($"lists     {result.Builds} neighbour-list builds; {result.Seconds:F1} s ({1e3 * result.Seconds / options.Steps:F2} ms/step; not a GPU timing on the emulated device)");
            Directory.CreateDirectory(options.OutputDirectory);
            string csv = Path.Combine(options.OutputDirectory, "md.csv");
            string png = Path.Combine(options.OutputDirectory, "md.png");
            string xyz = Path.Combine(options.OutputDirectory, "final.xyz");
            WriteCsv(result, csv);
            WriteXyz(result, xyz);
            MdPlot.Write(result, png);
            Console.WriteLine($"wrote     {csv}, {png}, {xyz}");
            return 0;
        }
    }

    /// <summary>Runs the simulation.</summary>
    /// <param name="device">The device for the neighbour list and the readout.</param>
    /// <param name="o">The options.</param>
    /// <param name="progress">Called after every step with the step number and the latest sample.</param>
    /// <returns>The samples and the final state.</returns>
    public static MdResult Simulate(GraphDevice device, MdOptions o, Action<int, MdSample>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(o);
        var clock = Stopwatch.StartNew();
        int cells = o.Cells;
        int n = 4 * cells * cells * cells;
        double box = cells * LatticeConstant;
        double volume = box * box * box;
        double[] basis = [0, 0, 0, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5];
        var x = new double[3 * n];
        int k = 0;
        for (int i = 0; i < cells; i++)
        {
            for (int j = 0; j < cells; j++)
            {
                for (int l = 0; l < cells; l++)
                {
                    for (int b = 0; b < 4; b++, k++)
                    {
                        x[(3 * k) + 0] = (i + basis[3 * b]) * LatticeConstant;
                        x[(3 * k) + 1] = (j + basis[(3 * b) + 1]) * LatticeConstant;
                        x[(3 * k) + 2] = (l + basis[(3 * b) + 2]) * LatticeConstant;
                    }
                }
            }
        }

        // Maxwell-Boltzmann velocities (Box-Muller), zero momentum, scaled to exactly T0 (3N - 3 dof).
        var v = new double[3 * n];
        var rng = new Random(o.Seed);
        double sv = Math.Sqrt(Boltzmann * o.Temperature / Mass * AccelerationUnit);
        for (int c = 0; c < v.Length; c++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            v[c] = sv * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }

        for (int c = 0; c < 3; c++)
        {
            double mean = 0;
            for (int a = 0; a < n; a++)
            {
                mean += v[(3 * a) + c];
            }

            mean /= n;
            for (int a = 0; a < n; a++)
            {
                v[(3 * a) + c] -= mean;
            }
        }

        int dof = (3 * n) - 3;
        double ekin0 = Kinetic(v);
        if (ekin0 > 0)
        {
            double scale = Math.Sqrt(0.5 * dof * Boltzmann * o.Temperature / ekin0);
            for (int c = 0; c < v.Length; c++)
            {
                v[c] *= scale;
            }
        }

        float[] cell = [(float)box, 0, 0, 0, (float)box, 0, 0, 0, (float)box];
        using var dCell = device.Upload<float>(cell);
        using var dPos = device.Allocate<float>(3 * n);
        using var dForces = device.Allocate<float>(3 * n);
        using var dStress = device.Allocate<float>(9);
        var posF = new float[3 * n];
        var forcesF = new float[3 * n];
        var stress = new float[9];
        var f = new double[3 * n];
        var xBuilt = new double[3 * n];
        long[] graphAtomPtr = [0, n];
        double listCutoff = Cutoff + o.Skin;

        NeighborList? list = null;
        ForceStressTopology? topology = null;
        DeviceBuffer<float>? dVec = null, dG = null;
        int[] src = [], dst = [], shifts = [];
        float[] vec = [], g = [];
        int builds = 0;
        var samples = new List<MdSample>();
        try
        {
            void Build()
            {
                topology?.Dispose();
                list?.Dispose();
                dVec?.Dispose();
                dG?.Dispose();
                for (int c = 0; c < posF.Length; c++)
                {
                    posF[c] = (float)x[c];
                }

                dPos.CopyFrom(posF);
                list = NeighborList.Build(device, graphAtomPtr, dPos, dCell, null, listCutoff, new NeighborListOptions { SkipDstPerm = true });
                topology = list.CreateTopology();
                src = Array.ConvertAll(list.ToHost(list.EdgeSrc), e => (int)e);
                dst = Array.ConvertAll(list.ToHost(list.EdgeDst), e => (int)e);
                shifts = list.Shifts.ToArray();
                vec = new float[3 * list.NumEdges];
                g = new float[3 * list.NumEdges];
                dVec = device.Allocate<float>(3 * list.NumEdges);
                dG = device.Allocate<float>(3 * list.NumEdges);
                Array.Copy(x, xBuilt, x.Length);
                builds++;
            }

            // Forces and stress at the current positions; returns the potential energy.
            double Forces()
            {
                double epot = 0;
                double rc2 = Cutoff * Cutoff;
                for (int e = 0; e < src.Length; e++)
                {
                    int i = src[e], j = dst[e];
                    double rx = x[3 * j] - x[3 * i] + (shifts[3 * e] * box);
                    double ry = x[(3 * j) + 1] - x[(3 * i) + 1] + (shifts[(3 * e) + 1] * box);
                    double rz = x[(3 * j) + 2] - x[(3 * i) + 2] + (shifts[(3 * e) + 2] * box);
                    double r2 = (rx * rx) + (ry * ry) + (rz * rz);
                    vec[3 * e] = (float)rx;
                    vec[(3 * e) + 1] = (float)ry;
                    vec[(3 * e) + 2] = (float)rz;
                    if (r2 >= rc2)
                    {
                        g[3 * e] = g[(3 * e) + 1] = g[(3 * e) + 2] = 0;
                        continue;
                    }

                    double r = Math.Sqrt(r2);
                    epot += 0.5 * Phi(r);   // each pair is two edges
                    double t = 0.5 * DPhi(r) / r;
                    g[3 * e] = (float)(t * rx);
                    g[(3 * e) + 1] = (float)(t * ry);
                    g[(3 * e) + 2] = (float)(t * rz);
                }

                dVec!.CopyFrom(vec);
                dG!.CopyFrom(g);
                ForceStress.Readout(topology!, EdgeGeometry.FromEdgeVectors(dVec, dCell), dG, dForces, dStress);
                dForces.CopyTo(forcesF);
                dStress.CopyTo(stress);
                for (int c = 0; c < f.Length; c++)
                {
                    f[c] = forcesF[c];
                }

                return epot;
            }

            MdSample Sample(int step, double epot)
            {
                double ekin = Kinetic(v);
                double pConf = -(stress[0] + stress[4] + stress[8]) / 3.0;
                double pKin = 2.0 * ekin / (3.0 * volume);
                return new MdSample(step, step * o.TimeStepFs / 1000.0, ekin, epot, (pConf + pKin) * EvPerA3InGpa, 2 * ekin / (dof * Boltzmann));
            }

            Build();
            double potential = Forces();
            samples.Add(Sample(0, potential));
            double dt = o.TimeStepFs;
            double half = 0.5 * dt * AccelerationUnit / Mass;
            double trigger = 0.25 * o.Skin * o.Skin;   // (skin/2)^2
            for (int step = 1; step <= o.Steps; step++)
            {
                double maxMove = 0;
                for (int c = 0; c < x.Length; c++)
                {
                    v[c] += half * f[c];
                    x[c] += dt * v[c];
                }

                for (int a = 0; a < n; a++)
                {
                    double dx = x[3 * a] - xBuilt[3 * a], dy = x[(3 * a) + 1] - xBuilt[(3 * a) + 1], dz = x[(3 * a) + 2] - xBuilt[(3 * a) + 2];
                    maxMove = Math.Max(maxMove, (dx * dx) + (dy * dy) + (dz * dz));
                }

                if (maxMove > trigger)
                {
                    Build();
                }

                potential = Forces();
                for (int c = 0; c < x.Length; c++)
                {
                    v[c] += half * f[c];
                }

                if (step % o.SampleEvery == 0 || step == o.Steps)
                {
                    samples.Add(Sample(step, potential));
                }

                progress?.Invoke(step, samples[^1]);
            }
        }
        finally
        {
            topology?.Dispose();
            list?.Dispose();
            dVec?.Dispose();
            dG?.Dispose();
        }

        return new MdResult
        {
            Samples = samples,
            Atoms = n,
            Box = box,
            Positions = x,
            Velocities = v,
            Builds = builds,
            Seconds = clock.Elapsed.TotalSeconds,
        };
    }

    private static double Kinetic(double[] v)
    {
        double s = 0;
        foreach (double c in v)
        {
            s += c * c;
        }

        return 0.5 * Mass * s / AccelerationUnit;
    }

    /// <summary>Writes the samples as CSV (step, time_ps, kinetic_eV, potential_eV, total_eV, pressure_GPa, temperature_K).</summary>
    /// <param name="result">The run.</param>
    /// <param name="path">The file.</param>
    public static void WriteCsv(MdResult result, string path)
    {
        ArgumentNullException.ThrowIfNull(result);
        var sb = new StringBuilder("step,time_ps,kinetic_eV,potential_eV,total_eV,pressure_GPa,temperature_K\n");
        foreach (var s in result.Samples)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{s.Step},{s.TimePs:R},{s.Kinetic:R},{s.Potential:R},{s.Total:R},{s.PressureGpa:R},{s.TemperatureK:R}\n");
        }

        File.WriteAllText(path, sb.ToString());
    }

    /// <summary>Writes the final state as extended XYZ (positions in Å, velocities in Å/fs, round-trip precision).</summary>
    /// <param name="result">The run.</param>
    /// <param name="path">The file.</param>
    public static void WriteXyz(MdResult result, string path)
    {
        ArgumentNullException.ThrowIfNull(result);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{result.Atoms}\n");
        sb.Append(CultureInfo.InvariantCulture, $"Lattice=\"{result.Box:R} 0 0 0 {result.Box:R} 0 0 0 {result.Box:R}\" Properties=species:S:1:pos:R:3:vel:R:3 pbc=\"T T T\" time_ps={result.Samples[^1].TimePs:R} pressure_GPa={result.Samples[^1].PressureGpa:R}\n");
        for (int a = 0; a < result.Atoms; a++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"Ar {result.Positions[3 * a]:R} {result.Positions[(3 * a) + 1]:R} {result.Positions[(3 * a) + 2]:R} {result.Velocities[3 * a]:R} {result.Velocities[(3 * a) + 1]:R} {result.Velocities[(3 * a) + 2]:R}\n");
        }

        File.WriteAllText(path, sb.ToString());
    }

    /// <summary>A one-line progress bar (a line per 10 % when the output is redirected).</summary>
    private sealed class ProgressBar(int total)
    {
        private int lastPercent = -1;

        public void Report(int step, MdSample s)
        {
            int percent = (int)(100L * step / total);
            if (percent == lastPercent)
            {
                return;
            }

            lastPercent = percent;
            if (Console.IsOutputRedirected)
            {
                if (percent % 10 == 0)
                {
                    Console.WriteLine($"  {percent,3}%  step {step}/{total}  E = {s.Total:F5} eV  P = {s.PressureGpa:F4} GPa  T = {s.TemperatureK:F1} K");
                }

                return;
            }

            int filled = percent * 30 / 100;
            Console.Write($"\r  [{new string('#', filled)}{new string('.', 30 - filled)}] {percent,3}%  step {step}/{total}  E = {s.Total:F5} eV  P = {s.PressureGpa:F4} GPa  T = {s.TemperatureK:F1} K ");
        }

        public void Finish()
        {
            if (!Console.IsOutputRedirected)
            {
                Console.WriteLine();
            }
        }
    }
}
