using Mlops.Trainer;
using Mlops.Trainer.Samples;
using Mlops.Trainer.SageMaker;

// SageMaker starts the container as `<entrypoint> train`; locally: `train [--root DIR]`.
// `train prepare-flights --source flights-3m.parquet --root DIR [--task delayed|distance_band|distance]
//  [--train-rows N] [--validation-rows N]` lays out the sample job from the flights data.
var arguments = args.SkipWhile(a => a == "train").ToList();
string? Option(string name, string? fallback)
{
    var at = arguments.IndexOf(name);
    return at >= 0 && at + 1 < arguments.Count ? arguments[at + 1] : fallback;
}

var root = Option("--root", Environment.GetEnvironmentVariable("MLOPS_TRAINER_ROOT") ?? TrainingLayout.DefaultRoot)!;
if (arguments.FirstOrDefault() == "prepare-flights")
{
    var source = Option("--source", null) ?? throw new ArgumentException("prepare-flights needs --source <flights-3m.parquet>.");
    var task = Enum.Parse<FlightsTask>(Option("--task", "delayed")!.Replace("_", ""), ignoreCase: true);
    var flights = await FlightsSample.LoadAsync(source);
    await FlightsSample.WriteJobAsync(flights, root, new FlightsJob(
        task, int.Parse(Option("--train-rows", "200000")!), int.Parse(Option("--validation-rows", "50000")!)));
    Console.WriteLine($"wrote a {task} training job under {root}");
    return 0;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
return await new TrainingJob(new TrainingLayout(root), Console.Out, Console.Error).RunAsync(cancel.Token);
