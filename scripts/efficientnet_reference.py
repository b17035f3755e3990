"""Reference outputs of torchvision's efficientnet_b0 with 5 input channels, for
crates/cellpaint-core/tests/efficientnet_reference.rs.

Weights and input are not random draws but a formula both sides compute exactly (so no
weight file is committed): value i of tensor NAME is lo + (hi - lo) * u_i with
u_i = (splitmix64((fnv1a32(NAME) << 32) ^ i) >> 11) / 2^53, rounded to float32; the range
[lo, hi] depends on the kind of tensor (see `value_range`). Batch-norm running statistics are
then calibrated by one training-mode pass over the input with momentum 1 (dropout and stochastic
depth off), so every layer sees normalised activations as in a trained network, and the
reference is the inference-mode output after that.

Run (not in CI):  pip install torch torchvision && python3 scripts/efficientnet_reference.py
Writes fixtures/efficientnet_b0_reference.json.
"""
import json, math, os
import numpy as np
import torch, torchvision

def fnv1a32(s: str) -> int:
    h = 0x811C9DC5
    for b in s.encode():
        h ^= b
        h = (h * 0x01000193) % 2**32
    return h

def splitmix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

def formula(name: str, shape, lo: float, hi: float) -> np.ndarray:
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    z = splitmix64((np.uint64(fnv1a32(name)) << np.uint64(32)) ^ i)
    u = (z >> np.uint64(11)).astype(np.float64) / 2.0**53
    return (lo + (hi - lo) * u).astype(np.float32).reshape(shape)

def value_range(name: str, shape):
    if name.endswith("running_var"):
        return 0.6, 1.4
    if name.endswith("running_mean") or name.endswith("bias"):
        return -0.1, 0.1
    if len(shape) == 1:  # batch-norm scale
        return 0.8, 1.2
    fan_in = int(np.prod(shape[1:]))
    b = math.sqrt(3.0 / fan_in)
    return -b, b

def set_formula_weights(model):
    """Every weight and running statistic of `model` from `formula` (what the Rust tests do)."""
    new = {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            new[name] = t
            continue
        lo, hi = value_range(name, tuple(t.shape))
        new[name] = torch.from_numpy(formula(name, tuple(t.shape), lo, hi))
    model.load_state_dict(new)


def calibrate_batch_norm(model, x):
    """One training-mode pass with momentum 1 (dropout and stochastic depth off), then eval."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
        if isinstance(m, (torch.nn.Dropout, torchvision.ops.StochasticDepth)):
            m.p = 0.0
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def main():
    torch.set_num_threads(2)
    model = torchvision.models.efficientnet_b0(num_classes=7)
    model.features[0][0] = torch.nn.Conv2d(5, 32, kernel_size=3, stride=2, padding=1, bias=False)
    set_formula_weights(model)
    x = torch.from_numpy(formula("input", (2, 5, 128, 128), -1.0, 1.0))
    calibrate_batch_norm(model, x)
    taps = {}
    # block6a_activation = output of the depthwise conv + BN + SiLU of stage 6's first block.
    model.features[6][0].block[1].register_forward_hook(lambda m, i, o: taps.__setitem__("block6a_activation", o))
    model.avgpool.register_forward_hook(lambda m, i, o: taps.__setitem__("avg_pool", o.flatten(1)))
    with torch.no_grad():
        logits = model(x)
    out = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "input_shape": [2, 5, 128, 128],
        "logits": logits.double().tolist(),
        "block6a_activation_mean": taps["block6a_activation"].mean(dim=(2, 3)).double().tolist(),
        "block6a_activation_shape": list(taps["block6a_activation"].shape),
        "avg_pool": taps["avg_pool"].double().tolist(),
    }
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "efficientnet_b0_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("logits", logits)
    print("block6a", taps["block6a_activation"].shape, float(taps["block6a_activation"].abs().mean()))

if __name__ == "__main__":
    main()
