using System.Globalization;
using Mlops.Samples.FlightsLoop;
using Mlops.ServiceDefaults.Storage;

// The sample scenario the AppHost runs once the platform is up: the continuous-training loop on the flights data, with
// time compressed (samples/FlightsLoop). January–April become the feature group's history and the first champion
// (trained by the flights-delay pipeline as a training job, deployed behind the flights-delay endpoint); May onwards is
// replayed through the endpoint with its true delays following as ground truth; the monitor sees the drift, its alarm
// starts the pipeline, and the new version goes out as a canary and is promoted, or rolled back if it is worse.
string Setting(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
    ? value
    : throw new InvalidOperationException($"The sample needs the environment variable {name} (the AppHost sets it).");

var flightsPath = Setting("Sample__FlightsParquet");
if (!File.Exists(flightsPath))
{
    Console.Error.WriteLine($"No flights data at {flightsPath}: run eng/bootstrap.sh (it installs vega-datasets with npm).");
    return 1;
}

var s3 = S3Extensions.CreateClient(new S3Options
{
    ServiceUrl = Environment.GetEnvironmentVariable("S3__ServiceUrl"),
    Region = Environment.GetEnvironmentVariable("S3__Region") ?? "us-east-1",
    AccessKey = Environment.GetEnvironmentVariable("S3__AccessKey"),
    SecretKey = Environment.GetEnvironmentVariable("S3__SecretKey"),
    ForcePathStyle = Environment.GetEnvironmentVariable("S3__ForcePathStyle") == "true",
});
var clients = LoopClients.Create(service => new Uri(Setting($"services__{service}__http__0")), Setting("Auth__ApiKey"), s3, Setting("Storage__LakeBucket"));
var settings = new LoopSettings
{
    Name = Environment.GetEnvironmentVariable("Sample__Name") ?? "flights-delay",
    FlightsParquet = flightsPath,
    FlightsPerMonth = int.Parse(Environment.GetEnvironmentVariable("Sample__FlightsPerMonth") ?? "3000", CultureInfo.InvariantCulture),
};

// Lines with this marker are the sample's narrative: the AppHost relays them to its console (AppHost/StartupSummary.cs).
static void Narrate(string line) => Console.WriteLine("» " + line);

var outcome = await new ContinuousTrainingLoop(settings, clients, Narrate, Console.WriteLine).RunAsync(CancellationToken.None);
Narrate($"Where to look: the dashboard's traces and each resource's logs; GET /api/executions/{outcome.TriggeredExecution} on the pipeline runner, " +
    $"GET /api/endpoints/{settings.Endpoint}/deployments on Serving, GET /api/alarms/{settings.DriftAlarm}/history on the monitor, " +
    $"GET /api/lineage/model-versions/{settings.Model}/{outcome.ChampionAfter} on the tracker.");
return outcome.ChampionAfter is null ? 1 : 0;
