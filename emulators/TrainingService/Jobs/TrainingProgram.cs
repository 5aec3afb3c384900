using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Mlops.TrainingService.Jobs;

/// <summary>
/// A training program as a process in its own session (via setsid), so that stopping it signals everything it started —
/// a shell script's children included — and so that an orphan left by a crashed service can be found by its group.
/// </summary>
public static partial class TrainingProgram
{
    private const int SigTerm = 15;
    private const int SigKill = 9;
    private static readonly string? Setsid = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    public static ProcessStartInfo StartInfo(string command, IEnumerable<string> arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo(Setsid ?? command)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (Setsid is not null)
            info.ArgumentList.Add(command);
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        return info;
    }

    /// <summary>SIGTERM to the program's group (the program alone without setsid).</summary>
    public static void Terminate(int pid) => Signal(pid, SigTerm);

    public static void KillGroup(int pid) => Signal(pid, SigKill);

    private static void Signal(int pid, int signal)
    {
        if (Setsid is null || Kill(-pid, signal) != 0)
            Kill(pid, signal);
    }
}
