namespace Mlops.Tests;

internal static class Poll
{
    /// <summary>Polls until <paramref name="probe"/> yields a value, or fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static Task<T> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what) where T : class =>
        UntilAsync(probe, timeout, () => what);

    /// <summary>As above, with the failure message built when the wait fails (so it can show the state at that moment).</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, Func<string> what) where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await probe() is { } value)
                return value;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for {what()}.");
            await Task.Delay(200);
        }
    }
}
