namespace Mlops.Trainer;

/// <summary>
/// A problem with the job's input that the user can fix. Its message goes to output/failure verbatim,
/// so it names the problem and the valid choices; anything else is reported as an internal error.
/// </summary>
public sealed class TrainerException(string message, Exception? inner = null) : Exception(message, inner);
