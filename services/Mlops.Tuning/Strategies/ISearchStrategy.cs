using System.Text.Json.Serialization;

namespace Mlops.Tuning.Strategies;

public enum TrialStatus { Pending, InProgress, Completed, Failed, Stopped }

/// <summary>
/// Where a Hyperband trial sits: its bracket (position in <see cref="HyperbandSearch.Plan"/>), the rungs of that bracket it
/// has passed so far, its index among the bracket's trials, and its resource (MaxResource: a trial is never retrained).
/// </summary>
public sealed record HyperbandSlot(int Bracket, int Rung, int Config, int Resource);

/// <summary>One trial of a tuning job: one training job.</summary>
public sealed record TrialRecord
{
    /// <summary>0-based launch order.</summary>
    public required int Index { get; init; }
    public required string TrainingJobName { get; init; }
    /// <summary>The tuned hyperparameters (and Hyperband's budget), as passed to the job; static ones are not repeated here.</summary>
    public required IReadOnlyDictionary<string, string> HyperParameters { get; init; }
    public TrialStatus Status { get; init; } = TrialStatus.Pending;
    /// <summary>The objective metric's final value; for a trial stopped early, its last intermediate value.</summary>
    public double? ObjectiveValue { get; init; }
    /// <summary>Stopped by the median rule or at a Hyperband rung (not by the user or the job's stop). Such a trial is never the best.</summary>
    public bool StoppedEarly { get; init; }
    public string? FailureReason { get; init; }
    /// <summary>The objective's values as the job reported them, oldest first (one per iteration for the platform's trainer).</summary>
    public IReadOnlyList<double> IntermediateValues { get; init; } = [];
    /// <summary>The iteration of each of <see cref="IntermediateValues"/> (same length) when the jobs report iterations, else empty.</summary>
    public IReadOnlyList<int> IntermediateIterations { get; init; } = [];
    /// <summary>Order of reaching a terminal status (0-based), for "best not improving"; null while running.</summary>
    public int? EndOrder { get; init; }
    public HyperbandSlot? Hyperband { get; init; }
    /// <summary>Hyperband: the objective at each rung milestone of its bracket the trial reached, lowest first.</summary>
    public IReadOnlyList<double> RungValues { get; init; } = [];
    /// <summary>The iteration of the latest intermediate value, when the jobs report iterations.</summary>
    public int? LastIteration { get; init; }

    [JsonIgnore] public bool IsTerminal => Status is TrialStatus.Completed or TrialStatus.Failed or TrialStatus.Stopped;
    [JsonIgnore] public bool IsActive => Status is TrialStatus.Pending or TrialStatus.InProgress;
}

/// <summary>A configuration to try; <see cref="Hyperband"/> only from the Hyperband strategy.</summary>
public sealed record TrialProposal(IReadOnlyDictionary<string, string> HyperParameters, HyperbandSlot? Hyperband = null);

/// <summary>What a strategy sees: this job's trials (every status) and the warm-start parents' finished trials.</summary>
public sealed record TuningHistory(IReadOnlyList<TrialRecord> Trials, IReadOnlyList<TrialRecord> WarmStart)
{
    /// <summary>The Bayesian surrogate's last fit (<see cref="BayesianSearch.Fit"/>), if any: saves refitting, changes no proposal.</summary>
    public SurrogateFit? Surrogate { get; init; }

    public static TuningHistory Of(IReadOnlyList<TrialRecord> trials) => new(trials, []);
}

/// <summary>
/// Proposes the next configurations. Deterministic: the same seed and the same history give the same proposals, whatever
/// was proposed before (strategies hold no state between calls, so a resumed job proposes what the first one would have;
/// the Bayesian surrogate's fit that a history may carry is a cache of a function of the history).
/// </summary>
public interface ISearchStrategy
{
    /// <summary>Up to <paramref name="count"/> proposals; fewer when the strategy must wait for running trials (Hyperband's rungs)
    /// and none when it has nothing left to try (a finished grid).</summary>
    IReadOnlyList<TrialProposal> Propose(int count, TuningHistory history);
}

/// <summary>Seeds derived from the job's seed and a position, stable across processes and .NET versions (HashCode is not).</summary>
internal static class Seeds
{
    public static Random At(long seed, long position, long stream = 0)
    {
        var z = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)position * 0xBF58476D1CE4E5B9UL ^ (ulong)stream * 0x94D049BB133111EBUL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return new Random((int)(z & 0x7FFFFFFF));
    }
}
