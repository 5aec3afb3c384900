using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Mlops.Serving.Features.Inference;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Serving.Features.Capture;

/// <summary>
/// SageMaker's data-capture and Model Monitor's ground-truth records (JSON Lines) and where they go in S3.
/// One capture record per scored row (not per request), so each carries its row's own inferenceId and ground truth joins
/// one to one. The input is the row as the model saw it (its schema's columns, typed) and the output the prediction,
/// both as JSON text in <c>data</c> with encoding JSON.
/// </summary>
public static class CaptureFormat
{
    public const string EventVersion = "0";
    private const string JsonType = "application/json";

    // Quotes inside data escaped as \" (as SageMaker writes them), not \u0022; the files are never embedded in HTML.
    private static readonly JsonWriterOptions Writer = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The folder for an hour: <c>{prefix}/{endpoint}/{variant}/yyyy/mm/dd/hh/</c> (UTC), as SageMaker lays capture out.</summary>
    public static string CaptureFolder(string prefix, string endpoint, string variant, DateTimeOffset at) =>
        $"{prefix.Trim('/')}/{endpoint}/{variant}/{Hour(at)}/";

    /// <summary>The ground-truth folder for the hour the labels arrived: <c>{prefix}/{endpoint}/yyyy/mm/dd/hh/</c>.</summary>
    public static string GroundTruthFolder(string prefix, string endpoint, DateTimeOffset at) => $"{prefix.Trim('/')}/{endpoint}/{Hour(at)}/";

    /// <summary>A file name within a folder, SageMaker-style: <c>mm-ss-fff-{uuid}.jsonl</c>.</summary>
    public static string FileName(DateTimeOffset at) => $"{at.UtcDateTime:mm-ss-fff}-{Guid.NewGuid()}.jsonl";

    /// <summary>
    /// A random (version 4) UUID for a record's eventId, from <see cref="Random.Shared"/>: an id must be unique, not
    /// unguessable, and <see cref="Guid.NewGuid"/> costs a system call per id, once per captured row.
    /// </summary>
    public static Guid NewEventId()
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    private static string Hour(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy/MM/dd/HH", CultureInfo.InvariantCulture);

    /// <summary>One capture record (one line, no trailing newline).</summary>
    public static string CaptureRecord(DataTable inputs, int row, ScoredRow prediction, string eventId, DateTimeOffset at)
    {
        var output = new ArrayBufferWriter<byte>();
        new RecordWriter().Write(output, inputs, row, prediction, eventId, at);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    /// <summary>
    /// Writes capture records straight into a buffer, reusing its JSON writers and scratch space across records (the
    /// capture writer formats every captured row, on the same cores that serve requests): property names pre-encoded, the
    /// input column names encoded once per table, the inference time formatted once per request. One per thread.
    /// </summary>
    public sealed class RecordWriter
    {
        private readonly ArrayBufferWriter<byte> _scratch = new(512);
        private readonly Utf8JsonWriter _inner = new(Stream.Null, Writer);
        private readonly Utf8JsonWriter _outer = new(Stream.Null, Writer);
        private DataTable? _namesOf;
        private JsonEncodedText[] _names = [];
        private DateTimeOffset _timeOf = DateTimeOffset.MinValue;
        private JsonEncodedText _time;

        public void Write(IBufferWriter<byte> output, DataTable inputs, int row, ScoredRow prediction, ReadOnlySpan<char> eventId, DateTimeOffset at)
        {
            if (!ReferenceEquals(_namesOf, inputs))
            {
                _names = [.. inputs.Columns.Select(c => JsonEncodedText.Encode(c.Name, Writer.Encoder))];
                _namesOf = inputs;
            }
            if (at != _timeOf || _time.EncodedUtf8Bytes.Length == 0)
            {
                Span<char> text = stackalloc char[24];
                at.UtcDateTime.TryFormat(text, out var length, "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
                _time = JsonEncodedText.Encode(text[..length]);
                _timeOf = at;
            }
            var w = _outer;
            w.Reset(output);
            w.WriteStartObject();
            w.WriteStartObject(Names.CaptureData);
            _scratch.ResetWrittenCount();
            _inner.Reset(_scratch);
            WriteInput(_inner, inputs, row, _names);
            _inner.Flush();
            WriteData(w, Names.EndpointInput, Names.Input, _scratch.WrittenSpan);
            _scratch.ResetWrittenCount();
            _inner.Reset(_scratch);
            WriteOutput(_inner, prediction);
            _inner.Flush();
            WriteData(w, Names.EndpointOutput, Names.Output, _scratch.WrittenSpan);
            w.WriteEndObject();
            w.WriteStartObject(Names.EventMetadata);
            w.WriteString(Names.EventId, eventId);
            w.WriteString(Names.InferenceId, prediction.InferenceId);
            w.WriteString(Names.InferenceTime, _time);
            w.WriteEndObject();
            w.WriteString(Names.EventVersion, Names.EventVersionValue);
            w.WriteEndObject();
            w.Flush();
        }
    }

    // Every property name and fixed value, encoded once.
    private static class Names
    {
        public static readonly JsonEncodedText CaptureData = JsonEncodedText.Encode("captureData");
        public static readonly JsonEncodedText EventMetadata = JsonEncodedText.Encode("eventMetadata");
        public static readonly JsonEncodedText EventId = JsonEncodedText.Encode("eventId");
        public static readonly JsonEncodedText InferenceId = JsonEncodedText.Encode("inferenceId");
        public static readonly JsonEncodedText InferenceTime = JsonEncodedText.Encode("inferenceTime");
        public static readonly JsonEncodedText EventVersion = JsonEncodedText.Encode("eventVersion");
        public static readonly JsonEncodedText EventVersionValue = JsonEncodedText.Encode(CaptureFormat.EventVersion);
        public static readonly JsonEncodedText EndpointInput = JsonEncodedText.Encode("endpointInput");
        public static readonly JsonEncodedText EndpointOutput = JsonEncodedText.Encode("endpointOutput");
        public static readonly JsonEncodedText Input = JsonEncodedText.Encode("INPUT");
        public static readonly JsonEncodedText Output = JsonEncodedText.Encode("OUTPUT");
        public static readonly JsonEncodedText ObservedContentType = JsonEncodedText.Encode("observedContentType");
        public static readonly JsonEncodedText Mode = JsonEncodedText.Encode("mode");
        public static readonly JsonEncodedText Data = JsonEncodedText.Encode("data");
        public static readonly JsonEncodedText Encoding = JsonEncodedText.Encode("encoding");
        public static readonly JsonEncodedText ApplicationJson = JsonEncodedText.Encode(JsonType);
        public static readonly JsonEncodedText Json = JsonEncodedText.Encode("JSON");
        public static readonly JsonEncodedText PredictedLabel = JsonEncodedText.Encode("predicted_label");
        public static readonly JsonEncodedText Score = JsonEncodedText.Encode("score");
        public static readonly JsonEncodedText Probability = JsonEncodedText.Encode("probability");
        public static readonly JsonEncodedText ClassProbabilities = JsonEncodedText.Encode("class_probabilities");
    }

    /// <summary>One ground-truth record: the label as CSV data, keyed by the inference id it labels.</summary>
    public static string GroundTruthRecord(string inferenceId, string label)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Writer))
        {
            w.WriteStartObject();
            w.WriteStartObject("groundTruthData");
            w.WriteString("data", label);
            w.WriteString("encoding", "CSV");
            w.WriteEndObject();
            w.WriteStartObject("eventMetadata");
            w.WriteString("eventId", inferenceId);
            w.WriteEndObject();
            w.WriteString("eventVersion", EventVersion);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteData(Utf8JsonWriter w, JsonEncodedText name, JsonEncodedText mode, ReadOnlySpan<byte> data)
    {
        w.WriteStartObject(name);
        w.WriteString(Names.ObservedContentType, Names.ApplicationJson);
        w.WriteString(Names.Mode, mode);
        w.WriteString(Names.Data, data);
        w.WriteString(Names.Encoding, Names.Json);
        w.WriteEndObject();
    }

    /// <summary>The row as a JSON object of the model's input columns: numbers (missing: null), booleans, strings, ISO 8601 timestamps.</summary>
    public static string InputJson(DataTable inputs, int row) =>
        Json(w => WriteInput(w, inputs, row, [.. inputs.Columns.Select(c => JsonEncodedText.Encode(c.Name, Writer.Encoder))]));

    /// <summary>The prediction as JSON: predicted_label, score, probability (binary), class_probabilities (multiclass).</summary>
    public static string OutputJson(ScoredRow p) => Json(w => WriteOutput(w, p));

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, Writer))
            write(w);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteInput(Utf8JsonWriter w, DataTable inputs, int row, JsonEncodedText[] names)
    {
        w.WriteStartObject();
        for (var c = 0; c < names.Length; c++)
        {
            w.WritePropertyName(names[c]);
            switch (inputs.Columns[c].Values)
            {
                case float[] f when float.IsNaN(f[row]): w.WriteNullValue(); break;
                case float[] f: w.WriteNumberValue(f[row]); break;
                case bool[] b: w.WriteBooleanValue(b[row]); break;
                case string?[] s when s[row] is { } text: w.WriteStringValue(text); break;
                case DateTime?[] d when d[row] is { } time:
                {
                    Span<char> text = stackalloc char[24];
                    time.TryFormat(text, out var length, "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
                    w.WriteStringValue(text[..length]);
                    break;
                }
                default: w.WriteNullValue(); break;
            }
        }
        w.WriteEndObject();
    }

    private static void WriteOutput(Utf8JsonWriter w, ScoredRow p)
    {
        w.WriteStartObject();
        w.WritePropertyName(Names.PredictedLabel);
        switch (p.PredictedLabel)
        {
            case null: w.WriteNullValue(); break;
            case bool b: w.WriteBooleanValue(b); break;
            case string s: w.WriteStringValue(s); break;
            case float f when float.IsFinite(f): w.WriteNumberValue(f); break;
            case var other: JsonSerializer.Serialize(w, other); break;
        }
        if (float.IsFinite(p.Score))
            w.WriteNumber(Names.Score, p.Score);
        else
            w.WriteNull(Names.Score);
        if (p.Probability is { } probability)
            w.WriteNumber(Names.Probability, probability);
        if (p.ClassProbabilities is { } classes)
        {
            w.WriteStartObject(Names.ClassProbabilities);
            foreach (var (name, value) in classes)
                w.WriteNumber(name, value);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
