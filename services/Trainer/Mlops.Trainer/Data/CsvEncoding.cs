using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Mlops.Trainer.Data;

/// <summary>
/// CSV channels are UTF-8. A lenient decoder turns a stray Latin-1 byte into U+FFFD and the value into a
/// new category ("r�in"), so the reader decodes strictly and, when that throws, this finds where the bad
/// byte is: the decoder's own error only knows an offset inside its current buffer.
/// </summary>
internal static class CsvEncoding
{
    private const int ShownPrefix = 24;

    /// <summary>Strict UTF-8 (a byte-order mark is skipped): invalid bytes throw instead of becoming U+FFFD.</summary>
    public static TextReader OpenStrict(string path) =>
        new StreamReader(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: true, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: false);

    /// <summary>The failure for a file that does not decode as UTF-8: file, line, column and the offending bytes.</summary>
    public static TrainerException Refusal(string path, DecoderFallbackException cause)
    {
        var file = Path.GetFileName(path);
        if (FirstInvalidByte(path) is not { } offset)
        {
            return new TrainerException($"{file} cannot be decoded as UTF-8 ({cause.Message}). This is an encoding problem: CSV channels must be UTF-8.", cause);
        }

        var at = Locate(path, offset);
        var where = at.Record == 0
            ? $"line {at.Line}, column {at.Field + 1} of the header row"
            : $"line {at.Line}, column {at.Field + 1}{(HeaderName(path, at.Field) is { } name ? $" ('{name}')" : "")}";
        var after = at.CellPrefix.Length == 0 ? "at the start of the value" : $"after \"{at.CellPrefix}\"";
        return new TrainerException(
            $"{file} {where}: byte{(at.Bad.Length > 1 ? "s" : "")} {string.Join(" ", at.Bad.Select(b => $"0x{b:X2}"))} {after} "
            + "is not valid UTF-8. This is an encoding problem, not a data problem: CSV channels must be UTF-8 (with or without a byte-order mark); "
            + "the file was probably written as Latin-1 or Windows-1252. Re-encode it as UTF-8 (e.g. iconv -f WINDOWS-1252 -t UTF-8).",
            cause);
    }

    /// <summary>The file offset of the first byte that does not start or continue a valid UTF-8 sequence, or null.</summary>
    private static long? FirstInvalidByte(string path)
    {
        using var stream = File.OpenRead(path);
        var bytes = new byte[1 << 16];
        var chars = new char[bytes.Length];
        long start = 0;
        var carried = 0;
        while (true)
        {
            var read = stream.Read(bytes, carried, bytes.Length - carried);
            var length = carried + read;
            var status = Utf8.ToUtf16(bytes.AsSpan(0, length), chars, out var consumed, out _, replaceInvalidSequences: false, isFinalBlock: read == 0);
            if (status == OperationStatus.InvalidData)
            {
                return start + consumed;
            }

            if (read == 0)
            {
                return null;
            }

            // A sequence split across two reads is carried into the next one.
            carried = length - consumed;
            bytes.AsSpan(consumed, carried).CopyTo(bytes);
            start += consumed;
        }
    }

    private sealed record Position(int Line, int Record, int Field, string CellPrefix, byte[] Bad);

    /// <summary>
    /// Walks the bytes before <paramref name="offset"/> as CSV (quotes may hold delimiters and line breaks), so
    /// the position names the physical line and the field. Delimiters and quotes are ASCII, so bytes suffice.
    /// </summary>
    private static Position Locate(string path, long offset)
    {
        using var stream = new BufferedStream(File.OpenRead(path), 1 << 16);
        var delimiter = (byte)GuessDelimiter(path);
        int line = 1, record = 0, field = 0;
        var quoted = false;
        var cell = new List<byte>();
        for (long i = 0; i < offset; i++)
        {
            var b = (byte)stream.ReadByte();
            cell.Add(b);
            if (b == '\n')
            {
                line++;
                if (!quoted)
                {
                    record++;
                    field = 0;
                    cell.Clear();
                }
            }
            else if (b == '"')
            {
                quoted = !quoted;
            }
            else if (b == delimiter && !quoted)
            {
                field++;
                cell.Clear();
            }
        }

        var bad = new byte[4];
        var badLength = stream.Read(bad);
        var prefix = Encoding.UTF8.GetString([.. cell]).Trim('"');
        return new Position(line, record, field, prefix.Length > ShownPrefix ? "…" + prefix[^ShownPrefix..] : prefix,
            bad[..Math.Max(1, InvalidLength(bad.AsSpan(0, badLength)))]);
    }

    /// <summary>How many of the leading bytes form the invalid sequence (a lone byte, or a truncated multi-byte start).</summary>
    private static int InvalidLength(ReadOnlySpan<byte> bytes)
    {
        Rune.DecodeFromUtf8(bytes, out _, out var consumed);
        return consumed;
    }

    /// <summary>Sylvan detects the delimiter from the header line; the most frequent candidate there is the same guess.</summary>
    private static char GuessDelimiter(string path)
    {
        using var stream = File.OpenRead(path);
        var head = new byte[4096];
        var read = stream.Read(head);
        var end = head.AsSpan(0, read).IndexOf((byte)'\n');
        var firstLine = head[..(end < 0 ? read : end)];
        var counts = ",\t;|".Select(c => (Delimiter: c, Count: firstLine.Count(b => b == c))).ToArray();
        return counts.MaxBy(c => c.Count) is { Count: > 0 } best ? best.Delimiter : ',';
    }

    /// <summary>The header's name for <paramref name="field"/>; the header precedes the first bad byte, so it decodes.</summary>
    private static string? HeaderName(string path, int field)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        var header = reader.ReadLine() ?? "";
        var names = header.Split(GuessDelimiter(path));
        return field < names.Length ? names[field].Trim().Trim('"') : null;
    }
}
