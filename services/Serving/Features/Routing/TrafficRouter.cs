using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Mlops.Serving.Features.Alarms;
using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Models;

namespace Mlops.Serving.Features.Routing;

/// <summary>A variant as a replica serves it: its configuration, once loaded its model, and (new configurations) the window the built-in alarms read.</summary>
public sealed record LiveVariant(Variant Spec, int ConfigVersion, LoadedModel? Model, VariantWindow? Window = null);

/// <summary>
/// An endpoint as a replica routes it: the current configuration's variants and, while a deployment runs, the new
/// configuration's variants taking <see cref="NewShare"/> percent of the requests, or (shadowing) answering none while
/// <see cref="ShadowPercent"/> percent of the requests are mirrored to them.
/// </summary>
public sealed record EndpointRoute(string Name, long Revision, IReadOnlyList<LiveVariant> Current, IReadOnlyList<LiveVariant>? Next, int NewShare,
    DataCaptureConfig DataCapture, string? DeploymentId, string? DeploymentState = null, DeploymentStrategy? Strategy = null)
{
    public IEnumerable<LiveVariant> All => Next is null ? Current : Current.Concat(Next);

    /// <summary>The variants that answer requests: the new configuration's only once it has a share.</summary>
    public IEnumerable<LiveVariant> Answering => Next is null || NewShare <= 0 ? Current : Current.Concat(Next);

    public int ShadowPercent => DeploymentState == DeploymentStates.Shadowing && Next is { Count: > 0 } ? Strategy?.ShadowPercent ?? 0 : 0;
}

/// <summary>
/// Picks the variant that serves a request. A target variant wins (SageMaker's TargetVariant). Otherwise the request goes
/// to the new configuration with probability <c>NewShare</c>%, then to a variant by weight. With a sticky key both draws
/// come from a hash of the key instead of a random number, so the same key lands on the same variant while the split holds,
/// and as a rollout raises the share keys only ever move from the old configuration to the new one.
/// </summary>
public static class TrafficRouter
{
    public static LiveVariant Pick(EndpointRoute route, string? targetVariant, string? stickyKey, Random random)
    {
        if (targetVariant is not null)
            return FindTarget(route, targetVariant)
                ?? throw ProblemException.NotFound($"Endpoint '{route.Name}' has no variant '{targetVariant}'. Variants: {string.Join(", ", route.Answering.Select(v => v.Spec.Name).Distinct())}.");

        var fleetDraw = stickyKey is null ? random.NextDouble() : Unit(stickyKey, "fleet");
        var fleet = route.Next is { Count: > 0 } next && route.NewShare > 0 && fleetDraw * 100 < route.NewShare ? next : route.Current;
        var variantDraw = stickyKey is null ? random.NextDouble() : Unit(stickyKey, "variant");
        return ByWeight(fleet, variantDraw);
    }

    /// <summary>A shadow variant for a mirrored request, by weight among the new configuration's variants.</summary>
    public static LiveVariant? PickShadow(EndpointRoute route, Random random) =>
        route.ShadowPercent > 0 && route.Next is { Count: > 0 } next ? ByWeight(next, random.NextDouble()) : null;

    /// <summary>Each variant's share of all requests, in percent (shadow variants: 0, with the percent mirrored to them).</summary>
    public static IReadOnlyList<TrafficShare> Shares(EndpointRoute route)
    {
        var newShare = route.Next is { Count: > 0 } ? route.NewShare : 0;
        return [.. Fleet(route.Current, 100 - newShare, null), .. route.Next is null ? [] : Fleet(route.Next, newShare, route.ShadowPercent > 0 ? route.ShadowPercent : null)];

        static IEnumerable<TrafficShare> Fleet(IReadOnlyList<LiveVariant> fleet, double percent, double? mirrored)
        {
            var total = fleet.Sum(v => v.Spec.Weight);
            return fleet.Select(v => new TrafficShare(v.Spec.Name, v.Spec.ModelName, v.Spec.ModelVersion, v.ConfigVersion,
                Math.Round(percent * v.Spec.Weight / total, 4), mirrored is { } m ? Math.Round(m * v.Spec.Weight / total, 4) : null));
        }
    }

    /// <summary>A uniform number in [0, 1) from a key: the same key and salt always give the same number.</summary>
    public static double Unit(string key, string salt)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(salt + "\u0000" + key), digest);
        var hash = BinaryPrimitives.ReadUInt64BigEndian(digest);
        return (hash >> 11) * (1.0 / (1UL << 53));
    }

    // Index loops, not LINQ or foreach over the interface: this runs on every request.
    private static LiveVariant ByWeight(IReadOnlyList<LiveVariant> fleet, double draw)
    {
        if (fleet.Count == 1)
            return fleet[0];
        var total = 0.0;
        for (var i = 0; i < fleet.Count; i++)
            total += fleet[i].Spec.Weight;
        var point = draw * total;
        for (var i = 0; i < fleet.Count; i++)
        {
            if (point < fleet[i].Spec.Weight)
                return fleet[i];
            point -= fleet[i].Spec.Weight;
        }
        return fleet[^1];
    }

    // A name both configurations use resolves to the one carrying the larger share of traffic. A configuration without a
    // share (blue/green still provisioning, shadow variants) cannot be targeted: it answers nobody.
    private static LiveVariant? FindTarget(EndpointRoute route, string name)
    {
        var current = route.Current.FirstOrDefault(v => v.Spec.Name == name);
        var next = route.NewShare > 0 ? route.Next?.FirstOrDefault(v => v.Spec.Name == name) : null;
        return (current, next) switch
        {
            ({ } c, { } n) => route.NewShare >= 50 ? n : c,
            _ => current ?? next,
        };
    }
}
