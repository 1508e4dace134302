using AdaBits.Inference;

// Engine latency per bit-width on random-weight models; `--quick` for a short sanity run, `--threads N`,
// `--paths Avx512Acc16,AvxVnni,...` to force kernel paths, `--models a,b`.
int threads = Environment.ProcessorCount;
bool quick = false;
string[] models = RandomModels.Names;
var paths = KernelPath.All;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--quick": quick = true; break;
        case "--threads": threads = int.Parse(args[++i]); break;
        case "--models": models = args[++i].Split(','); break;
        case "--paths": paths = args[++i].Split(',').Select(Enum.Parse<KernelPath>).Aggregate(KernelPath.None, (a, b) => a | b); break;
        default: Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2;
    }
}
int[] bits = [8, 6, 5, 4, 3, 2];
var cases = models.SelectMany(m => new[] { (m, 1, quick ? 7 : 31), (m, 64, m.StartsWith("mobilenet") ? (quick ? 2 : 7) : (quick ? 5 : 15)) });
var options = new EngineOptions { Threads = threads, Paths = paths };
Console.WriteLine($"cpu: {AdaBits.Inference.KernelChoice.Supported()}; threads {threads}");
var (rows, switchMs, bytes) = EngineBenchmark.Run(cases, bits, options, Console.Out);
Console.WriteLine();
Console.Write(EngineBenchmark.Table(rows, switchMs, bytes));
return 0;
