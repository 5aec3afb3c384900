using System.Text;

namespace Mlops.FeatureStore.Features.Ingestion;

/// <summary>
/// CSV as RFC 4180 writes it, read strictly so that nothing is guessed: UTF-8 (a BOM is skipped), comma-separated, the
/// first line a header naming the columns, fields optionally in double quotes (a quote inside one doubled), records ending
/// in CRLF, LF or CR. Every record must have as many fields as the header. An unquoted empty field is null; a quoted empty
/// field (<c>""</c>) is the empty string. Blank lines are skipped. The first structural fault (a ragged record, an
/// unterminated quote, a stray quote, text that is not UTF-8) refuses the whole file with its line number: nothing is
/// written, and nothing is read past it.
/// </summary>
/// <remarks>
/// Parsed on bytes (the delimiter, quote and line ends are ASCII, so never part of a multi-byte character), and each field
/// decoded strictly: a bad byte is refused with its line and column instead of becoming U+FFFD in the stored value.
/// </remarks>
public sealed class CsvRecordSource : IRecordSource
{
    private const byte Comma = (byte)',', Quote = (byte)'"', Cr = (byte)'\r', Lf = (byte)'\n';
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _position, _end;
    private long _line = 1; // the line of the next byte

    // The current record: its bytes (quotes removed, doubled quotes undone) and its fields' spans within them.
    private byte[] _record = new byte[1024];
    private int _recordLength;
    private readonly List<(int Start, int Length, bool Quoted)> _fields = [];
    private long _recordLine;

    private readonly string[] _header;
    private readonly int[] _map; // field position → schema index

    public CsvRecordSource(Stream stream, GroupSchema schema)
    {
        _stream = stream;
        SkipByteOrderMark();
        if (!ReadRecord())
            throw ProblemException.BadRequest("The CSV file is empty; it needs a header row naming the columns. Nothing was written.");
        _header = new string[_fields.Count];
        for (var i = 0; i < _fields.Count; i++)
            _header[i] = Decode(i, "the header");
        _map = FileColumns.Match(_header, schema);
    }

    public long? Total => null;

    /// <summary>The line the current record starts on (1-based; the header is line 1).</summary>
    public long? Line => _recordLine;

    public bool Read(object?[] raw, long row, ProblemList problems)
    {
        if (!ReadRecord())
            return false;
        if (_fields.Count != _header.Length)
            throw Refuse(_recordLine,
                $"line {_recordLine} has {_fields.Count} field(s) but the header has {_header.Length}",
                new() { ["expected_fields"] = _header.Length, ["actual_fields"] = _fields.Count });
        Array.Clear(raw);
        for (var i = 0; i < _fields.Count; i++)
            raw[_map[i]] = _fields[i] is { Length: 0, Quoted: false } ? null : Decode(i, $"column '{_header[i]}'");
        return true;
    }

    private string Decode(int field, string what)
    {
        var (start, length, _) = _fields[field];
        try
        {
            return StrictUtf8.GetString(_record, start, length);
        }
        catch (DecoderFallbackException)
        {
            throw Refuse(_recordLine, $"line {_recordLine}, field {field + 1} ({what}) is not valid UTF-8; the file must be UTF-8 text",
                new() { ["field"] = field + 1 });
        }
    }

    private static ProblemException Refuse(long line, string what, Dictionary<string, object?> extensions)
    {
        extensions["line"] = line;
        return ProblemException.BadRequest($"The file is not valid CSV: {what}. Nothing was written.", extensions);
    }

    private void SkipByteOrderMark()
    {
        if (Peek() == 0xEF && Fill(3) && _buffer[_position + 1] == 0xBB && _buffer[_position + 2] == 0xBF)
            _position += 3;
        else if (Peek() is 0xFF or 0xFE && Fill(2) && (_buffer[_position + 1] is 0xFE or 0xFF))
            throw Refuse(1, "it starts with a UTF-16 byte-order mark; the file must be UTF-8 text", []);
    }

    /// <summary>Reads the next record into <see cref="_fields"/>; false at the end of the file.</summary>
    private bool ReadRecord()
    {
        _fields.Clear();
        _recordLength = 0;
        int b;
        while ((b = Peek()) is Cr or Lf)
            EndLine(); // blank lines
        if (b < 0)
            return false;
        _recordLine = _line;
        while (true)
        {
            var start = _recordLength;
            var quoted = Peek() == Quote;
            if (quoted)
            {
                var opened = _line;
                Next();
                while (true)
                {
                    b = Next();
                    if (b < 0)
                        throw Refuse(opened, $"the quoted field {_fields.Count + 1} that opens on line {opened} is never closed",
                            new() { ["field"] = _fields.Count + 1 });
                    if (b == Quote)
                    {
                        if (Peek() != Quote)
                            break;
                        Next();
                    }
                    else if (b == Lf || (b == Cr && Peek() != Lf))
                        _line++;
                    Append((byte)b);
                }
                if (Peek() is >= 0 and not (Comma or Cr or Lf) and var after)
                    throw Refuse(_line, $"line {_line}: the quoted field {_fields.Count + 1} is followed by '{(char)after}' instead of a comma or the end of the line",
                        new() { ["field"] = _fields.Count + 1 });
            }
            else
            {
                while ((b = Peek()) >= 0 && b is not (Comma or Cr or Lf))
                {
                    if (b == Quote)
                        throw Refuse(_line, $"line {_line}: field {_fields.Count + 1} has a '\"' but is not quoted (quote the field and double the '\"')",
                            new() { ["field"] = _fields.Count + 1 });
                    Append((byte)b);
                    Next();
                }
            }
            _fields.Add((start, _recordLength - start, quoted));
            if (Peek() == Comma)
            {
                Next();
                continue;
            }
            if (Peek() >= 0)
                EndLine();
            return true;
        }
    }

    private void EndLine()
    {
        if (Next() == Cr && Peek() == Lf)
            Next();
        _line++;
    }

    private void Append(byte b)
    {
        if (_recordLength == _record.Length)
            Array.Resize(ref _record, _record.Length * 2);
        _record[_recordLength++] = b;
    }

    private int Peek() => _position < _end || Fill(1) ? _buffer[_position] : -1;

    private int Next() => _position < _end || Fill(1) ? _buffer[_position++] : -1;

    /// <summary>Makes at least <paramref name="count"/> bytes available from the current position, if the file has them.</summary>
    private bool Fill(int count)
    {
        if (_end - _position >= count)
            return true;
        Buffer.BlockCopy(_buffer, _position, _buffer, 0, _end - _position);
        (_end, _position) = (_end - _position, 0);
        while (_end < count)
        {
            var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
                return false;
            _end += read;
        }
        return true;
    }
}
