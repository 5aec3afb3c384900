using Mlops.ExperimentTracker.Client;

namespace Mlops.Tests;

/// <summary>The sample scenario the AppHost runs: the flights delay model trained, tracked and registered as champion.</summary>
[Collection(PlatformCollection.Name)]
public sealed class SampleScenarioTests(PlatformFixture platform)
{
    [Fact]
    public async Task Sample_TrainsTracksAndRegistersTheFlightsDelayModel()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var finished = await platform.App.ResourceNotifications.WaitForResourceAsync(ResourceNames.Sample,
            e => e.Snapshot.State?.Text is "Finished" or "Exited" or "FailedToStart", timeout.Token);
        Assert.True(finished.Snapshot.ExitCode == 0, $"the sample ended {finished.Snapshot.State?.Text} with exit code {finished.Snapshot.ExitCode}");

        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        var champion = await tracker.GetModelVersionByAliasAsync("flights-delay", "champion");
        var run = await tracker.GetRunAsync(champion.RunId!);
        Assert.Equal("FINISHED", run.Info.Status);
        Assert.Equal("lightgbm", run.Param("algorithm"));
        Assert.InRange(run.MetricValue("validation/auc")!.Value, 0.58, 1.0); // the delay signal is weak; a coin flip is 0.5
        Assert.Equal(0.5, run.MetricValue("validation/baseline_auc"));
        Assert.Equal("samples/FlightsDelay", run.Tag("mlflow.source.name"));
        Assert.Equal("training", run.Inputs!.DatasetInputs!.Single().Tags!.Single().Value);
        var files = (await tracker.ListArtifactsAsync(run.Info.RunId, "model")).Select(f => f.Path).ToList();
        Assert.Contains("model/model.zip", files);
        Assert.Contains("model/package.json", files);
    }
}
