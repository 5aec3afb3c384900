using Amazon.CDK;
using Mlops.Deploy;

var app = new App();
try
{
    PlatformApp.Build(app, DeploySettings.FromContext(app.Node));
}
catch (DeployConfigurationException e)
{
    // One line naming the value and the choices, not a stack trace through jsii.
    Console.Error.WriteLine(e.Message);
    return 1;
}
app.Synth();
return 0;
