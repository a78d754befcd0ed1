using System;
using System.Collections.Generic;
using System.Linq;
using GraphKernels.BenchData;
using ScottPlot;

namespace GraphKernels.BenchReport;

/// <summary>One PNG per family: median time per case (log scale), one marker series per implementation, and the roofline floor.</summary>
public static class Chart
{
    /// <summary>Writes the chart.</summary>
    /// <param name="path">PNG path.</param>
    /// <param name="family">Family.</param>
    /// <param name="device">Device name.</param>
    /// <param name="emulated">Our rows are emulated.</param>
    /// <param name="cases">Cases.</param>
    /// <param name="peak">Device peak or null.</param>
    /// <param name="manifest">Manifest or null.</param>
    public static void Write(string path, string family, string device, bool emulated,
        List<IGrouping<(string Op, string Dataset, int Features, string Dtype), ResultRecord>> cases, DevicePeak? peak, BenchManifest? manifest)
    {
        var plt = new Plot();
        var impls = cases.SelectMany(g => g.Select(r => r.Impl)).Distinct().OrderBy(i => i == "graphkernels" ? "" : i, StringComparer.Ordinal).ToList();
        var palette = new ScottPlot.Palettes.Category10();
        var markers = new[] { MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.Cross, MarkerShape.Asterisk };
        for (int k = 0; k < impls.Count; k++)
        {
            var xs = new List<double>();
            var ys = new List<double>();
            for (int c = 0; c < cases.Count; c++)
            {
                var r = cases[c].FirstOrDefault(x => x.Impl == impls[k] && x.MedianMs > 0);
                if (r == null) continue;
                xs.Add(c + ((k - ((impls.Count - 1) / 2.0)) * 0.08));
                ys.Add(Math.Log10(r.MedianMs));
            }

            if (xs.Count == 0) continue;
            var s = plt.Add.ScatterPoints(xs.ToArray(), ys.ToArray());
            s.MarkerShape = markers[k % markers.Length];
            s.MarkerSize = 9;
            s.Color = palette.GetColor(k);
            s.LegendText = impls[k] + (impls[k] == "graphkernels" && emulated ? " (emulated, not a GPU figure)" : "");
        }

        if (peak != null)
        {
            bool first = true;
            for (int c = 0; c < cases.Count; c++)
            {
                long bytes = Report.Bytes(family, cases[c], manifest);
                if (bytes <= 0) continue;
                double y = Math.Log10(Roofline.FloorMs(bytes, peak));
                var line = plt.Add.Line(c - 0.35, y, c + 0.35, y);
                line.Color = Colors.Black;
                line.LineWidth = 2;
                line.LinePattern = LinePattern.Dashed;
                if (first) line.LegendText = $"roofline floor (bytes / {peak.BytesPerSecond / 1e12:F2} TB/s)";
                first = false;
            }
        }

        var ticks = cases.Select((g, c) => new Tick(c, $"{g.Key.Dataset} {g.Key.Op}{(g.Key.Features > 0 ? " F=" + g.Key.Features : "")}")).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plt.Axes.Bottom.TickLabelStyle.Rotation = 40;
        plt.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plt.Axes.Bottom.MinimumSize = 170;
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = y => Math.Pow(10, y).ToString("G3", System.Globalization.CultureInfo.InvariantCulture),
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
        };
        plt.Axes.Left.Label.Text = "median time, ms (log scale; lower is better)";
        plt.Title($"{family} on {device}{(emulated ? " — emulated, not a GPU figure" : "")}");
        plt.Axes.SetLimitsX(-0.6, cases.Count + 0.4);
        plt.ShowLegend(Edge.Bottom);
        plt.SavePng(path, Math.Max(900, 90 * cases.Count + 300), 700);
    }
}
