namespace AdaBits.Models;

/// <summary>Channel-count rounding for width multipliers (the reference's round_width, §2.8).</summary>
internal static class Widths
{
    /// <summary>
    /// round_width(width, wm, width_divisor, min_width): with wm 0 the width is returned unchanged; otherwise
    /// w = width * wm is rounded to the nearest multiple of widthDivisor (halves up), at least minWidth
    /// (widthDivisor when minWidth is null), and bumped by one divisor if that lost more than 10% of w.
    /// </summary>
    public static int RoundWidth(int width, double widthMult, int widthDivisor = 1, int? minWidth = 1)
    {
        if (widthMult == 0) return width;
        if (widthDivisor < 1) throw new ArgumentOutOfRangeException(nameof(widthDivisor), $"width_divisor must be >= 1, got {widthDivisor}");
        if (widthMult < 0) throw new ArgumentOutOfRangeException(nameof(widthMult), $"width_mult must be >= 0, got {widthMult}");
        double w = width * widthMult;
        long rounded = (long)Math.Floor(w + widthDivisor / 2.0) / widthDivisor * widthDivisor;
        long result = Math.Max(minWidth ?? widthDivisor, rounded);
        if (result < 0.9 * w) result += widthDivisor;
        return checked((int)result);
    }
}
