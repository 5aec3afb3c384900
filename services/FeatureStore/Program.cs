using Mlops;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMlopsPlatform(ResourceNames.FeatureStoreDb, typeof(Program).Assembly);

var app = builder.Build();
app.MapMlopsPlatformEndpoints();
app.Run();
