using AdaBits.Inference;

// Engine latency per bit-width on random-weight models; `--quick` for a short sanity run, `--threads N`,
// `--compare` (the engine before the fused epilogue / 16-channel tiles and now, interleaved), `--profile model:batch:rounds`, `--no-tune` (EngineOptions.TuneAtLoad off: the fixed order),
// `--split` (each layer split over the threads against whole images per thread, interleaved), `--gap-ms N`
// (a pause before every timed run, so that each starts after the workers parked), `--alone` (small runs after
// a pause on the calling thread alone against always the team, interleaved),
// `--load` (time to build each model with and without tuning at load, alternating),
// `--pass N` images per pass, `--paths Avx512Acc16,AvxVnni,...` to force kernel paths, `--models a,b`.
int threads = Environment.ProcessorCount;
bool quick = false;
string[] models = RandomModels.Names;
var paths = KernelPath.All;
string? profile = null;
bool compare = false, split = false, alone = false, tune = true, load = false;
int gapMs = 0;
int imagesPerPass = 0;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--quick": quick = true; break;
        case "--profile": profile = args[++i]; break;
        case "--compare": compare = true; break;
        case "--split": split = true; break;
        case "--alone": alone = true; break;
        case "--gap-ms": gapMs = int.Parse(args[++i]); break;
        case "--no-tune": tune = false; break;
        case "--load": load = true; break;
        case "--pass": imagesPerPass = int.Parse(args[++i]); break;
        case "--threads": threads = int.Parse(args[++i]); break;
        case "--models": models = args[++i].Split(','); break;
        case "--paths": paths = args[++i].Split(',').Select(Enum.Parse<KernelPath>).Aggregate(KernelPath.None, (a, b) => a | b); break;
        default: Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2;
    }
}
int[] bits = [8, 6, 5, 4, 3, 2];
if (load)
{
    foreach (var m in models)
    {
        var spec = RandomModels.Build(m, bits);
        var ms = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        for (int round = 0; round < 3; round++)
            foreach (bool t in new[] { round % 2 == 0, round % 2 != 0 })
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                _ = new InferenceModel(spec, new EngineOptions { Threads = threads, Paths = paths, TuneAtLoad = t });
                ms[t].Add(sw.Elapsed.TotalMilliseconds);
            }
        Console.WriteLine($"{m}: load ms, fixed order {string.Join(" / ", ms[false].Select(v => v.ToString("F0")))}, tuned {string.Join(" / ", ms[true].Select(v => v.ToString("F0")))}");
    }
    return 0;
}
if (profile is not null)
{
    // model:batch:rounds[:bits], e.g. resnet20:64:5 or mobilenet_v1:64:3:6,4,3
    var f = profile.Split(':');
    int[] profileBits = f.Length > 3 ? f[3].Split(',').Select(int.Parse).ToArray() : [8, 4, 2];
    Profile.Run(f[0], int.Parse(f[1]), int.Parse(f[2]), profileBits, new EngineOptions { Threads = threads, Paths = paths, ImagesPerPass = imagesPerPass, TuneAtLoad = tune });
    return 0;
}
var cases = models.SelectMany(m => new[] { (m, 1, quick ? 7 : 31), (m, 64, m.StartsWith("mobilenet") ? (quick ? 2 : 7) : (quick ? 5 : 15)) });
var options = new EngineOptions { Threads = threads, Paths = paths, TuneAtLoad = tune };
Console.WriteLine($"cpu: {AdaBits.Inference.KernelChoice.Supported()}; threads {threads}");
// --compare: the engine before this change (EngineOptions.Baseline) and now, in the same interleaved rounds
var variants = compare ? new[] { ("before", options with { Baseline = true }), ("after", options) }
    : split ? new[] { ("split", options with { ImageParallel = false }), ("images", options) }
    : alone ? new[] { ("team", options with { ColdAloneMacs = 0 }), ("alone", options) }
    : new[] { ("", options) };
var (rows, switchMs, bytes) = EngineBenchmark.Run(cases, bits, variants, Console.Out, gapMs);
Console.WriteLine();
Console.Write(EngineBenchmark.Table(rows, switchMs, bytes));
return 0;
