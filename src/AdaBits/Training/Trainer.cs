using System.Collections;
using System.Diagnostics;
using System.Text.Json;
using AdaBits.Checkpoints;
using AdaBits.Config;
using AdaBits.Data;
using AdaBits.Distributed;
using AdaBits.Modules;
using AdaBits.IO;
using TorchSharp;
using TorchSharp.Modules;
using DataLoader = AdaBits.Data.DataLoader;
using static TorchSharp.torch;

namespace AdaBits.Training;

/// <summary>What a finished run reports: the best model's validation numbers per bit-width.</summary>
internal sealed record RunResult(string RunDir, int BestEpoch, IReadOnlyDictionary<Bits, BitsMetrics> Val, double Seconds);

/// <summary>
/// The training pipeline of the reference's train.py (§5): joint adaptive training (every bit-width of
/// bits_list in order on the same batch, gradients summed, one optimizer step), validation every epoch,
/// the best model by the mean top-1 error over bit-widths, atomic checkpoints and exact automatic resume.
/// Fixed relative to the reference: all num_epochs epochs run, resume restores the learning rate, and the
/// validation loss is computed on training-scale logits. Added: distillation between the step's bit-widths
/// (<see cref="Distillation"/>) and a full-precision first stage in the same run (<see cref="TwoStage"/>).
/// </summary>
internal sealed class Trainer : IDisposable
{
    public const string LatestCheckpoint = "latest_checkpoint.pt";
    public const string BestModel = "best_model.pt";
    const string CheckpointFormat = "adabits.net/1";

    readonly TrainConfig cfg;
    readonly RunLog log;
    readonly DataParallel dp;
    /// <summary>Only rank 0 writes the run folder.</summary>
    bool Writes => dp.World.IsRoot;
    readonly Device device;
    readonly DataLoader? trainLoader;
    readonly DataLoader valLoader;
    readonly QLinear? classifier;
    readonly int[] inputShape;
    /// <summary>The joint step's order and each bit-width's teacher (distill).</summary>
    readonly IReadOnlyList<DistillStep> steps;
    /// <summary>Two-stage runs: the random state after set-up, put back after stage 1 so stage 2 starts as a run from fp_pretrained_file does.</summary>
    readonly Tensor? rngAfterSetup;

    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>Tests: stop (as if killed) right after this many epochs' checkpoints are written.</summary>
    internal int? StopAfterEpochs { get; set; }
    /// <summary>Tests: stop as on SIGTERM (mid-epoch checkpoint, <see cref="TrainingStopped"/>) once this many steps are done in all.</summary>
    internal long? StopAfterSteps { get; set; }
    /// <summary>Tests: the losses (step in all, 0-based; bit-width) to turn into NaN, as a diverging step would.</summary>
    internal Func<long, Bits, bool>? CorruptLoss { get; set; }
    /// <summary>The signals that stop the run gracefully (the CLI registers SIGINT and SIGTERM); null: none.</summary>
    public StopSignal? Stop { get; set; }
    /// <summary>Writes every file of the run folder (tests give one that fails).</summary>
    internal AtomicWriter Writer { get; init; } = AtomicWriter.Default;
    public string RunDir => cfg.RunDir;
    /// <summary>Set on the stage-1 trainer a two-stage run starts (<see cref="TwoStage.FpStage"/>); null otherwise.</summary>
    internal string? Stage { get; init; }
    bool IsFpStage => Stage == TwoStage.FpStage;
    /// <summary>What the metrics and results of this trainer's run folder call its stage; null in a single-stage run.</summary>
    string? StageName => Stage ?? (cfg.FpPretrainEpochs > 0 ? TwoStage.JointStage : null);

    /// <summary>The bit-widths trained each step: all of bits_list when adaptive, else its last entry (reference).</summary>
    public IReadOnlyList<Bits> TrainBits => cfg.AdaptiveTraining ? cfg.Quant.BitsList : [cfg.Quant.BitsList[^1]];

    public Trainer(TrainConfig config, RunLog log, bool training)
    {
        cfg = config;
        var world = World.Process;
        this.log = world.IsRoot ? log : new RunLog(TextWriter.Null, interactive: false);
        dp = new DataParallel(world, config, this.log.Line);
        log = this.log;
        device = DeviceFor(config.Device);
        manual_seed(config.RandomSeed);
        var (train, val) = DataSources.Load(config, log.Line, needTrain: training);
        int numClasses = config.NumClasses ?? val.NumClasses;
        Model = ModelFactory.Create(config, val.Channels, numClasses);
        Model.to(device);
        classifier = Model.modules().OfType<QLinear>().LastOrDefault();
        inputShape = [val.Channels, val.Height, val.Width];
        var valTransform = DataSources.Transform(config, training: false);
        valLoader = new DataLoader(val, dp.LocalBatch(config), shuffle: false, config.DropLast, valTransform,
            config.DataLoaderWorkers, config.RandomSeed, shard: dp.Shard(training: false));
        if (train is not null)
            trainLoader = new DataLoader(train, dp.LocalBatch(config), shuffle: true, config.DropLast,
                DataSources.Transform(config, training: true), config.DataLoaderWorkers, config.RandomSeed, shard: dp.Shard(training: true));
        steps = Distillation.Plan(TrainBits, config.Distill);
        if (config.FpPretrainEpochs > 0) rngAfterSetup = get_rng_state();
    }

    public static Device DeviceFor(string name)
    {
        if (name == "cpu") return CPU;
        if (!name.StartsWith("cuda", StringComparison.Ordinal))
            throw new ArgumentException($"device '{name}' is not cpu, cuda or cuda:N");
        if (!cuda.is_available())
            throw new ArgumentException($"device '{name}' asked for, but this build has no CUDA (it uses the TorchSharp-cpu package); use device=cpu, or build with TorchSharp-cuda-linux on a machine with a GPU");
        return new Device(name);
    }

    /// <summary>
    /// Loads model weights from a checkpoint (a `module.` prefix is accepted); with remapKeys (the config's
    /// pretrained_model_remap_keys, for pretrained_file) its keys are first renamed by position.
    /// </summary>
    public void LoadWeights(string path, bool remapKeys = false)
    {
        CheckpointFile.LoadInto(Model, ReadState(path, remapKeys), path);
    }

    /// <summary>The state dict of a checkpoint to load, renamed positionally onto the model's keys when remapping.</summary>
    Dictionary<string, Tensor> ReadState(string path, bool remapKeys) =>
        remapKeys ? KeyRemap.Load(Model, path, log.Line) : CheckpointFile.LoadStateDict(path);

    /// <summary>Runs training to num_epochs (resuming from latest_checkpoint.pt when the run folder has one).</summary>
    public RunResult Train()
    {
        if (trainLoader is null) throw new InvalidOperationException("this trainer was built for evaluation only");
        // Settings that can still fail are checked before anything is written.
        string runDir = cfg.RunDir;
        var schedule = Schedule(cfg, trainLoader.BatchesPerEpoch);
        var fpConfig = cfg.FpPretrainEpochs > 0 ? TwoStage.StageConfig(cfg, runDir) : null;
        if (fpConfig is not null) Schedule(fpConfig, trainLoader.BatchesPerEpoch);
        using var optimizer = BuildOptimizer();
        if (Writes) Directory.CreateDirectory(runDir);
        using var runLock = Writes ? RunLock.Acquire(runDir, log.Line) : null;   // rank 0 alone writes the folder
        // stage 1's lines go to its own train.log and, through the run's, to the run folder's
        using var stageLog = Writes && IsFpStage ? log.AlsoTo(Path.Combine(runDir, "train.log")) : null;
        if (Writes)
        {
            if (!IsFpStage) log.AttachFile(Path.Combine(runDir, "train.log"));
            Writer.WriteAllText(Path.Combine(runDir, "config.yml"), cfg.ToYaml());
        }
        log.FileLine($"run folder: {runDir}");   // the train command has printed it first

        var state = new RunState { Guard = new NonFiniteGuard(cfg.NanPolicy, cfg.NanMaxSkips, log.Line) };
        string latest = Path.Combine(runDir, LatestCheckpoint);
        var fpStage = fpConfig is null ? null : PretrainFullPrecision(fpConfig);
        if (!string.IsNullOrEmpty(cfg.FpPretrainedFile))
        {
            string fp = cfg.FpPretrainedFile;
            int n = FpPretrained.LoadInto(Model, ReadState(fp, cfg.PretrainedModelRemapKeys), fp);
            log.Line($"Loaded full precision model {fp} ({n} tensors, BN copies and clipping levels expanded)");
        }
        if (!string.IsNullOrEmpty(cfg.PretrainedFile)) LoadWeights(PretrainedPath(cfg), cfg.PretrainedModelRemapKeys);
        if (dp.ShareCheckpoint(latest) is string resumeFrom) Resume(resumeFrom, optimizer, state);
        else if (Writes)
        {
            if (cfg.AlphaInit == "mse") CalibrateClipLevels();
            WriteProfile(runDir);
        }
        dp.BroadcastModel(Model);

        var total = Stopwatch.StartNew();
        double secondsBefore = state.Seconds;
        state.Clock = () => secondsBefore + total.Elapsed.TotalSeconds;
        for (int epoch = state.LastEpoch + 1; epoch < cfg.NumEpochs; epoch++)
        {
            var (trainMetrics, trainSeconds) = TrainEpoch(epoch, optimizer, schedule, state, latest);
            double lr = optimizer.Lr;
            var valClock = Stopwatch.StartNew();
            var valMetrics = Evaluate();
            state.LastValSeconds = valClock.Elapsed.TotalSeconds;
            int shown = epoch + 1;
            var lines = new List<string>();
            foreach (var (bits, m) in trainMetrics)
            {
                log.Line(EpochLine("train", shown, bits, m, trainSeconds));
                lines.Add(RunOutputs.MetricsLine(shown, "train", bits, m, lr, trainSeconds, StageName));
            }
            foreach (var (bits, m) in valMetrics)
            {
                log.Line(EpochLine("val", shown, bits, m, state.LastValSeconds));
                lines.Add(RunOutputs.MetricsLine(shown, "val", bits, m, lr, state.LastValSeconds, StageName));
            }
            if (dp.EpochCommLine(shown, cfg.NumEpochs) is string comm) log.Line(comm);
            if (Writes) RunOutputs.AppendMetrics(runDir, lines, Writer);

            // The reference's rule: mean over bit-widths of the 3-decimal top-1 errors, strictly lower wins.
            double score = valMetrics.Values.Average(m => Math.Round(m.Top1Error, 3, MidpointRounding.ToEven));
            NonFiniteGuard.CheckState(Model, shown);
            if (score < state.BestVal)
            {
                state.BestVal = score;
                state.BestEpoch = shown;
                state.BestMetrics = valMetrics;
                if (Writes) CheckpointFile.Save(Path.Combine(runDir, BestModel), new Hashtable { ["model"] = CheckpointFile.ModelState(Model) }, Writer);
                log.Line($"New best validation top1 error: {score:F3}");
            }
            state.LastEpoch = epoch;
            state.Seconds = secondsBefore + total.Elapsed.TotalSeconds;
            if (Writes) SaveLatest(latest, optimizer, state);
            if (StopAfterEpochs is int stop && epoch + 1 + HookOffset.Epochs >= stop)
                throw new OperationCanceledException($"stopped after epoch {epoch + 1}");
            if (dp.AnyRank(Stop?.Requested == true)) throw Stopped($"after epoch {shown}");
        }

        if (state.BestMetrics is null)
            throw new InvalidOperationException($"{latest}: the run finished without a validated best model");
        state.Seconds = secondsBefore + total.Elapsed.TotalSeconds;
        if (!Writes) return new RunResult(runDir, state.BestEpoch, state.BestMetrics, state.Seconds);
        RunOutputs.WriteResults(Path.Combine(runDir, RunOutputs.ResultsFile), cfg.Quant.BitsList, state.BestEpoch, state.BestMetrics, state.Seconds,
            RunFolder.Setting(cfg), Writer, StageName, fpStage);
        log.Line($"best epoch {state.BestEpoch}: " + string.Join(", ", state.BestMetrics.Select(p => $"{p.Key} bits top1 {p.Value.Accuracy(1):F4}")));
        log.Line($"results: {Path.Combine(runDir, RunOutputs.ResultsFile)} ({RunOutputs.Duration(state.Seconds)} in all)");
        log.Line($"report: {Reporting.RunReport.Write(runDir, Writer)}");
        return new RunResult(runDir, state.BestEpoch, state.BestMetrics, state.Seconds);
    }

    LrSchedule Schedule(TrainConfig c, int batchesPerEpoch)
    {
        try
        {
            return new LrSchedule(c.LrScheduler, c.NumEpochs, batchesPerEpoch, c.WarmupEpochs,
                c.BatchSize, c.MultistepLrMilestones, c.MultistepLrGamma, c.ExpDecayingLrGamma, c.ExpDecayingPeriod, c.WarmRestart);
        }
        catch (ArgumentException e)
        {
            string stage = ReferenceEquals(c, cfg) ? "" : $" (stage 1, fp_pretrain_epochs: {c.NumEpochs})";
            throw new ArgumentException($"{cfg.SourcePath}{stage}: {e.Message}", e);
        }
    }

    /// <summary>The test hooks count epochs and steps over both stages of a two-stage run: what stage 1 has when this is stage 2.</summary>
    (int Epochs, long Steps) HookOffset => cfg.FpPretrainEpochs > 0 ? (cfg.FpPretrainEpochs, (long)cfg.FpPretrainEpochs * trainLoader!.BatchesPerEpoch) : (0, 0);

    /// <summary>
    /// Stage 1 of a two-stage run: trains (or resumes, or finds done) the full-precision run in fp_pretrain/, then
    /// expands its best model into this model as fp_pretrained_file would. Returns what results.json records of it.
    /// </summary>
    StageSummary? PretrainFullPrecision(TrainConfig fpConfig)
    {
        string dir = fpConfig.RunDir;
        int n = fpConfig.NumEpochs;
        // rank 0 sees the folder; the others follow its decision
        bool done = dp.AnyRank(Writes && File.Exists(Path.Combine(dir, RunOutputs.ResultsFile)));
        string epochs = n == 1 ? "1 epoch" : $"{n} epochs";
        if (done) log.Line($"stage 1 of 2 (full precision, {epochs}) is done: {dir}");
        else
        {
            log.Line($"stage 1 of 2: full-precision pre-training (bits_list [32], its own BN and clipping levels), {epochs}, in {dir}");
            using var stage = new Trainer(fpConfig, log, training: true)
            {
                Stage = TwoStage.FpStage, Writer = Writer, Stop = Stop, StopAfterEpochs = StopAfterEpochs, StopAfterSteps = StopAfterSteps,
            };
            stage.Train();
        }
        set_rng_state(rngAfterSetup!);
        if (!Writes) return null;   // rank 0's expanded model reaches the other ranks with the start-up broadcast
        var summary = TwoStage.Read(dir, n);
        string best = Path.Combine(dir, BestModel);
        if (!File.Exists(best)) throw new InvalidDataException($"{best}: stage 1 finished but its best model is missing; move {dir} away to train stage 1 again");
        int used = FpPretrained.LoadInto(Model, CheckpointFile.LoadStateDict(best), best);
        log.Line($"stage 2 of 2: joint training at {Bits.ListToString(TrainBits)} for num_epochs = {cfg.NumEpochs}, from stage 1's best model " +
            $"(epoch {summary.BestEpoch} of {n}; {used} tensors, BN copies and clipping levels expanded as fp_pretrained_file does)");
        return summary;
    }

    /// <summary>alpha_init: mse on the first training batch of epoch 0 (no random state is drawn for it).</summary>
    void CalibrateClipLevels()
    {
        var (input, target) = trainLoader!.Epoch(0).First();
        target.Dispose();
        using (input)
        {
            using var onDevice = input.to(device);
            log.Line($"alpha_init: mse: clipping levels calibrated on {input.shape[0]} training images at {Bits.ListToString(TrainBits)}");
            foreach (var line in AlphaCalibration.Run(Model, TrainBits, onDevice)) log.Line("  " + line);
        }
    }

    /// <summary>The profile at every bit-width, printed as the reference does at the start, and kept as profile.json.</summary>
    void WriteProfile(string runDir)
    {
        var (c, h, w) = (inputShape[0], inputShape[1], inputShape[2]);
        // Latency at batch 1 only: at the training batch size a 224x224 MobileNet would spend minutes here.
        var results = Profiling.ModelProfiler.ProfileEach(Model, cfg.Quant.BitsList, c, h, w, batch: 1, latency: true, warmup: 1, repeats: 3,
            each: (profile, timing) => log.Line(Profiling.ProfileReport.Text(profile, cfg.ModelProfilingVerbose, timing)));
        Writer.WriteAllText(Path.Combine(runDir, "profile.json"), Profiling.ProfileReport.Json(results));
    }

    (Dictionary<Bits, BitsMetrics> Metrics, double Seconds) TrainEpoch(int epoch, Optimizer optimizer, LrSchedule schedule, RunState state, string latest)
    {
        Model.train();
        var meters = TrainBits.ToDictionary(b => b, _ => new EpochMeter(cfg.Topk));
        int batches = trainLoader!.BatchesPerEpoch, b = 0;
        long images = 0;
        double secondsBefore = 0;
        if (state.Position is { } at && at.Epoch == epoch)
            (b, images, secondsBefore) = at.RestoreMeters(meters);
        state.Position = null;
        var parameters = Model.parameters().ToArray();
        var guard = state.Guard!;
        bool collective = dp.World.IsDistributed;
        var clock = Stopwatch.StartNew();
        int resumedAt = b;
        long imagesAtStart = images;
        foreach (var (input, target) in trainLoader.Epoch(epoch, firstBatch: b))
        {
            using var _input = input;
            using var _target = target;
            using var scope = NewDisposeScope();
            var x = input.to(device);
            var y = target.to(device);
            dp.BeginStep();
            optimizer.ZeroGrad();
            // skip_step puts back what a dropped step changed besides the weights: BN statistics and the meters
            var restoreBuffers = guard.Skips ? NonFiniteGuard.SnapshotBuffers(Model) : null;
            var metersBefore = guard.Skips ? meters.ToDictionary(p => p.Key, p => p.Value.State) : null;
            (string What, string Bits)? bad = null;
            // teachers' detached logits of this batch, disposed with the step's scope
            var teacherLogits = new Dictionary<Bits, Tensor>();
            foreach (var (bits, teacher) in steps)
            {
                using var inner = NewDisposeScope();
                Model.SetBits(bits);
                var logits = Model.call(x);
                var loss = nn.functional.cross_entropy(logits, y);
                Tensor? kl = null;
                if (teacher is Bits t)
                    (loss, kl) = Distillation.StudentLoss(loss, logits, teacherLogits[t], cfg.DistillWeight, cfg.DistillTemperature);
                if (steps.Any(s => s.Teacher == bits)) teacherLogits[bits] = logits.detach().MoveToOuterDisposeScope();
                if (CorruptLoss?.Invoke(state.Step, bits) == true) loss = loss * float.NaN;
                float lossValue = loss.item<float>();
                // Data-parallel ranks must decide together: gradients are checked after they are averaged (the same
                // on every rank), and a local non-finite loss is shared, so no rank leaves an all-reduce the others wait in.
                if (!float.IsFinite(lossValue) && !collective) { bad = ($"loss ({lossValue})", $"{bits} bits"); break; }
                if (!float.IsFinite(lossValue)) bad ??= ($"loss ({lossValue})", $"{bits} bits on rank {dp.World.Rank}");
                loss.backward();
                dp.AfterBackward(Model.parameters(), lastOfStep: bits == steps[^1].Bits);
                if (!collective && !NonFiniteGuard.GradientsFinite(parameters)) { bad = ("gradient", $"{bits} bits"); break; }
                meters[bits].Add(logits, y, lossValue);
                if (kl is not null) meters[bits].AddDistill(kl.item<float>());
            }
            if (collective)
            {
                bool localBad = bad is not null || !NonFiniteGuard.GradientsFinite(parameters);
                if (dp.AnyRank(localBad)) bad ??= ("gradient", "a bit-width of another rank");
            }
            if (bad is { } nonFinite)
            {
                guard.OnNonFinite(nonFinite.What, epoch + 1, b + 1, batches, nonFinite.Bits);
                optimizer.ZeroGrad();
                restoreBuffers!();
                foreach (var (bits, m) in metersBefore!) meters[bits].Restore(m);
            }
            else
            {
                optimizer.Lr = optimizer.BaseLr * schedule.Factor(state.Step, epoch);
                optimizer.Step();
                // finite gradients can still overflow the weights (a huge lr); such an update cannot be dropped
                if (!NonFiniteGuard.AllFinite(parameters))
                    guard.OnNonFiniteWeights(epoch + 1, b + 1, batches);
                guard.OnFiniteStep();
            }
            dp.EndStep();
            state.Step++;
            b++;
            images += input.shape[0];
            bool logged = b % Math.Max(1, cfg.LogInterval) == 0 || b == batches;
            if (logged || log.LiveUpdateDue)
            {
                double elapsed = clock.Elapsed.TotalSeconds;
                double perStep = elapsed / (b - resumedAt);
                long stepsLeft = (long)(cfg.NumEpochs - epoch) * batches - b;
                double eta = stepsLeft * perStep + (cfg.NumEpochs - epoch) * state.LastValSeconds;
                log.Progress(new TrainProgress(epoch + 1, cfg.NumEpochs, b, batches,
                    meters.Select(p => (p.Key, p.Value.Result().Loss)).ToList(), optimizer.Lr,
                    (images - imagesAtStart) * dp.World.Size / Math.Max(elapsed, 1e-9), eta, guard.Skipped), logged);
            }
            // a signal may reach the ranks at different steps: they stop together, at the first step any rank saw it
            bool stop = dp.AnyRank(Stop?.Requested == true || state.Step + HookOffset.Steps >= StopAfterSteps);
            if (stop || (cfg.CheckpointIntervalSteps > 0 && state.Step % cfg.CheckpointIntervalSteps == 0 && b < batches))
            {
                // The position inside the epoch: a run resumed from here trains the rest of it (an interval
                // checkpoint at the epoch's last step would only repeat the one written after validation).
                state.Position = EpochPosition.Of(epoch, b, images, secondsBefore + clock.Elapsed.TotalSeconds, meters);
                if (Writes) SaveLatest(latest, optimizer, state);
                state.Position = null;
                if (stop) throw Stopped($"at epoch {epoch + 1}, step {b}/{batches}");
            }
        }
        return (dp.Reduce(meters), secondsBefore + clock.Elapsed.TotalSeconds);
    }

    /// <summary>The stop after a checkpoint: one line in the log, the exception the CLI turns into 130 / 143.</summary>
    TrainingStopped Stopped(string where)
    {
        string why = Stop?.Requested == true ? Stop.Signal : "the test hook";
        string message = $"stopped by {why} {where}: {Path.Combine(cfg.RunDir, LatestCheckpoint)} written; the same command resumes the run";
        log.Line(message);
        return new TrainingStopped(message, Stop?.Requested == true ? Stop.ExitCode : StopSignal.SigTermExit);
    }

    /// <summary>Evaluates the model at every bit-width (the last one only when not adaptive), on the validation set.</summary>
    public Dictionary<Bits, BitsMetrics> Evaluate()
    {
        Model.eval();
        using var _ = no_grad();
        var meters = TrainBits.ToDictionary(b => b, _ => new EpochMeter(cfg.Topk));
        foreach (var (input, target) in valLoader.Epoch(0))
        {
            using var _input = input;
            using var _target = target;
            using var scope = NewDisposeScope();
            var x = input.to(device);
            var y = target.to(device);
            foreach (var bits in TrainBits)
            {
                using var inner = NewDisposeScope();
                Model.SetBits(bits);
                var logits = Model.call(x);
                double s = classifier?.LogitScale ?? 1;
                var loss = nn.functional.cross_entropy(s == 1 ? logits : logits.mul(s), y);
                meters[bits].Add(logits, y, loss.item<float>());
            }
        }
        return dp.Reduce(meters);
    }

    Optimizer BuildOptimizer()
    {
        var parameters = Model.parameters().ToArray();
        return cfg.Optimizer switch
        {
            "sgd" => new Sgd(parameters, cfg.Lr, cfg.Momentum, cfg.Nesterov, p => Optimizer.ReferenceWeightDecay(p, cfg.WeightDecay)),
            "rmsprop" => new RmsProp(parameters, cfg.Lr, cfg.OptimDecay, cfg.OptimEps, cfg.Momentum, cfg.WeightDecay),
            _ => throw new ArgumentException($"{cfg.SourcePath}: optimizer '{cfg.Optimizer}' is not sgd or rmsprop"),
        };
    }

    /// <summary>pretrained_file: a path that exists as given, else the reference's pretrained_dir/&lt;setting&gt;/file.</summary>
    public static string PretrainedPath(TrainConfig config)
    {
        if (File.Exists(config.PretrainedFile)) return config.PretrainedFile;
        return Path.Combine(config.PretrainedDir, config.ExperimentSetting, config.PretrainedFile);
    }

    sealed class RunState
    {
        public NonFiniteGuard? Guard;
        /// <summary>Set when the run stopped inside an epoch (a mid-epoch checkpoint).</summary>
        public EpochPosition? Position;
        /// <summary>The run's seconds in all, up to now (earlier sessions included).</summary>
        public Func<double> Clock = () => 0;
        public int LastEpoch = -1;
        public long Step;
        public double BestVal = double.PositiveInfinity;
        public int BestEpoch;
        public Dictionary<Bits, BitsMetrics>? BestMetrics;
        public double Seconds;
        public double LastValSeconds;
    }

    void SaveLatest(string path, Optimizer optimizer, RunState state)
    {
        NonFiniteGuard.CheckState(Model, state.LastEpoch + 2);
        if (state.Position is not null) state.Seconds = state.Clock();
        using var rng = get_rng_state();
        CheckpointFile.Save(path, new Hashtable
        {
            ["model"] = CheckpointFile.ModelState(Model),
            ["optimizer"] = optimizer.StateDict(),
            ["last_epoch"] = state.LastEpoch + 1,
            ["step"] = state.Step,
            ["best_val"] = state.BestVal,
            ["best_epoch"] = state.BestEpoch,
            ["best_metrics"] = state.BestMetrics is null ? "" : MetricsJson(state.BestMetrics),
            ["seconds"] = state.Seconds,
            ["last_val_seconds"] = state.LastValSeconds,
            ["rng_state"] = rng,
            ["format"] = CheckpointFormat,
            ["epoch_position"] = state.Position?.ToJson() ?? "",
            ["nan_skipped"] = state.Guard!.Skipped,
            ["nan_skips_in_row"] = (long)state.Guard.SkipsInRow,
            ["lr"] = optimizer.Lr,
        }, Writer);
    }

    void Resume(string path, Optimizer optimizer, RunState state)
    {
        var ckpt = CheckpointFile.Load(path);
        if (ckpt["format"] as string != CheckpointFormat || ckpt["optimizer"] is not IDictionary opt)
            throw new InvalidDataException($"{path}: not a resumable checkpoint of this program (move it away to start afresh)");
        CheckpointFile.LoadInto(Model, CheckpointFile.StateDictOf(ckpt, path), path);
        optimizer.LoadStateDict(opt, path);
        if (ckpt["lr"] is { } lr) optimizer.Lr = Convert.ToDouble(lr);   // the lr a mid-epoch stop after an epoch's last step logs
        state.LastEpoch = Convert.ToInt32(ckpt["last_epoch"]) - 1;
        state.Step = Convert.ToInt64(ckpt["step"]);
        state.BestVal = Convert.ToDouble(ckpt["best_val"]);
        state.BestEpoch = Convert.ToInt32(ckpt["best_epoch"]);
        state.BestMetrics = ckpt["best_metrics"] is string { Length: > 0 } json ? ParseMetrics(json) : null;
        state.Seconds = Convert.ToDouble(ckpt["seconds"]);
        state.LastValSeconds = Convert.ToDouble(ckpt["last_val_seconds"]);
        if (ckpt["rng_state"] is Tensor rng) set_rng_state(rng);
        if (ckpt["epoch_position"] is string { Length: > 0 } position)
        {
            state.Position = EpochPosition.FromJson(position, path);
            if (state.Position.Batch > trainLoader!.BatchesPerEpoch || state.Position.Epoch != state.LastEpoch + 1)
                throw new InvalidDataException($"{path}: stopped at step {state.Position.Batch} of epoch {state.Position.Epoch + 1}, which this config's {trainLoader.BatchesPerEpoch} steps per epoch do not have (was batch_size or train_limit changed?)");
        }
        state.Guard!.Skipped = ckpt["nan_skipped"] is { } skipped ? Convert.ToInt64(skipped) : 0;
        state.Guard.SkipsInRow = ckpt["nan_skips_in_row"] is { } inRow ? Convert.ToInt32(inRow) : 0;
        if (Writes) RunOutputs.TruncateMetrics(cfg.RunDir, state.LastEpoch + 1, Writer);
        log.Line($"resumed from {path}: {state.LastEpoch + 1} of {cfg.NumEpochs} epochs done" +
            (state.Position is { } at ? $", and {at.Batch} of {trainLoader!.BatchesPerEpoch} steps of epoch {at.Epoch + 1}" : ""));
    }

    // A NaN validation loss is a metric like any other: written as a name, never an exception.
    internal static string MetricsJson(IReadOnlyDictionary<Bits, BitsMetrics> metrics) =>
        JsonSerializer.Serialize(metrics.Select(p => new SavedMetrics(p.Key.Weight, p.Key.Activation, p.Key.IsPair, p.Value.Loss,
            p.Value.TopError.ToDictionary(e => e.Key.ToString(), e => e.Value), p.Value.Samples)).ToList(), EpochPosition.Json);

    internal static Dictionary<Bits, BitsMetrics> ParseMetrics(string json) =>
        JsonSerializer.Deserialize<List<SavedMetrics>>(json, EpochPosition.Json)!.ToDictionary(
            m => m.IsPair ? new Bits(m.Weight, m.Activation) : new Bits(m.Weight),
            m => new BitsMetrics(m.Loss, m.TopError.ToDictionary(e => int.Parse(e.Key), e => e.Value), m.Samples));

    internal sealed record SavedMetrics(int Weight, int Activation, bool IsPair, double Loss, Dictionary<string, double> TopError, long Samples);

    string EpochLine(string phase, int epoch, Bits bits, BitsMetrics m, double seconds) =>
        $"{seconds:F1}s\t{phase}\t{bits} bits\t{(StageName is string s ? s + " " : "")}{epoch}/{cfg.NumEpochs}: loss: {m.Loss:F3}, " +
        string.Join(", ", m.TopError.OrderBy(p => p.Key).Select(p => $"top{p.Key}_error: {p.Value:F3}")) +
        (m.DistillKl is double kl ? $", distill_kl: {kl:F4}" : "");

    public void Dispose()
    {
        trainLoader?.Dispose();
        valLoader.Dispose();
        dp.Dispose();
        Model.Dispose();
        rngAfterSetup?.Dispose();
    }
}
