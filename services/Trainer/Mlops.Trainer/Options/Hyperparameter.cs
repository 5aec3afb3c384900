using System.Globalization;

namespace Mlops.Trainer.Options;

public enum HyperparameterType
{
    Integer,
    Real,
    Text,
}

/// <summary>
/// One accepted hyperparameter: its type, default (as the string SageMaker would pass), range and meaning.
/// A default of "auto" lets the learner pick. A real with <see cref="Choices"/> also accepts those words, and
/// <see cref="Open"/> excludes the bounds themselves.
/// </summary>
public sealed record Hyperparameter(
    string Name,
    HyperparameterType Type,
    string Default,
    string Description,
    double Min = double.MinValue,
    double Max = double.MaxValue,
    IReadOnlyList<string>? Choices = null,
    bool Open = false)
{
    public const string Auto = "auto";

    public static Hyperparameter Int(string name, int @default, string description, int min = 1, int max = int.MaxValue) =>
        new(name, HyperparameterType.Integer, @default.ToString(CultureInfo.InvariantCulture), description, min, max);

    public static Hyperparameter Real(string name, string @default, string description, double min = 0, double max = double.MaxValue) =>
        new(name, HyperparameterType.Real, @default, description, min, max);

    /// <summary>A word from <paramref name="words"/> (the first is the default) or a number strictly between the bounds.</summary>
    public static Hyperparameter RealOrWord(string name, string description, double min, double max, params string[] words) =>
        new(name, HyperparameterType.Real, words[0], description, min, max, words, Open: true);

    public static Hyperparameter Choice(string name, string @default, string description, params string[] choices) =>
        new(name, HyperparameterType.Text, @default, description, Choices: choices);

    public static Hyperparameter Text(string name, string @default, string description) =>
        new(name, HyperparameterType.Text, @default, description);

    /// <summary>Returns the problem with <paramref name="value"/>, or null when it is acceptable.</summary>
    public string? Check(string value)
    {
        if ((value == Auto && Default == Auto) || (Type == HyperparameterType.Real && Choices?.Contains(value) == true))
        {
            return null;
        }

        var or = Type == HyperparameterType.Real && Choices is { } words ? $" or {string.Join(", ", words.Select(w => $"\"{w}\""))}" : "";

        switch (Type)
        {
            case HyperparameterType.Integer when !int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i):
                return $"'{Name}' must be an integer, got \"{value}\"";
            case HyperparameterType.Integer when int.Parse(value, CultureInfo.InvariantCulture) is var i2 && (i2 < Min || i2 > Max):
                return $"'{Name}' must be between {Min} and {Max}, got {value}";
            case HyperparameterType.Real when !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || !double.IsFinite(d):
                return $"'{Name}' must be a number{(Default == Auto ? " or \"auto\"" : or)}, got \"{value}\"";
            case HyperparameterType.Real when double.Parse(value, CultureInfo.InvariantCulture) is var d2 && (d2 < Min || d2 > Max || (Open && (d2 == Min || d2 == Max))):
                return $"'{Name}' must be {(Open ? "strictly " : "")}between {Min} and {Max}{or}, got {value}";
            case HyperparameterType.Text when Choices is { } choices && !choices.Contains(value):
                return $"'{Name}' must be one of {string.Join(", ", choices)}, got \"{value}\"";
            default:
                return null;
        }
    }
}

/// <summary>Resolved hyperparameters (every accepted name, given or defaulted), with typed accessors.</summary>
public sealed class HyperparameterValues(IReadOnlyDictionary<string, string> values)
{
    public IReadOnlyDictionary<string, string> All => values;

    public string Text(string name) => values[name];

    public int Int(string name) => int.Parse(values[name], CultureInfo.InvariantCulture);

    public double Real(string name) => double.Parse(values[name], CultureInfo.InvariantCulture);

    public float? RealOrAuto(string name) =>
        values[name] == Hyperparameter.Auto ? null : float.Parse(values[name], CultureInfo.InvariantCulture);

    public int? IntOrAuto(string name) =>
        values[name] == Hyperparameter.Auto ? null : int.Parse(values[name], CultureInfo.InvariantCulture);

    public IReadOnlyList<string> List(string name) =>
        values[name].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
