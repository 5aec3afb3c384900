using System.Collections;
using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using Mlops.Trainer.Model;

namespace Mlops.Trainer.Learners;

/// <summary>One metric value the learner computed after <see cref="Iteration"/> trees, or replayed after training.</summary>
public sealed record IterationMetric(string Name, double Value, int Iteration, bool Replayed = false)
{
    /// <summary>
    /// The stdout line: <c>metric validation:auc=0.71 iteration=50</c>, SageMaker's metric-line form with the iteration
    /// after it (the training service reads <c>iteration=</c>; a definition's regex <c>metric validation:auc=([0-9.eE+-]+)</c>
    /// matches these lines and the final one alike). Values replayed from the trained trees end in <c>replayed</c>.
    /// </summary>
    public string Line() => string.Create(CultureInfo.InvariantCulture,
        $"metric {Name}={Value:0.######} iteration={Iteration}{(Replayed ? " replayed" : "")}");
}

/// <summary>
/// Reports a tree learner's own per-iteration evaluation while it trains. ML.NET 5.0.1 has no public callback, but
/// two learners compute the values anyway when given a validation set:
/// <list type="bullet">
/// <item>FastTree (binary, regression), with <c>TestFrequency = 1</c>, evaluates the train and validation sets after every
/// tree and logs it on the MLContext log channel (<c>train.LossRate=…</c>, <c>valid.L2=…</c>): read from
/// <see cref="MLContext.Log"/>, one message per tree.</item>
/// <item>LightGBM (every problem type), with <c>Verbose = true</c>, asks the native booster for its train and validation
/// metric every 50 iterations (a constant in ML.NET's <c>WrappedLightGbmTraining</c>) and hands it to a progress
/// channel as a checkpoint. ML.NET does not surface progress publicly, so a poller drains the environment's progress
/// tracker by reflection. If a later ML.NET renames those internals, nothing is reported (with one warning), never
/// anything wrong.</item>
/// </list>
/// FastForest computes nothing while it trains; its values are replayed from the trained trees afterwards
/// (<see cref="Replayed"/>).
/// </summary>
public sealed class IterationMetrics : IDisposable
{
    /// <summary>LightGBM evaluation metric per problem type: what its checkpoints report.</summary>
    public static string LightGbmMetric(ProblemType problem) => problem switch
    {
        ProblemType.Binary => "auc",
        ProblemType.Regression => "rmse",
        _ => "multi_logloss",
    };

    private readonly MLContext _ml;
    private readonly Action<IterationMetric> _report;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task? _poller;
    private readonly object? _tracker;
    private readonly MethodInfo? _drain;
    private readonly TextWriter _stderr;
    private string? _lastFastTreeMessage;
    private int _fastTreeIteration;

    private IterationMetrics(MLContext ml, Learner learner, Action<IterationMetric> report, TextWriter stderr)
    {
        _ml = ml;
        _report = report;
        _stderr = stderr;
        if (learner.Name == "fasttree")
        {
            ml.Log += OnLog;
        }
        else if (learner.Name == "lightgbm")
        {
            (_tracker, _drain) = ProgressTracker(ml);
            if (_tracker is null)
            {
                stderr.WriteLine("warning: this ML.NET build exposes no progress tracker; LightGBM reports no per-iteration metrics.");
            }
            else
            {
                Drain();
                _poller = Task.Run(PollAsync);
            }
        }
    }

    /// <summary>Starts reporting for <paramref name="learner"/>; dispose once its Fit returns (a last drain happens then).</summary>
    public static IterationMetrics Start(MLContext ml, Learner learner, Action<IterationMetric> report, TextWriter stderr) =>
        new(ml, learner, report, stderr);

    /// <summary>True when the learner computes per-iteration values while it trains (given a validation set).</summary>
    public static bool ReportsWhileTraining(Learner learner) => learner.Name is "fasttree" or "lightgbm";

    /// <summary>
    /// Fits <paramref name="estimator"/> with the validation view where the learner takes one (the tree learners), so that
    /// they evaluate it per iteration. The validation set is only evaluated: no early stopping or pruning is configured,
    /// so the model is the one <c>Fit(train)</c> would give.
    /// </summary>
    public static ITransformer Fit(IEstimator<ITransformer> estimator, IDataView train, IDataView validation) => estimator switch
    {
        FastTreeBinaryTrainer t => t.Fit(train, validation),
        FastTreeRegressionTrainer t => t.Fit(train, validation),
        LightGbmBinaryTrainer t => t.Fit(train, validation),
        LightGbmRegressionTrainer t => t.Fit(train, validation),
        LightGbmMulticlassTrainer t => t.Fit(train, validation),
        _ => estimator.Fit(train),
    };

    /// <summary>The learning curve replayed after training, as metric lines flagged <c>replayed</c>.</summary>
    public static IEnumerable<IterationMetric> Replayed(Diagnostics.LearningCurve curve)
    {
        for (var i = 0; i < curve.Iterations.Count; i++)
        {
            yield return new IterationMetric($"train:{curve.Metric}", curve.Train[i], curve.Iterations[i], true);
            yield return new IterationMetric($"validation:{curve.Metric}", curve.Validation[i], curve.Iterations[i], true);
        }
    }

    /// <summary>
    /// Parses one FastTree test message (<c>train.ErrorRate=0.1\ntrain.LossRate=0.5\nvalid.ErrorRate=…</c>) into metrics:
    /// binary <c>loss</c> (mean logistic loss of the raw score, nats) and <c>error_rate</c> (at score 0, probability 0.5);
    /// regression <c>mae</c> (L1) and <c>rmse</c> (L2 is FastTree's root mean square).
    /// </summary>
    public static IReadOnlyList<IterationMetric> ParseFastTree(string message, int iteration)
    {
        var metrics = new List<IterationMetric>();
        foreach (var part in message.Split(['\n', '\r', '\t', ' '], StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            var dot = part.IndexOf('.');
            if (eq < 0 || dot < 0 || dot > eq
                || !double.TryParse(part.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            var channel = part[..dot] switch { "train" => "train", "valid" => "validation", _ => null };
            var name = part[(dot + 1)..eq] switch
            {
                "LossRate" => "loss",
                "ErrorRate" => "error_rate",
                "L1" => "mae",
                "L2" => "rmse",
                _ => null,
            };
            if (channel is not null && name is not null)
            {
                metrics.Add(new IterationMetric($"{channel}:{name}", value, iteration));
            }
        }

        return metrics;
    }

    private void OnLog(object? sender, LoggingEventArgs e)
    {
        if (e.Kind != ChannelMessageKind.Info || !e.Source.StartsWith("FastTreeTraining", StringComparison.Ordinal))
        {
            return;
        }

        // The message is "[Source=…, Kind=Info] train.ErrorRate=…"; the raw text follows the bracket.
        var text = e.Message;
        var close = text.IndexOf("] ", StringComparison.Ordinal);
        var body = close >= 0 ? text[(close + 2)..] : text;
        if (!body.Contains("train.", StringComparison.Ordinal))
        {
            return;
        }

        lock (_gate)
        {
            // A boosting round that grows no tree logs the same scores again under the same tree count.
            if (body == _lastFastTreeMessage)
            {
                return;
            }

            _lastFastTreeMessage = body;
            _fastTreeIteration++;
            foreach (var metric in ParseFastTree(body, _fastTreeIteration))
            {
                _report(metric);
            }
        }
    }

    private async Task PollAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Drain();
        }
    }

    private void Drain()
    {
        if (_tracker is null || _drain is null)
        {
            return;
        }

        lock (_gate)
        {
            IList events;
            try
            {
                events = (IList)_drain.Invoke(_tracker, null)!;
            }
            catch (TargetInvocationException e)
            {
                _stderr.WriteLine($"warning: reading LightGBM's progress failed ({e.InnerException?.Message}); no more per-iteration metrics.");
                _stop.Cancel();
                return;
            }

            foreach (var ev in events)
            {
                foreach (var metric in LightGbmCheckpoint(ev))
                {
                    _report(metric);
                }
            }
        }
    }

    /// <summary>A LightGBM checkpoint event: header <c>Iteration, Training-auc, Validation-auc</c>, metrics <c>[50, 0.71, 0.66]</c>.</summary>
    private static IEnumerable<IterationMetric> LightGbmCheckpoint(object ev)
    {
        var entry = Field(ev, "ProgressEntry");
        if (entry is null || Field(entry, "IsCheckpoint") is not true || Field(entry, "Header") is not ProgressHeader header
            || Field(entry, "Metrics") is not double?[] values || values.Length == 0 || values[0] is not { } iteration)
        {
            yield break;
        }

        for (var i = 1; i < values.Length && i < header.MetricNames.Count; i++)
        {
            var (prefix, metric) = header.MetricNames[i].IndexOf('-') is var dash and > 0
                ? (header.MetricNames[i][..dash], header.MetricNames[i][(dash + 1)..])
                : ("", header.MetricNames[i]);
            var channel = prefix switch { "Training" => "train", "Validation" => "validation", _ => null };
            if (channel is not null && values[i] is { } value && double.IsFinite(value))
            {
                yield return new IterationMetric($"{channel}:{metric}", value, (int)iteration);
            }
        }
    }

    private static object? Field(object target, string name) =>
        target.GetType().GetField(name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)?.GetValue(target);

    private static (object? Tracker, MethodInfo? Drain) ProgressTracker(MLContext ml)
    {
        const BindingFlags flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var env = typeof(MLContext).GetField("_env", flags)?.GetValue(ml);
        for (var type = env?.GetType(); type is not null; type = type.BaseType)
        {
            if (type.GetField("ProgressTracker", flags | BindingFlags.DeclaredOnly)?.GetValue(env) is { } tracker
                && tracker.GetType().GetMethod("GetAllProgress", flags, []) is { } drain)
            {
                return (tracker, drain);
            }
        }

        return (null, null);
    }

    public void Dispose()
    {
        _ml.Log -= OnLog;
        _stop.Cancel();
        try
        {
            _poller?.Wait();
        }
        catch (AggregateException)
        {
        }

        Drain();
        _stop.Dispose();
    }
}
