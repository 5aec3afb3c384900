using Mlops.ExperimentTracker.Features.Registry;
using Mlops.ExperimentTracker.Mlflow;

namespace Mlops.ExperimentTracker.Tests;

public sealed class ValidateTests
{
    [Theory]
    [InlineData(Validate.MaxExperimentNameLength)]
    [InlineData(Validate.MaxParamValueLength)]
    [InlineData(Validate.MaxTagValueLength)]
    public void Length_AtTheLimit_IsAccepted_OneMoreIsInvalidParameterValueNamingFieldAndLimit(int limit)
    {
        var atLimit = new string('x', limit);
        Assert.Same(atLimit, Validate.Length(atLimit, "Experiment name", limit));

        var error = Assert.Throws<MlflowException>(() => Validate.Length(atLimit + "y", "Experiment name", limit));
        Assert.Equal(MlflowException.InvalidParameterValue, error.ErrorCode);
        Assert.Equal(400, error.StatusCode);
        Assert.StartsWith("Experiment name 'xxxx", error.Message);
        Assert.EndsWith($"had length {limit + 1}, which exceeded length limit of {limit}.", error.Message);
    }

    [Fact]
    public void Length_ShorterThanThePreview_StillNamesTheLimit() =>
        Assert.Contains("exceeded length limit of 3", Assert.Throws<MlflowException>(() => Validate.Length("abcd", "'digest'", 3)).Message);

    [Fact]
    public void Value_NamesTheKindAndKey()
    {
        var error = Assert.Throws<MlflowException>(() => Validate.Value(new string('v', 6001), "Param", "lr", Validate.MaxParamValueLength));
        Assert.StartsWith("Param value for 'lr' 'vvvv", error.Message);
        Assert.Contains("exceeded length limit of 6000", error.Message);
    }

    [Fact]
    public void EntityKey_OverTheKeyLimit_NamesIt() =>
        Assert.Contains("Tag key 'kkkk", Assert.Throws<MlflowException>(() => Validate.EntityKey(new string('k', 251), "Tag")).Message);

    [Fact]
    public void Name_MissingIsRequired_TooLongNamesTheLimit()
    {
        Assert.Contains("'new_name'", Assert.Throws<MlflowException>(() => Validate.Name(null, "new_name", "Experiment name", 500)).Message);
        Assert.Contains("length limit of 500", Assert.Throws<MlflowException>(() => Validate.Name(new string('e', 501), "name", "Experiment name", 500)).Message);
    }

    [Fact]
    public void Registry_ModelNameAliasAndTags_HaveMlflowsLimits()
    {
        Assert.Equal(new string('m', 250), RegistryValidation.ModelName(new string('m', 250)));
        Assert.Contains("Registered model name", Assert.Throws<MlflowException>(() => RegistryValidation.ModelName(new string('m', 251))).Message);
        Assert.Contains("length limit of 255", Assert.Throws<MlflowException>(() => RegistryValidation.AliasName(new string('a', 256))).Message);
        Assert.Equal(5000, RegistryValidation.Tags([new("k", new string('t', 5000))])[0].Value!.Length);
        Assert.Contains("Tag value for 'k'", Assert.Throws<MlflowException>(() => RegistryValidation.Tags([new("k", new string('t', 5001))])).Message);
    }
}
