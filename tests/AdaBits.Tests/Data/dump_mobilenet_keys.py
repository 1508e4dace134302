# Regenerates mobilenet_v{1,2}_keys.txt from the original PyTorch code (reference only, not part of the build):
#   /usr/bin/python3 dump_mobilenet_keys.py /tmp/ref/apps/imagenet/q_mobilenetv1_uint8_train_val.yml mobilenet_v1_keys.txt
#   /usr/bin/python3 dump_mobilenet_keys.py /tmp/ref/apps/imagenet/q_mobilenetv2_uint8_train_val.yml mobilenet_v2_keys.txt
# Environment: REF_DIR (original code, default /tmp/ref), REF_TOOLS (cpu_patch folder, default /work/shared/tools/reference).
# Each line: "<state-dict key> <comma-separated shape>" (empty shape for scalars), in state_dict() order.
import importlib
import os
import sys

REF = os.environ.get('REF_DIR', '/tmp/ref')
TOOLS = os.environ.get('REF_TOOLS', '/work/shared/tools/reference')
sys.path[:0] = [REF, TOOLS]
cfg, out = sys.argv[1], sys.argv[2]
sys.argv = ['x', 'app:' + cfg]
from utils.config import FLAGS  # noqa: E402
import cpu_patch  # noqa: E402,F401
import torch  # noqa: E402

model = importlib.import_module(FLAGS.model).Model(FLAGS.num_classes)
sd = model.state_dict()
with open(out, 'w') as f:
    for k, v in sd.items():
        f.write(k + ' ' + ','.join(str(d) for d in v.shape) + '\n')
total = sum(p.numel() for p in model.parameters())
conv_linear = sum(m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
                  for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
print(cfg, 'bits_list', FLAGS.bits_list, 'keys', len(sd), 'params', total, 'conv+linear', conv_linear)
