using System.Text.Json;
using System.Text.Json.Serialization;

namespace AdaBits.Training;

/// <summary>
/// Where a run stopped inside an epoch, as a mid-epoch checkpoint records it: the epoch (0-based), the batches
/// of it already trained, the images seen, the epoch's training seconds so far and its meters' sums per
/// bit-width. The data order and augmentation of an epoch are a function of (seed, epoch, sample), so a resumed
/// run that starts at batch <see cref="Batch"/> and restores the meters ends the epoch with the metrics an
/// uninterrupted run has.
/// </summary>
internal sealed record EpochPosition(int Epoch, int Batch, long Images, double Seconds, Dictionary<string, MeterState> Meters)
{
    /// <summary>Doubles are written round-trip exact; a non-finite one (a skipped step never adds one) as a name, not an error.</summary>
    internal static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static EpochPosition Of(int epoch, int batch, long images, double seconds, IReadOnlyDictionary<Modules.Bits, EpochMeter> meters) =>
        new(epoch, batch, images, seconds, meters.ToDictionary(p => p.Key.ToString(), p => p.Value.State));

    /// <summary>Puts the saved sums into this run's meters; returns (batch, images, seconds) to continue from.</summary>
    public (int Batch, long Images, double Seconds) RestoreMeters(IReadOnlyDictionary<Modules.Bits, EpochMeter> meters)
    {
        foreach (var (bits, meter) in meters)
            meter.Restore(Meters.TryGetValue(bits.ToString(), out var s) ? s
                : throw new InvalidDataException($"the checkpoint's position inside epoch {Epoch + 1} has no meter for {bits} bits (was bits_list changed?)"));
        return (Batch, Images, Seconds);
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static EpochPosition FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<EpochPosition>(json, Json)
                ?? throw new InvalidDataException($"{source}: empty epoch position");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: the saved position inside the epoch is not readable ({e.Message})");
        }
    }
}
