using System.Globalization;
using GraphKernels.Cli;

namespace GraphKernels.Tests.Embedding;

/// <summary>
/// <c>graphkernels demo md</c> run short (100 steps of 2 fs, 256 atoms, emulated device), end to end
/// through its command line: files written, energy conserved, and the final pressure and energy against
/// an independent brute-force computation from the final state it wrote (final.xyz, round-trip precision).
/// The potential and units are written here again, not taken from the CLI.
/// </summary>
[TestFixture]
[Category("Embedding")]
[Category("Emulation")]
[NonParallelizable]
public sealed class MdDemoTests
{
    // Argon LJ as documented for demo md: eps (eV), sigma (A), cutoff (A), energy shifted to 0 at rc.
    private const double Eps = 0.0104, Sig = 3.405, Rc = 8.5, MassAmu = 39.948;
    private const double AmuA2PerFs2InEv = 1.66053906660e-17 / 1.602176634e-19;   // 1 amu A^2/fs^2 in eV (CODATA 2018)
    private const double EvPerA3InGpa = 160.21766208;

    private static double Lj(double r) => (4 * Eps * (Math.Pow(Sig / r, 12) - Math.Pow(Sig / r, 6))) - (4 * Eps * (Math.Pow(Sig / Rc, 12) - Math.Pow(Sig / Rc, 6)));

    private static double DLj(double r) => 4 * Eps * ((-12 * Math.Pow(Sig / r, 12)) + (6 * Math.Pow(Sig / r, 6))) / r;

    [Test]
    public void ShortRunConservesEnergyAndItsPressureMatchesAnIndependentVirial()
    {
        string dir = Path.Combine(Path.GetTempPath(), "gk-md-" + Guid.NewGuid().ToString("N"));
        try
        {
            int rc = Md.Run(["--device", "emulated", "--steps", "100", "--every", "5", "--out", dir]);
            Assert.That(rc, Is.EqualTo(0));
            byte[] png = File.ReadAllBytes(Path.Combine(dir, "md.png"));
            Assert.That(png.Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "md.png is not a PNG");
            Assert.That(png.Length, Is.GreaterThan(10_000));

            var rows = File.ReadAllLines(Path.Combine(dir, "md.csv")).Skip(1)
                .Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
            Assert.That(rows, Has.Count.EqualTo(21));
            Assert.That(rows[^1][0], Is.EqualTo(100));

            // Energy conservation. Velocity Verlet's energy error is O((w dt)^2 k_B T) per atom: with the
            // highest argon phonon frequency w ~ 2 pi x 2 THz = 0.0126 rad/fs, dt = 2 fs and T = 60 K
            // (k_B T = 5.2 meV) that is ~3e-6 eV/atom; fp32 forces add ~1e-7 relative per step. Bound:
            // 1e-5 eV/atom for every sample. A wrong force (sign, factor 2, a missing image) breaks it by
            // orders of magnitude (the kinetic energy itself changes by ~k_B T ~ 5e-3 eV/atom).
            const int atoms = 256;
            double e0 = rows[0][4];
            double maxDev = rows.Max(r => Math.Abs(r[4] - e0)) / atoms;
            Assert.That(maxDev, Is.LessThan(1e-5), "max |E(t) - E(0)| per atom (eV)");
            Assert.That(rows.Max(r => r[2]) - rows.Min(r => r[2]), Is.GreaterThan(1e-3 * atoms * 1e-2), "the kinetic energy must actually move");

            // The final state, and the brute-force double pressure and energy from it.
            string[] xyz = File.ReadAllLines(Path.Combine(dir, "final.xyz"));
            Assert.That(int.Parse(xyz[0], CultureInfo.InvariantCulture), Is.EqualTo(atoms));
            string lattice = xyz[1].Split('"')[1];
            double box = double.Parse(lattice.Split(' ')[0], CultureInfo.InvariantCulture);
            var x = new double[atoms, 3];
            double ekin = 0;
            for (int a = 0; a < atoms; a++)
            {
                var w = xyz[a + 2].Split(' ');
                for (int c = 0; c < 3; c++)
                {
                    x[a, c] = double.Parse(w[1 + c], CultureInfo.InvariantCulture);
                    double v = double.Parse(w[4 + c], CultureInfo.InvariantCulture);
                    ekin += 0.5 * MassAmu * v * v * AmuA2PerFs2InEv;
                }
            }

            double virial = 0, epot = 0, vol = box * box * box;
            for (int i = 0; i < atoms; i++)
            {
                for (int j = 0; j < atoms; j++)
                {
                    for (int s0 = -1; s0 <= 1; s0++)
                    {
                        for (int s1 = -1; s1 <= 1; s1++)
                        {
                            for (int s2 = -1; s2 <= 1; s2++)
                            {
                                if (i == j && s0 == 0 && s1 == 0 && s2 == 0)
                                {
                                    continue;
                                }

                                double dx = x[j, 0] - x[i, 0] + (s0 * box), dy = x[j, 1] - x[i, 1] + (s1 * box), dz = x[j, 2] - x[i, 2] + (s2 * box);
                                double r = Math.Sqrt((dx * dx) + (dy * dy) + (dz * dz));
                                if (r < Rc)
                                {
                                    virial += 0.5 * r * DLj(r);   // ordered pairs: each pair twice
                                    epot += 0.5 * Lj(r);
                                }
                            }
                        }
                    }
                }
            }

            // The 3x3x3 image box suffices: the box (21 A) is wider than 2 rc, and atoms stay within a few A of their sites.
            Assert.That(box, Is.GreaterThan(2 * Rc));
            double pressure = ((2 * ekin / 3) - (virial / 3)) / vol * EvPerA3InGpa;
            // The CLI forms r_e and g_e in fp32 and sums the stress in fp64: its configurational pressure is
            // accurate to ~1e-7 of sum |r phi'| / 3V ~ 2 GPa, i.e. ~2e-7 GPa; 1e-4 GPa leaves room (the
            // pressure is ~0.1 GPa; one missing neighbour shell changes it by > 0.01 GPa).
            Assert.That(rows[^1][5], Is.EqualTo(pressure).Within(1e-4), "final pressure (GPa) vs the independent virial");
            // Energies are double on both sides (only the summation order differs).
            Assert.That(rows[^1][3], Is.EqualTo(epot).Within(1e-9 * Math.Abs(epot)), "final potential energy (eV)");
            // The CLI's unit constant (9.64853321e-3 A/fs^2 per eV/(A amu)) agrees with CODATA to 6e-10.
            Assert.That(rows[^1][2], Is.EqualTo(ekin).Within(1e-8 * ekin), "final kinetic energy (eV)");
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
