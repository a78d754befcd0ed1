using System;
using ScottPlot;

namespace GraphKernels.Cli;

/// <summary>The PNG of <c>demo md</c>: total energy per atom (left axis) and pressure (right axis) over time.</summary>
public static class MdPlot
{
    /// <summary>Writes the plot.</summary>
    /// <param name="result">The run.</param>
    /// <param name="path">The PNG file.</param>
    public static void Write(MdResult result, string path)
    {
        ArgumentNullException.ThrowIfNull(result);
        int m = result.Samples.Count;
        var t = new double[m];
        var e = new double[m];
        var p = new double[m];
        for (int k = 0; k < m; k++)
        {
            t[k] = result.Samples[k].TimePs;
            e[k] = (result.Samples[k].Total - result.Samples[0].Total) / result.Atoms * 1e6;
            p[k] = result.Samples[k].PressureGpa;
        }

        var plt = new Plot();
        var energy = plt.Add.ScatterLine(t, e);
        energy.LegendText = "total energy − E(0), µeV/atom (left)";
        energy.LineWidth = 2;
        energy.Color = Colors.Blue;
        var pressure = plt.Add.ScatterLine(t, p);
        pressure.LegendText = "pressure, GPa (right)";
        pressure.LineWidth = 2;
        pressure.Color = Colors.OrangeRed;
        pressure.Axes.YAxis = plt.Axes.Right;
        plt.Axes.Bottom.Label.Text = "time, ps";
        plt.Axes.Left.Label.Text = "E(t) − E(0), µeV/atom";
        plt.Axes.Right.Label.Text = "pressure, GPa";
        plt.Title($"NVE argon, {result.Atoms} atoms: drift {result.DriftPerAtom:E2} eV/atom");
        plt.ShowLegend(Edge.Bottom);
        plt.SavePng(path, 1000, 600);
    }
}
