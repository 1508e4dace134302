using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace AdaBits.Cli;

/// <summary>Typed, range-checked options and the config tokens, declared the same way by every command.</summary>
internal static class CliOptions
{
    /// <summary>An integer option in [min, max]; the messages name the option and the value.</summary>
    public static Option<int> Int(string name, string description, int? fallback, int min, int max, bool required = false)
    {
        var option = new Option<int>(name)
        {
            Description = $"{description} ({min}..{max})",
            Required = required,
            HelpName = "N",
            CustomParser = r =>
            {
                string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n))
                {
                    r.AddError($"{name} expects an integer, got '{text}'");
                    return 0;
                }
                if (n < min || n > max) r.AddError($"{name} must be in {min}..{max}, got {n}");
                return n;
            },
        };
        if (fallback is int value) option.DefaultValueFactory = _ => value;
        return option;
    }

    /// <summary>A string option restricted to <paramref name="choices"/> (the first is the default unless none is given).</summary>
    public static Option<string> Choice(string name, string description, string? fallback, params string[] choices)
    {
        var option = new Option<string>(name)
        {
            Description = description,
            HelpName = string.Join("|", choices),
        };
        if (fallback is not null) option.DefaultValueFactory = _ => fallback;
        option.CompletionSources.Add(choices);
        option.Validators.Add(r =>
        {
            string? v = r.GetValueOrDefault<string>();
            if (v is not null && !choices.Contains(v))
                r.AddError($"{name} must be one of {string.Join(", ", choices)}, got '{v}'");
        });
        return option;
    }

    public static Option<string> Text(string name, string helpName, string description, bool required = false) =>
        new(name) { Description = description, HelpName = helpName, Required = required };

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>
    /// The original's tokens: <c>app:CONFIG.yml</c>, <c>bs:N</c> and <c>key=value</c> (read by ConfigLoader). A
    /// token that looks like an option is refused here, naming the nearest option of the command.
    /// </summary>
    public static Argument<string[]> ConfigTokens(Command command, string description =
        "app:CONFIG.yml (the YAML config), bs:N (batch size) and key=value overrides (value read as YAML)")
    {
        var tokens = new Argument<string[]>("config") { Description = description, Arity = ArgumentArity.ZeroOrMore, HelpName = "app:CONFIG.yml [bs:N] [key=value ...]" };
        tokens.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (t.Value.StartsWith('-')) { r.AddError(ParseErrors.UnknownOption(t.Value, command)); return; }
        });
        command.Arguments.Add(tokens);
        return tokens;
    }
}
