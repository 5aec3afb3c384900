using Microsoft.ML;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using Mlops.Trainer.Model;
using Mlops.Trainer.Options;

namespace Mlops.Trainer.Learners;

/// <summary>What a learner factory gets: columns, resolved hyperparameters and the job's seed.</summary>
public sealed record LearnerInputs(string LabelColumn, string FeatureColumn, HyperparameterValues Values, int Seed);

/// <summary>
/// One algorithm for one problem type. Trees cope with raw scales; linear learners need normalised
/// features. Tree ensembles expose their trees, which the diagnostics replay to draw learning curves.
/// </summary>
public sealed record Learner(
    string Name,
    ProblemType Problem,
    string Description,
    bool NeedsNormalization,
    TreeEnsembleKind Trees,
    IReadOnlyList<Hyperparameter> Parameters,
    Func<MLContext, LearnerInputs, IEstimator<ITransformer>> Create);

public enum TreeEnsembleKind
{
    None,

    /// <summary>Boosted: the prediction is the sum of the trees so far.</summary>
    Boosted,

    /// <summary>A forest: the prediction is the mean of the trees so far.</summary>
    Forest,
}

public static class LearnerCatalog
{
    public const string DefaultAlgorithm = "lightgbm";

    private static readonly Hyperparameter NumLeaves = Hyperparameter.Int("num_leaves", 31, "maximum leaves per tree", 2, 131072);
    private static readonly Hyperparameter MinDataInLeaf = Hyperparameter.Int("min_data_in_leaf", 20, "minimum training rows per leaf");
    private static readonly Hyperparameter LearningRate = Hyperparameter.Real("learning_rate", "0.1", "shrinkage per boosting round", 1e-6, 1);
    private static readonly Hyperparameter FeatureFraction = Hyperparameter.Real("feature_fraction", "1", "fraction of features each tree may use", 0.01, 1);
    private static readonly Hyperparameter L1 = new("l1_regularization", HyperparameterType.Real, Hyperparameter.Auto, "L1 penalty", 0);
    private static readonly Hyperparameter L2 = new("l2_regularization", HyperparameterType.Real, Hyperparameter.Auto, "L2 penalty", 0);
    private static readonly Hyperparameter MaxIterations = new("max_iterations", HyperparameterType.Integer, Hyperparameter.Auto, "passes over the data", 1, 100000);

    private static readonly IReadOnlyList<Hyperparameter> LightGbmParameters =
    [
        Hyperparameter.Int("num_iterations", 100, "boosting rounds", 1, 100000), LearningRate, NumLeaves, MinDataInLeaf,
        Hyperparameter.Real("l2_regularization", "0", "L2 penalty on leaf values"), FeatureFraction,
    ];

    private static readonly IReadOnlyList<Hyperparameter> FastTreeParameters =
    [
        Hyperparameter.Int("num_trees", 100, "boosting rounds", 1, 100000), LearningRate with { Default = "0.2" },
        NumLeaves with { Default = "20" }, MinDataInLeaf with { Default = "10" }, FeatureFraction,
    ];

    private static readonly IReadOnlyList<Hyperparameter> FastForestParameters =
    [
        Hyperparameter.Int("num_trees", 100, "trees in the forest", 1, 100000), NumLeaves with { Default = "20" },
        MinDataInLeaf with { Default = "10" }, FeatureFraction with { Default = "0.7" },
    ];

    private static readonly IReadOnlyList<Hyperparameter> SdcaParameters = [L1, L2, MaxIterations];

    private static readonly IReadOnlyList<Hyperparameter> LbfgsParameters =
    [
        L1 with { Default = "1" }, L2 with { Default = "1" }, MaxIterations with { Default = "100" },
        Hyperparameter.Real("optimization_tolerance", "1e-7", "stop when the loss improves less than this", 1e-12, 1),
    ];

    public static IReadOnlyList<Learner> All { get; } =
    [
        new("lightgbm", ProblemType.Binary, "LightGBM gradient-boosted trees", false, TreeEnsembleKind.Boosted, LightGbmParameters,
            (ml, x) => ml.BinaryClassification.Trainers.LightGbm(LightGbm(new LightGbmBinaryTrainer.Options { EvaluationMetric = LightGbmBinaryTrainer.Options.EvaluateMetricType.AreaUnderCurve }, x))),
        new("fasttree", ProblemType.Binary, "FastTree (MART) gradient-boosted trees", false, TreeEnsembleKind.Boosted, FastTreeParameters,
            (ml, x) => ml.BinaryClassification.Trainers.FastTree(FastTree(new FastTreeBinaryTrainer.Options(), x))),
        new("fastforest", ProblemType.Binary, "random forest (FastForest)", false, TreeEnsembleKind.Forest, FastForestParameters,
            (ml, x) => ml.BinaryClassification.Trainers.FastForest(FastForest(new FastForestBinaryTrainer.Options(), x))),
        new("sdca", ProblemType.Binary, "logistic regression by stochastic dual coordinate ascent", true, TreeEnsembleKind.None, SdcaParameters,
            (ml, x) => ml.BinaryClassification.Trainers.SdcaLogisticRegression((SdcaLogisticRegressionBinaryTrainer.Options)Sdca(new SdcaLogisticRegressionBinaryTrainer.Options(), x))),
        new("lbfgs", ProblemType.Binary, "logistic regression by L-BFGS", true, TreeEnsembleKind.None, LbfgsParameters,
            (ml, x) => ml.BinaryClassification.Trainers.LbfgsLogisticRegression(Lbfgs(new LbfgsLogisticRegressionBinaryTrainer.Options(), x))),

        new("lightgbm", ProblemType.Multiclass, "LightGBM gradient-boosted trees", false, TreeEnsembleKind.None, LightGbmParameters,
            (ml, x) => ml.MulticlassClassification.Trainers.LightGbm(LightGbm(new LightGbmMulticlassTrainer.Options { EvaluationMetric = LightGbmMulticlassTrainer.Options.EvaluateMetricType.LogLoss }, x))),
        new("sdca", ProblemType.Multiclass, "maximum entropy by stochastic dual coordinate ascent", true, TreeEnsembleKind.None, SdcaParameters,
            (ml, x) => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy((SdcaMaximumEntropyMulticlassTrainer.Options)Sdca(new SdcaMaximumEntropyMulticlassTrainer.Options(), x))),
        new("lbfgs", ProblemType.Multiclass, "maximum entropy by L-BFGS", true, TreeEnsembleKind.None, LbfgsParameters,
            (ml, x) => ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy(Lbfgs(new LbfgsMaximumEntropyMulticlassTrainer.Options(), x))),

        new("lightgbm", ProblemType.Regression, "LightGBM gradient-boosted trees", false, TreeEnsembleKind.Boosted, LightGbmParameters,
            (ml, x) => ml.Regression.Trainers.LightGbm(LightGbm(new LightGbmRegressionTrainer.Options { EvaluationMetric = LightGbmRegressionTrainer.Options.EvaluateMetricType.RootMeanSquaredError }, x))),
        new("fasttree", ProblemType.Regression, "FastTree (MART) gradient-boosted trees", false, TreeEnsembleKind.Boosted, FastTreeParameters,
            (ml, x) => ml.Regression.Trainers.FastTree(FastTree(new FastTreeRegressionTrainer.Options(), x))),
        new("fastforest", ProblemType.Regression, "random forest (FastForest)", false, TreeEnsembleKind.Forest, FastForestParameters,
            (ml, x) => ml.Regression.Trainers.FastForest(FastForest(new FastForestRegressionTrainer.Options(), x))),
        new("sdca", ProblemType.Regression, "linear regression by stochastic dual coordinate ascent", true, TreeEnsembleKind.None, SdcaParameters,
            (ml, x) => ml.Regression.Trainers.Sdca(Sdca(new SdcaRegressionTrainer.Options(), x))),
    ];

    public static IReadOnlyList<Learner> For(ProblemType problem) => [.. All.Where(l => l.Problem == problem)];

    public static Learner? Find(ProblemType problem, string name) => All.FirstOrDefault(l => l.Problem == problem && l.Name == name);

    // ML.NET declares these options on generic nested base classes; one configurator per family keeps
    // the mapping from hyperparameter names to option fields in one place.
    private static TO LightGbm<TO, TOut, TTr, TM>(LightGbmTrainerBase<TO, TOut, TTr, TM>.OptionsBase o, LearnerInputs x)
        where TO : LightGbmTrainerBase<TO, TOut, TTr, TM>.OptionsBase, new()
        where TTr : ISingleFeaturePredictionTransformer<TM>
        where TM : class
    {
        Columns(o, x);
        o.NumberOfIterations = x.Values.Int("num_iterations");
        o.LearningRate = x.Values.Real("learning_rate");
        o.NumberOfLeaves = x.Values.Int("num_leaves");
        o.MinimumExampleCountPerLeaf = x.Values.Int("min_data_in_leaf");
        o.Booster = new GradientBooster.Options
        {
            L2Regularization = x.Values.Real("l2_regularization"),
            FeatureFraction = x.Values.Real("feature_fraction"),
        };
        o.Seed = x.Seed;

        // LightGBM's deterministic mode was 15x slower on the flights data, and with a fixed seed and thread
        // count the default mode already reproduced identical models (see the trainer tests).
        o.Deterministic = false;
        o.Silent = true;

        // Verbose makes ML.NET evaluate the train and validation sets with the native booster every 50 iterations
        // (the metric set per problem type above); IterationMetrics prints those checkpoints while the job runs.
        o.Verbose = true;

        // One-hot slots carry categorical annotations that LightGBM would turn into categorical splits, which
        // overfit badly on airport-sized vocabularies (measured on the flights data); plain splits on the indicators do not.
        o.UseCategoricalSplit = false;
        return (TO)o;
    }

    private static T FastTree<T>(T o, LearnerInputs x)
        where T : BoostedTreeOptions
    {
        Trees(o, x);
        o.LearningRate = x.Values.Real("learning_rate");

        // Evaluate train and validation after every tree and log it (IterationMetrics reads the log). Evaluation only:
        // no early stopping or pruning is configured, so the trees are the same.
        o.TestFrequency = 1;
        return o;
    }

    private static T FastForest<T>(T o, LearnerInputs x)
        where T : FastForestOptionsBase => Trees(o, x);

    private static T Trees<T>(T o, LearnerInputs x)
        where T : TreeOptions
    {
        Columns(o, x);
        o.NumberOfTrees = x.Values.Int("num_trees");
        o.NumberOfLeaves = x.Values.Int("num_leaves");
        o.MinimumExampleCountPerLeaf = x.Values.Int("min_data_in_leaf");
        o.FeatureFraction = x.Values.Real("feature_fraction");
        o.Seed = x.Seed;
        o.FeatureSelectionSeed = x.Seed;
        return o;
    }

    private static TO Sdca<TO, TTr, TM>(SdcaTrainerBase<TO, TTr, TM>.OptionsBase o, LearnerInputs x)
        where TO : SdcaTrainerBase<TO, TTr, TM>.OptionsBase, new()
        where TTr : ISingleFeaturePredictionTransformer<TM>
        where TM : class
    {
        Columns(o, x);
        o.L1Regularization = x.Values.RealOrAuto("l1_regularization");
        o.L2Regularization = x.Values.RealOrAuto("l2_regularization");
        o.MaximumNumberOfIterations = x.Values.IntOrAuto("max_iterations");

        // SDCA's multi-threaded updates race; one thread is what makes a seed reproduce the model.
        o.NumberOfThreads = 1;
        return (TO)o;
    }

    private static TO Lbfgs<TO, TTr, TM>(LbfgsTrainerBase<TO, TTr, TM>.OptionsBase o, LearnerInputs x)
        where TO : LbfgsTrainerBase<TO, TTr, TM>.OptionsBase, new()
        where TTr : ISingleFeaturePredictionTransformer<TM>
        where TM : class
    {
        Columns(o, x);
        o.L1Regularization = (float)x.Values.Real("l1_regularization");
        o.L2Regularization = (float)x.Values.Real("l2_regularization");
        o.MaximumNumberOfIterations = x.Values.Int("max_iterations");
        o.OptimizationTolerance = (float)x.Values.Real("optimization_tolerance");
        return (TO)o;
    }

    private static void Columns(TrainerInputBaseWithLabel options, LearnerInputs x)
    {
        options.LabelColumnName = x.LabelColumn;
        options.FeatureColumnName = x.FeatureColumn;
    }
}
