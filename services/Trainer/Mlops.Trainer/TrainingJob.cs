using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Mlops.Trainer.Data;
using Mlops.Trainer.Diagnostics;
using Mlops.Trainer.Evaluation;
using Mlops.Trainer.Featurization;
using Mlops.Trainer.Learners;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;
using Mlops.Trainer.Options;
using Mlops.Trainer.Packaging;
using Mlops.Trainer.SageMaker;

namespace Mlops.Trainer;

/// <summary>What a successful job produced, for callers that run the trainer in-process (tests, benchmarks).</summary>
public sealed record TrainingResult(
    ModelManifest Manifest,
    MetricsReport Metrics,
    DiagnosticsReport Diagnostics,
    ITransformer Model,
    DataTable Validation);

/// <summary>
/// One training job over a SageMaker training-container tree: read config and channels, featurize, fit,
/// evaluate, diagnose, and write the model package and reports. Exit codes: 0 success, 1 bad input
/// (output/failure says what and the valid choices), 2 internal error.
/// </summary>
public sealed class TrainingJob(TrainingLayout layout, TextWriter stdout, TextWriter stderr)
{
    public const int BadInput = 1;
    public const int InternalError = 2;

    public static string Version { get; } =
        typeof(TrainingJob).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    public async Task<int> RunAsync(CancellationToken ct = default)
    {
        try
        {
            await TrainAsync(ct);
            return 0;
        }
        catch (TrainerException e)
        {
            return Fail(BadInput, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await stderr.WriteLineAsync(e.ToString());
            return Fail(InternalError, $"Internal error in the trainer ({e.GetType().Name}): {e.Message} The input may be fine; this is a bug to report with the stderr log.");
        }
    }

    private int Fail(int code, string message)
    {
        Directory.CreateDirectory(layout.OutputDirectory);

        // SageMaker shows the first 1024 characters of this file as the job's FailureReason.
        File.WriteAllText(layout.FailurePath, message + Environment.NewLine);
        stderr.WriteLine($"error: {message}");
        return code;
    }

    public async Task<TrainingResult> TrainAsync(CancellationToken ct = default)
    {
        var total = Stopwatch.StartNew();
        if (File.Exists(layout.FailurePath))
        {
            File.Delete(layout.FailurePath);
        }

        var config = JobConfiguration.Read(layout);
        var options = TrainingOptions.Parse(config.Hyperparameters);
        var known = new[] { ChannelLoader.Train, ChannelLoader.Validation, ChannelLoader.Test };
        foreach (var extra in (config.Channels?.Keys ?? []).Except(known))
        {
            await stderr.WriteLineAsync($"warning: channel '{extra}' is not used; channels read: {string.Join(", ", known)}.");
        }

        var train = (await LoadAsync(ChannelLoader.Train, true))!;
        var validation = (await LoadAsync(ChannelLoader.Validation, true))!;
        var test = await LoadAsync(ChannelLoader.Test, false);

        var problem = options.ProblemType ?? LabelPreparation.InferProblem(train.Table, options.Label);
        var (learner, values) = options.LearnerFor(problem);
        var label = options.Label;
        var trainTable = LabelPreparation.Prepare(train.Table, label, problem, ChannelLoader.Train);
        var validationTable = LabelPreparation.Prepare(validation.Table, label, problem, ChannelLoader.Validation);
        var testTable = test is null ? null : LabelPreparation.Prepare(test.Table, label, problem, ChannelLoader.Test);
        var missingLabels = new Dictionary<string, long>
        {
            [ChannelLoader.Train] = train.Table.RowCount - trainTable.RowCount,
            [ChannelLoader.Validation] = validation.Table.RowCount - validationTable.RowCount,
        };
        if (test is not null)
        {
            missingLabels[ChannelLoader.Test] = test.Table.RowCount - testTable!.RowCount;
        }

        foreach (var (channel, dropped) in missingLabels.Where(m => m.Value > 0))
        {
            await stdout.WriteLineAsync($"dropped {dropped:N0} {channel} row(s) whose label '{label}' is missing");
        }

        RequireTwoClasses(problem, trainTable, label);

        var ml = ModelPackage.CreateContext(options.Seed);
        var plan = FeaturePlanner.Plan(ml, trainTable, label, options, learner.NeedsNormalization);
        RequireSameSchema(plan, validationTable, ChannelLoader.Validation);
        if (testTable is not null)
        {
            RequireSameSchema(plan, testTable, ChannelLoader.Test);
        }

        await stdout.WriteLineAsync(
            $"training {problem.ToString().ToLowerInvariant()} '{learner.Name}' on {trainTable.RowCount:N0} rows; label '{label}'; features: "
            + string.Join(", ", plan.Inputs.Select(c => c.Name)));

        // Fit: label keys (multiclass) outside the model, featurization and learner inside it.
        var fit = Stopwatch.StartNew();
        ITransformer? labelKeys = problem == ProblemType.Multiclass
            ? ml.Transforms.Conversion.MapValueToKey(ModelEvaluator.LabelKeyColumn, label).Fit(new TableDataView(trainTable))
            : null;
        IDataView trainView = new TableDataView(trainTable);
        trainView = labelKeys?.Transform(trainView) ?? trainView;
        var featurizer = plan.Estimator.Fit(trainView);
        var featurized = featurizer.Transform(trainView);
        if (learner.NeedsNormalization)
        {
            // Linear learners make many passes; without a cache each pass would featurize again.
            featurized = ml.Data.Cache(featurized);
        }

        var learnerLabel = problem == ProblemType.Multiclass ? ModelEvaluator.LabelKeyColumn : label;
        var estimator = learner.Create(ml, new LearnerInputs(learnerLabel, FeaturePlanner.FeatureColumn, values, options.Seed));
        ITransformer predictor;
        var stdoutLock = new object();
        using (IterationMetrics.Start(ml, learner, m => { lock (stdoutLock) stdout.WriteLine(m.Line()); }, stderr))
        {
            // Tree learners evaluate the validation channel per iteration while they train (lines printed as they come).
            predictor = IterationMetrics.ReportsWhileTraining(learner)
                ? IterationMetrics.Fit(estimator, featurized, featurizer.Transform(labelKeys?.Transform(new TableDataView(validationTable)) ?? new TableDataView(validationTable)))
                : estimator.Fit(featurized);
        }

        var parts = new List<ITransformer> { featurizer, predictor };
        if (problem == ProblemType.Binary && predictor.GetOutputSchema(featurized.Schema).GetColumnOrNull(ModelPackage.ProbabilityColumn) is null)
        {
            // Forests give uncalibrated scores; Platt scaling turns them into the probability Serving promises.
            parts.Add(ml.BinaryClassification.Calibrators.Platt(label).Fit(predictor.Transform(featurized)));
        }

        var scoringModel = new TransformerChain<ITransformer>([.. parts]);
        ITransformer model = scoringModel;
        if (problem == ProblemType.Multiclass)
        {
            var toValue = ml.Transforms.Conversion.MapKeyToValue(ModelPackage.PredictedLabelColumn).Fit(scoringModel.Transform(trainView));
            model = new TransformerChain<ITransformer>([.. parts, toValue]);
        }

        fit.Stop();

        // Evaluate, binary models at the decision threshold chosen on validation (or given).
        var evaluator = new ModelEvaluator(ml, problem, label, labelKeys, scoringModel, trainTable);
        var (threshold, thresholdRule) = problem == ProblemType.Binary ? ChooseThreshold(options, evaluator, validationTable, label) : (null, null);
        if (threshold is { } chosen)
        {
            evaluator = new ModelEvaluator(ml, problem, label, labelKeys, scoringModel, trainTable, chosen);
        }

        var trainSample = trainTable.Select(Statistics.Sample(trainTable.RowCount, options.DiagnosticsRows, options.Seed));
        var validationSample = validationTable.Select(Statistics.Sample(validationTable.RowCount, options.DiagnosticsRows, options.Seed));
        var channels = new Dictionary<string, ChannelMetrics>
        {
            [ChannelLoader.Validation] = evaluator.Evaluate(validationTable),
            [ChannelLoader.Train] = evaluator.Evaluate(trainSample),
        };
        if (testTable is not null)
        {
            channels[ChannelLoader.Test] = evaluator.Evaluate(testTable);
        }

        var importanceRows = options.ImportanceRows == 0 ? null : validationTable.Select(Statistics.Sample(validationTable.RowCount, options.ImportanceRows, options.Seed));
        var importance = importanceRows is null ? [] : PermutationImportance.Compute(evaluator, importanceRows, plan.Inputs.Select(c => c.Name), options.Seed);
        // Recorded in the package too, so whoever holds the model (the monitor) can compare its importance on later labelled data.
        var recordedImportance = importanceRows is null ? null
            : new RecordedImportance(evaluator.Primary.Name, evaluator.Primary.HigherIsBetter, ChannelLoader.Validation, importanceRows.RowCount,
                ColumnPermutation.DefaultRepeats, importance);

        // Diagnose.
        var curve = LearningCurves.Compute(
            ml, problem, learner.Trees, (predictor as ISingleFeaturePredictionTransformer<object>)?.Model, featurizer,
            evaluator.Prepare(trainSample), evaluator.Prepare(validationSample), learnerLabel);
        DiagnosticFinding[] findings =
        [
            DiagnosticRules.Overfitting(problem, channels[ChannelLoader.Train], channels[ChannelLoader.Validation]),
            DiagnosticRules.LossPlateau(curve, learner.Name, learner.Trees == TreeEnsembleKind.Forest),
            DiagnosticRules.ClassImbalance(problem, trainTable, label),
            DiagnosticRules.ConstantFeatures(plan.ConstantColumns),
            DiagnosticRules.LeakingFeatures(problem, trainSample, label, plan.Inputs.Select(c => c.Name)),
        ];
        if (curve is not null && !IterationMetrics.ReportsWhileTraining(learner))
        {
            // FastForest computes nothing per tree while it trains: the best real values are the trained forest replayed
            // tree by tree, printed now and flagged as replayed.
            foreach (var metric in IterationMetrics.Replayed(curve))
            {
                await stdout.WriteLineAsync(metric.Line());
            }
        }

        var diagnostics = new DiagnosticsReport(findings.Count(f => f.Status == DiagnosticFinding.Issue), findings, curve);

        // Package and report.
        var metrics = new MetricsReport(problem, learner.Name, label, channels, importance,
            new TrainingTiming(trainTable.RowCount, fit.Elapsed.TotalSeconds, trainTable.RowCount / fit.Elapsed.TotalSeconds, total.Elapsed.TotalSeconds),
            missingLabels, threshold);
        var manifest = PackageWriter.Write(
            ml, layout.ModelDirectory, model, plan, new ModelManifestDraft(
                problem, learner.Name, label, options.Seed, options.Effective(problem),
                problem == ProblemType.Multiclass ? ModelEvaluator.Classes(evaluator.Score(validationSample)) : null,
                new Dictionary<string, ChannelDigest>(
                    new[] { train, validation, test }.OfType<Channel>().Select(c => KeyValuePair.Create(c.Name, c.Digest))),
                channels.ToDictionary(c => c.Key, c => c.Value.Metrics),
                threshold, recordedImportance));
        metrics = metrics with { Timing = metrics.Timing with { TotalSeconds = total.Elapsed.TotalSeconds } };
        ReportJson.Write(Path.Combine(layout.OutputDataDirectory, "metrics.json"), metrics);
        ReportJson.Write(Path.Combine(layout.OutputDataDirectory, "diagnostics.json"), diagnostics);

        foreach (var (name, value) in metrics.Lines())
        {
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"metric {name}={value:0.######}"));
        }

        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"metric train:rows_per_second={metrics.Timing.RowsPerSecond:0.#}"));
        foreach (var finding in findings)
        {
            await (finding.Status == DiagnosticFinding.Issue ? stderr : stdout).WriteLineAsync($"diagnostic {finding.Rule}={finding.Status}: {finding.Message}");
        }

        if (threshold is { } t && channels[ChannelLoader.Validation].Metrics is var v)
        {
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"decision threshold {t:0.####} ({thresholdRule}): validation precision {v["precision"]:0.###}, recall {v["recall"]:0.###}, F1 {v["f1"]:0.###}; at 0.5: precision {v["precision_at_0.5"]:0.###}, recall {v["recall_at_0.5"]:0.###}, F1 {v["f1_at_0.5"]:0.###}"));
        }

        await stdout.WriteLineAsync($"model package written to {layout.ModelDirectory} (onnx: {manifest.Onnx.Status}); fit {fit.Elapsed.TotalSeconds:F1}s, total {total.Elapsed.TotalSeconds:F1}s");
        return new TrainingResult(manifest, metrics, diagnostics, model, validationTable);

        Task<Channel?> LoadAsync(string name, bool required) =>
            ChannelLoader.LoadAsync(layout, name, config.Channels?.GetValueOrDefault(name), required, options.Label, stderr, ct);
    }

    /// <summary>The binary decision threshold: given, or the one maximising F1 on validation; and how it was chosen.</summary>
    private (double? Threshold, string? Rule) ChooseThreshold(TrainingOptions options, ModelEvaluator evaluator, DataTable validation, string label)
    {
        if (options.DecisionThreshold is { } given)
        {
            return (given, "given");
        }

        if (DecisionThreshold.MaximisingF1(evaluator.Probabilities(validation), (bool[])validation[label].Values) is { } best)
        {
            return (best, "maximises F1 on validation");
        }

        stderr.WriteLine($"warning: the validation channel has no positive label, so no threshold maximises F1; using {DecisionThreshold.Conventional}.");
        return (DecisionThreshold.Conventional, "no positive label in validation: the conventional one");
    }

    private static void RequireTwoClasses(ProblemType problem, DataTable train, string label)
    {
        if (problem == ProblemType.Regression)
        {
            return;
        }

        var classes = train[label].Values switch
        {
            bool[] b => b.Distinct().Count(),
            string?[] s => s.Distinct().Count(),
            _ => 2,
        };
        if (classes < 2)
        {
            throw new TrainerException($"Label '{label}' has a single class in the train channel; classification needs at least two.");
        }
    }

    private static void RequireSameSchema(FeaturePlan plan, DataTable table, string channel)
    {
        var problems = plan.Inputs
            .Select(c => table.Find(c.Name) switch
            {
                null => $"'{c.Name}' is missing",
                { Kind: var k } when k != c.Kind => $"'{c.Name}' is {k.ToString().ToLowerInvariant()} but {c.Kind.ToString().ToLowerInvariant()} in train",
                _ => null,
            })
            .OfType<string>()
            .ToArray();
        if (problems.Length > 0)
        {
            throw new TrainerException($"The {channel} channel does not match the train channel: {string.Join("; ", problems)}.");
        }
    }
}
