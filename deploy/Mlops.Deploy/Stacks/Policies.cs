using Amazon.CDK.AWS.IAM;

namespace Mlops.Deploy.Stacks;

internal static class Policies
{
    /// <summary>Adds one Allow statement to the role's policy, with an optional single condition.</summary>
    public static void Allow(this IRole role, string sid, string[] actions, string[] resources,
        (string Operator, string Key, object Value)? condition = null) =>
        role.AddToPrincipalPolicy(new PolicyStatement(new PolicyStatementProps
        {
            Sid = sid,
            Actions = actions,
            Resources = resources,
            Conditions = condition is { } c
                ? new Dictionary<string, object> { [c.Operator] = new Dictionary<string, object> { [c.Key] = c.Value } }
                : null,
        }));
}
