namespace AdaBits.Inference;

/// <summary>
/// Random-weight models with the layer shapes of q_mnist_cnn, ResNet-20 (CIFAR) and MobileNet V1/V2 (224),
/// built through <see cref="ModelSpec"/> exactly as a trained model's description would be: for benchmarks
/// and tests. Weights are tanh-normalised random latents; BN scales keep activations inside the clipping
/// range so that codes use all levels.
/// </summary>
internal sealed class RandomModels
{
    readonly Random rng;
    readonly int[] bits;
    readonly QuantScheme wScheme, aScheme;
    readonly List<LayerSpec> layers = [];
    int nextTensor = 1;

    RandomModels(int[] bitsList, int seed, QuantScheme weightScheme, QuantScheme actScheme)
    {
        bits = bitsList;
        rng = new Random(seed);
        wScheme = weightScheme;
        aScheme = actScheme;
    }

    public static readonly string[] Names = ["q_mnist_cnn", "resnet20", "mobilenet_v1", "mobilenet_v2"];

    public static ModelSpec Build(string name, int[] bitsList, int seed = 1, QuantScheme weightScheme = QuantScheme.Modified, QuantScheme actScheme = QuantScheme.Original)
    {
        var m = new RandomModels(bitsList, seed, weightScheme, actScheme);
        return name switch
        {
            "q_mnist_cnn" => m.Mnist(),
            "resnet20" => m.ResNet20(),
            "mobilenet_v1" => m.MobileNetV1(),
            "mobilenet_v2" => m.MobileNetV2(),
            _ => throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", Names)})"),
        };
    }

    ModelSpec Spec(int c, int h, int w) => new() { BitsList = bits, InputChannels = c, InputHeight = h, InputWidth = w, Layers = layers };

    ModelSpec Mnist()
    {
        int x = Conv("head", 0, 1, 16, 3, 1, 1, relu: true, quantIn: false, fixedWeightBits: 8);
        int c = 16;
        foreach (var (width, stride) in new[] { (32, 2), (32, 1), (64, 2), (64, 1) })
        {
            x = Conv($"body.{layers.Count - 1}", x, c, width, 3, stride, 1, relu: true);
            c = width;
        }
        x = Pool(x);
        Linear(x, c, 10, fixedWeightBits: 8, fixedActBits: 8);
        return Spec(1, 28, 28);
    }

    ModelSpec ResNet20()
    {
        int top = bits.Max();
        int x = Conv("head", 0, 3, 16, 3, 1, 1, relu: true, quantIn: false, fixedWeightBits: top);
        int c = 16;
        int[] feats = [16, 32, 64];
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 3; i++)
            {
                int stride = i == 0 && j != 0 ? 2 : 1, o = feats[j];
                int b1 = Conv($"stage_{j}_layer_{i}.body.0", x, c, o, 3, stride, 1, relu: true);
                int shortcut = stride == 1 && c == o ? x : Conv($"stage_{j}_layer_{i}.shortcut.0", x, c, o, 1, stride, 0, relu: false);
                x = Conv($"stage_{j}_layer_{i}.body.3", b1, o, o, 3, 1, 1, relu: true, residual: shortcut);
                c = o;
            }
        x = Pool(x);
        Linear(x, c, 10, fixedWeightBits: top, fixedActBits: null);
        return Spec(3, 32, 32);
    }

    ModelSpec MobileNetV1()
    {
        int x = Conv("head", 0, 3, 32, 3, 2, 1, relu: true, quantIn: false, fixedWeightBits: 8);
        int c = 32, idx = 0;
        foreach (var (o, n, s) in new[] { (64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2) })
        {
            for (int i = 0; i < n; i++, idx++)
            {
                x = Conv($"stage_{idx}.dw", x, c, c, 3, i == 0 ? s : 1, 1, relu: true, groups: c);
                x = Conv($"stage_{idx}.pw", x, c, o, 1, 1, 0, relu: true);
                c = o;
            }
        }
        x = Pool(x);
        Linear(x, c, 1000, fixedWeightBits: 8, fixedActBits: null);
        return Spec(3, 224, 224);
    }

    ModelSpec MobileNetV2()
    {
        int x = Conv("head", 0, 3, 32, 3, 2, 1, relu: true, quantIn: false, fixedWeightBits: 8);
        int c = 32, idx = 0;
        foreach (var (t, o, n, s) in new[] { (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1) })
            for (int i = 0; i < n; i++, idx++)
            {
                int stride = i == 0 ? s : 1, hidden = c * t, input = x, h = x;
                if (t != 1) h = Conv($"stage_{idx}.expand", h, c, hidden, 1, 1, 0, relu: true);
                h = Conv($"stage_{idx}.dw", h, hidden, hidden, 3, stride, 1, relu: true, groups: hidden);
                x = Conv($"stage_{idx}.project", h, hidden, o, 1, 1, 0, relu: false, residual: stride == 1 && c == o ? input : -1);
                c = o;
            }
        x = Conv("tail", x, c, 1280, 1, 1, 0, relu: true);
        x = Pool(x);
        Linear(x, 1280, 1000, fixedWeightBits: 8, fixedActBits: null);
        return Spec(3, 224, 224);
    }

    int Pool(int input)
    {
        layers.Add(new LayerSpec { Op = LayerOp.GlobalAvgPool, Name = "avgpool", Input = input, Output = nextTensor });
        return nextTensor++;
    }

    ActivationSpec Quant(int? fixedBits) =>
        new(aScheme, false, bits.Select(_ => (float)(2 + 6 * rng.NextDouble())).ToArray(), bits.Select(b => fixedBits ?? b).ToArray());

    Dictionary<int, byte[]> Levels(int count, int[] weightBits, double std)
    {
        var latent = new float[count];
        // the reference's init scales (spec 4.5): tanh is then nearly linear and the levels bell-shaped, as in trained nets
        for (int i = 0; i < count; i++) latent[i] = (float)(std * Gaussian());
        var levels = new Dictionary<int, byte[]>();
        foreach (int b in QuantMath.Nested(wScheme) ? [weightBits.Max()] : weightBits.Distinct())
            levels[b] = QuantMath.WeightLevels(latent, b, wScheme);
        return levels;
    }

    double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    int Conv(string name, int input, int cin, int cout, int k, int stride, int pad, bool relu, bool quantIn = true,
        int? fixedWeightBits = null, int groups = 1, int residual = -1)
    {
        var wb = bits.Select(b => fixedWeightBits ?? b).ToArray();
        int fanIn = cin / groups * k * k;
        var quant = quantIn ? Quant(null) : null;
        float inputScale = quantIn ? 5 : 1;
        var bnScale = bits.Select(_ => Enumerable.Range(0, cout).Select(_ => (float)((0.5 + rng.NextDouble()) * 6 / (Math.Sqrt(fanIn) * inputScale * 0.5))).ToArray()).ToArray();
        var bnShift = bits.Select(_ => Enumerable.Range(0, cout).Select(_ => (float)(rng.NextDouble() * 2 - 0.5)).ToArray()).ToArray();
        layers.Add(new LayerSpec
        {
            Op = LayerOp.Conv2d, Name = name, Input = input, Output = nextTensor, Residual = residual, Relu = relu,
            InChannels = cin, OutChannels = cout, KernelH = k, KernelW = k, StrideH = stride, StrideW = stride, PadH = pad, PadW = pad, Groups = groups,
            WeightScheme = wScheme, WeightBits = wb, WeightLevels = Levels(cout * fanIn, wb, Math.Sqrt(2.0 / (k * k * cout))),
            SatScale = bits.Select(_ => (float)(0.5 + rng.NextDouble())).ToArray(), BnScale = bnScale, BnShift = bnShift, InputQuant = quant,
        });
        return nextTensor++;
    }

    void Linear(int input, int cin, int cout, int fixedWeightBits, int? fixedActBits)
    {
        var wb = bits.Select(_ => fixedWeightBits).ToArray();
        layers.Add(new LayerSpec
        {
            Op = LayerOp.Linear, Name = "classifier.0", Input = input, Output = nextTensor, InChannels = cin, OutChannels = cout,
            WeightScheme = wScheme, WeightBits = wb, WeightLevels = Levels(cout * cin, wb, 1 / Math.Sqrt(cin)), SatScale = bits.Select(_ => 1f).ToArray(),
            Bias = Enumerable.Range(0, cout).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(),
            BiasDivisor = bits.Select(_ => (float)(0.05 + 0.1 * rng.NextDouble())).ToArray(),
            InputQuant = Quant(fixedActBits),
        });
        nextTensor++;
    }
}
