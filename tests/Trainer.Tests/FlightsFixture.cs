using Mlops.Trainer;
using Mlops.Trainer.Model.Tabular;
using Mlops.Trainer.Samples;
using Mlops.Trainer.SageMaker;

namespace Trainer.Tests;

/// <summary>Loads the 3-million-row flights file once for every test that trains on it.</summary>
public sealed class FlightsFixture : IAsyncLifetime
{
    public DataTable Flights { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var path = Path.Combine(RepoRoot(), FlightsSample.RelativePath);

        // A missing data file must fail loudly: a skipped test would hide that nothing was trained.
        Assert.True(File.Exists(path), $"The flights data is missing at {path}. Run `npm install --prefix eng/node` from the repository root.");
        Flights = await FlightsSample.LoadAsync(path);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Mlops.Aspire.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>Lays out a flights job in a fresh temporary tree and trains it in-process.</summary>
    public async Task<(TrainingResult Result, TrainingLayout Layout, string Stdout)> TrainAsync(TempTree tree, FlightsJob job)
    {
        var layout = await FlightsSample.WriteJobAsync(Flights, tree.Path, job);
        var stdout = new StringWriter();
        var result = await new TrainingJob(layout, stdout, new StringWriter()).TrainAsync();
        return (result, layout, stdout.ToString());
    }
}

[CollectionDefinition(Name)]
public sealed class FlightsCollection : ICollectionFixture<FlightsFixture>
{
    public const string Name = "flights";
}

/// <summary>A unique temporary directory per test, removed afterwards.</summary>
public sealed class TempTree : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("trainer-test-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder must not fail a test.
        }
    }
}
