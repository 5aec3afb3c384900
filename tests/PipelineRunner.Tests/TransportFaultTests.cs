using Amazon.Runtime;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Tests;

/// <summary>Which exceptions out of a step fail it as the service's fault (Step.SERVICE_FAULT, retried by a retry policy) rather than the step's.</summary>
public sealed class TransportFaultTests
{
    public static TheoryData<Exception, bool> Cases() => new()
    {
        { new HttpRequestException("Connection refused (localhost:9000)"), true },
        { new HttpIOException(HttpRequestError.ResponseEnded, "The response ended prematurely."), true },
        { new AmazonClientException("Expected hash not equal to calculated hash"), true },
        // Other SDK failures (bad credentials, a missing region) and everything else are the step's.
        { new AmazonClientException("No RegionEndpoint or ServiceURL configured"), false },
        { new InvalidDataException("Column 'delay' is missing."), false },
        { new IOException("Disk full"), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TransportFailures_AreTheServicesFault_OthersTheSteps(Exception e, bool serviceFault) =>
        Assert.Equal(serviceFault, ExecutionEngine.IsTransportFault(e));
}
