using System.Text;
using Mlops.Trainer;
using Mlops.Trainer.SageMaker;

namespace Trainer.Tests;

/// <summary>A CSV file that is not UTF-8 is refused with its position, instead of turning "rain" into a new category "r�in".</summary>
public sealed class EncodingTests
{
    [Fact]
    public async Task InvalidUtf8Value_FailsNamingFileLineColumnAndEncoding()
    {
        using var tree = new TempTree();

        // Line 3 holds a quoted comma, so counting commas alone would name the wrong column; line 5 has a Latin-1 "é".
        var bad = Latin1("x,weather,label\n1,sun,true\n2,\"fog, light\",false\n3,sun,true\n4,r\u00e9in,false\n5,sun,true\n6,fog,false\n");
        var layout = Layout(tree, ("train", "weather-2024.csv", bad), ("validation", "v.csv", Utf8("x,weather,label\n1,sun,true\n2,fog,false\n")));

        var failure = await BadInputTests.FailAsync(layout);

        Assert.Contains("weather-2024.csv line 5, column 2 ('weather')", failure);
        Assert.Contains("0xE9 after \"r\"", failure);
        Assert.Contains("encoding problem", failure);
        Assert.Contains("UTF-8", failure);
    }

    [Fact]
    public async Task InvalidUtf8Header_SaysEncoding_NotColumnMissing()
    {
        using var tree = new TempTree();
        var layout = Layout(tree,
            ("train", "t.csv", Utf8("amount,city,label\n1,paris,true\n2,rome,false\n3,paris,true\n4,rome,false\n")),
            ("validation", "stations.csv", Latin1("amount,cit\u00e9,label\n1,paris,true\n2,rome,false\n")));

        var failure = await BadInputTests.FailAsync(layout);

        Assert.Contains("stations.csv line 1, column 2 of the header row", failure);
        Assert.Contains("encoding problem", failure);
        Assert.DoesNotContain("missing", failure);
    }

    [Fact]
    public async Task Utf8WithByteOrderMarkAndNonAsciiValues_StillTrains()
    {
        using var tree = new TempTree();
        var rows = string.Concat(Enumerable.Range(0, 60).Select(i => $"{i},{(i % 2 == 0 ? "Zürich" : "Kraków")},{(i % 2 == 0 ? "true" : "false")}\n"));
        var csv = Encoding.UTF8.GetPreamble().Concat(Utf8("n,city,label\n" + rows)).ToArray();
        var layout = Layout(tree, ("train", "t.csv", csv), ("validation", "v.csv", csv));

        var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(["n:number", "city:text"], result.Manifest.InputSchema.Select(c => $"{c.Name}:{c.Type}"));
        Assert.Equal(2, result.Manifest.Featurization.Single(f => f.Column == "city").Cardinality);
    }

    private static byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static TrainingLayout Layout(TempTree tree, params (string Channel, string File, byte[] Content)[] files)
    {
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["algorithm"] = "sdca", ["importance_rows"] = "0" });
        foreach (var (channel, file, content) in files)
        {
            Directory.CreateDirectory(layout.ChannelDirectory(channel));
            File.WriteAllBytes(Path.Combine(layout.ChannelDirectory(channel), file), content);
        }

        return layout;
    }
}
