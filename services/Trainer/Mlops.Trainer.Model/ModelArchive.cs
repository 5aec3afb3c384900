using System.Formats.Tar;
using System.IO.Compression;

namespace Mlops.Trainer.Model;

/// <summary>
/// How a model package is stored: a folder holding <see cref="PackageFiles"/>, or a SageMaker training job's
/// <c>model.tar.gz</c> holding them at its root (the trainer's <c>model/</c> folder). One reader for every service that
/// loads packages (Serving, Monitor).
/// </summary>
public static class ModelArchive
{
    /// <summary>The files a package needs (package.json names the schema; model.zip is the ML.NET model).</summary>
    public static readonly string[] PackageFiles = [ModelManifest.FileName, ModelManifest.ModelFileName];

    /// <summary>A training job's <c>model.tar.gz</c> rather than a folder.</summary>
    public static bool IsArchive(string uri) =>
        uri.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || uri.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Unpacks the archive's regular files into <paramref name="directory"/>, flat or in sub-folders, refusing entries that
    /// would land outside it; the package files must be at its root. Throws <see cref="InvalidDataException"/> whose message
    /// completes "the archive …" (not a gzip tar, an entry outside its root, package files missing).
    /// </summary>
    public static async Task ExtractAsync(Stream archive, string directory, CancellationToken ct)
    {
        var root = Path.GetFullPath(directory) + Path.DirectorySeparatorChar;
        string? outside = null;
        try
        {
            await using var gzip = new GZipStream(archive, CompressionMode.Decompress);
            await using var tar = new TarReader(gzip);
            while (await tar.GetNextEntryAsync(copyData: false, ct) is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                    continue;
                var relative = entry.Name.Replace('\\', '/').TrimStart('.', '/');
                var target = Path.GetFullPath(Path.Combine(directory, relative));
                if (relative.Length == 0 || !target.StartsWith(root, StringComparison.Ordinal))
                {
                    outside = entry.Name;
                    break;
                }
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await using var file = File.Create(target);
                await entry.DataStream.CopyToAsync(file, ct);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new InvalidDataException($"is not a gzip-compressed tar archive ({e.Message}).", e);
        }
        if (outside is not null)
            throw new InvalidDataException($"has an entry '{outside}' outside its root.");

        var missing = PackageFiles.Where(f => !File.Exists(Path.Combine(directory, f))).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"has no {string.Join(" or ", missing)} at its root: it is not a model package.");
    }
}
