namespace Mlops.Contracts;

/// <summary>
/// A synthetic event a service sends through its outbox to prove the path HTTP → database → outbox → bus → consumer works.
/// Every service consumes it and records a receipt, so a platform engineer can check the whole loop with one call.
/// </summary>
/// <param name="ProbeId">Identifies the probe across services.</param>
/// <param name="Origin">The service that sent it.</param>
/// <param name="SentAt">When the sending transaction committed the probe.</param>
public sealed record ProbeSent(Guid ProbeId, string Origin, DateTimeOffset SentAt);
