# Regenerates the remap_tiny_*.pt fixtures with the original PyTorch code (reference only, not part of the build):
#   /usr/bin/python3 make_remap_fixtures.py [OUT_DIR]
# Environment: REF_DIR (original code, default /tmp/ref), REF_TOOLS (cpu_patch folder, default /work/shared/tools/reference).
#
# A tiny model of the original's layers at bits_list [5, 4, 3] with switch_alpha (the config
# apps/cifar10/q_resnet_uint8_train_val.yml): conv (no bias), switchable BN, ReLU, conv (bias), switchable
# BN without affine (stats_sharing style: its own weight/bias plus the copies), linear. Its state_dict
# interleaves parameters and buffers module by module, which is PyTorch's order and not TorchSharp's.
# Every value is random, so a tensor that lands under the wrong key shows. Written by torch.save (torch 1.13):
#   remap_tiny_b543.pt          {'model': state_dict()}                     (OrderedDict, protocol 2)
#   remap_tiny_b543_renamed.pt  {'model': OrderedDict(p000, p001, ...)}     the same tensors, keys renamed in order
#   remap_tiny_b543_module.pt   {'state_dict': {'module.p000': ...}, 'epoch': 3}   (plain dict, 'module.' prefix)
#   remap_tiny_b543_p4.pt       OrderedDict('module.<original key>': ...)   (top level, pickle protocol 4)
import collections
import os
import sys

REF = os.environ.get('REF_DIR', '/tmp/ref')
TOOLS = os.environ.get('REF_TOOLS', '/work/shared/tools/reference')
sys.path[:0] = [REF, TOOLS]
out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
sys.argv = ['x', 'app:' + os.path.join(REF, 'apps/cifar10/q_resnet_uint8_train_val.yml')]
from utils.config import FLAGS  # noqa: E402
import cpu_patch  # noqa: E402,F401
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from models.quant_ops import QConv2d, QLinear, SwitchBN2d  # noqa: E402

assert list(FLAGS.bits_list) == [5, 4, 3] and FLAGS.switch_alpha
torch.manual_seed(0)
model = nn.Sequential(
    QConv2d(3, 4, 3, bias=False),
    SwitchBN2d(4),
    nn.ReLU(),
    QConv2d(4, 4, 3, bias=True),
    SwitchBN2d(4, affine=False),
    QLinear(4, 3),
)
sd = model.state_dict()
with torch.no_grad():
    for k, v in sd.items():
        if v.is_floating_point():
            v.copy_(torch.randn(v.shape))
        else:
            v.fill_(int(torch.randint(1, 1000, ())))
renamed = collections.OrderedDict(('p%03d' % i, v) for i, v in enumerate(sd.values()))


def save(obj, name, **kw):
    torch.save(obj, os.path.join(out_dir, name), **kw)


save({'model': sd}, 'remap_tiny_b543.pt')
save({'model': renamed}, 'remap_tiny_b543_renamed.pt')
save({'state_dict': {'module.' + k: v for k, v in renamed.items()}, 'epoch': 3}, 'remap_tiny_b543_module.pt')
save(collections.OrderedDict(('module.' + k, v) for k, v in sd.items()), 'remap_tiny_b543_p4.pt', pickle_protocol=4)
print(len(sd), 'keys:', ' '.join(sd.keys()))
