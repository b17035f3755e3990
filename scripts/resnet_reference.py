"""Reference outputs of torchvision's resnet18 with 5 input channels, for
crates/cellpaint-core/tests/resnet_reference.rs.

Weights and input come from the same formula as scripts/efficientnet_reference.py (value i of
tensor NAME is lo + (hi - lo) * u_i, u_i = (splitmix64((fnv1a32(NAME) << 32) ^ i) >> 11) / 2^53,
rounded to float32; the range depends on the kind of tensor), so no weight file is committed.
Batch-norm running statistics are calibrated by one training-mode pass with momentum 1; the
reference is the inference-mode output after that.

Run (not in CI):  pip install torch torchvision && python3 scripts/resnet_reference.py
Writes fixtures/resnet18_reference.json.
"""
import json, os, sys
import torch, torchvision

sys.path.insert(0, os.path.dirname(__file__))
from efficientnet_reference import calibrate_batch_norm, formula, set_formula_weights  # noqa: E402


def main():
    torch.set_num_threads(2)
    model = torchvision.models.resnet18(num_classes=7)
    model.conv1 = torch.nn.Conv2d(5, 64, kernel_size=7, stride=2, padding=3, bias=False)
    set_formula_weights(model)
    x = torch.from_numpy(formula("input", (2, 5, 96, 96), -1.0, 1.0))
    calibrate_batch_norm(model, x)
    taps = {}
    model.layer3.register_forward_hook(lambda m, i, o: taps.__setitem__("layer3", o))
    model.avgpool.register_forward_hook(lambda m, i, o: taps.__setitem__("avg_pool", o.flatten(1)))
    with torch.no_grad():
        logits = model(x)
    out = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "input_shape": [2, 5, 96, 96],
        "logits": logits.double().tolist(),
        "layer3_mean": taps["layer3"].mean(dim=(2, 3)).double().tolist(),
        "layer3_shape": list(taps["layer3"].shape),
        "avg_pool": taps["avg_pool"].double().tolist(),
    }
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "resnet18_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("logits", logits)


if __name__ == "__main__":
    main()
