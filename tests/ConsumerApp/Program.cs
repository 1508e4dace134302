// A consumer of the AdaBits package: two joint training steps at 8 and 4 bits on random 28x28 images,
// then the same weights evaluated at each bit-width through SetBits. Exit 0 only when the losses are finite,
// the two steps lowered the loss on their batch, and the bit-width changes the output.
using AdaBits.Models;
using AdaBits.Modules;
using TorchSharp;
using static TorchSharp.torch;

torch.manual_seed(1);
Bits[] bitsList = [new Bits(8), new Bits(4)];
using var model = new QMnistCnn(new QuantOptions { BitsList = bitsList });
var optimizer = optim.SGD(model.parameters(), 0.05, momentum: 0.9);
using var x = rand(32, 1, 28, 28) * 255;
using var y = randint(0, 10, [32]);

double JointLoss()
{
    using var scope = NewDisposeScope();
    optimizer.zero_grad();
    double total = 0;
    foreach (var bits in bitsList)
    {
        model.SetBits(bits);
        var loss = nn.functional.cross_entropy(model.call(x), y);
        loss.backward();
        total += loss.item<float>();
    }
    optimizer.step();
    return total;
}

model.train();
double first = JointLoss(), second = JointLoss();
Console.WriteLine($"step 1 loss {first:F4}, step 2 loss {second:F4} (sum over {string.Join(", ", bitsList)} bits)");

model.eval();
using var noGrad = no_grad();
using var at8 = model.SetBits(new Bits(8)).call(x);
using var at4 = model.SetBits(new Bits(4)).call(x);
double diff = (at8 - at4).abs().max().item<float>();
Console.WriteLine($"max |logits(8 bits) - logits(4 bits)| = {diff:G4}");

bool ok = double.IsFinite(first) && double.IsFinite(second) && second < first && diff > 0;
Console.WriteLine(ok ? "consumer app: ok" : "consumer app: FAILED");
return ok ? 0 : 1;
