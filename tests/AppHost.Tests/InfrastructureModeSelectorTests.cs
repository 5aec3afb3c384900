using Mlops.AppHost.Infrastructure;

namespace Mlops.Tests;

public sealed class InfrastructureModeSelectorTests
{
    [Theory]
    [InlineData(null, true, InfrastructureMode.Containers)]
    [InlineData(null, false, InfrastructureMode.LocalProcesses)]
    [InlineData("", false, InfrastructureMode.LocalProcesses)]
    [InlineData("auto", true, InfrastructureMode.Containers)]
    [InlineData(" Auto ", false, InfrastructureMode.LocalProcesses)]
    public void Select_AutoOrUnset_DetectsContainerRuntime(string? configured, bool runtimeAnswers, InfrastructureMode expected) =>
        Assert.Equal(expected, InfrastructureModeSelector.Select(configured, () => runtimeAnswers));

    [Theory]
    [InlineData("Containers", InfrastructureMode.Containers)]
    [InlineData("localprocesses", InfrastructureMode.LocalProcesses)]
    [InlineData("EXTERNAL", InfrastructureMode.External)]
    public void Select_ExplicitMode_OverridesDetection(string configured, InfrastructureMode expected)
    {
        var detected = false;
        Assert.Equal(expected, InfrastructureModeSelector.Select(configured, () => detected = true));
        Assert.False(detected, "an explicit mode must not probe for a container runtime");
    }

    [Theory]
    [InlineData("Kubernetes")]
    [InlineData("1")]
    [InlineData("Containers,External")]
    public void Select_UnknownMode_ThrowsListingValidModes(string configured)
    {
        var error = Assert.Throws<ArgumentException>(() => InfrastructureModeSelector.Select(configured, () => true));
        Assert.Contains($"'{configured}'", error.Message);
        Assert.Contains("Valid modes: Auto, Containers, LocalProcesses, External", error.Message);
    }

    [Fact]
    public void ContainerRuntimeAnswers_MissingRuntime_IsFalse() =>
        Assert.False(InfrastructureModeSelector.ContainerRuntimeAnswers("mlops-no-such-container-runtime"));
}
