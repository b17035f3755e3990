"""The DeepProfiler learning curve of `dp_learning_curve` (crates/reproduce/examples), run with
torchvision's EfficientNet-B0 on the very same crops and split, to tell "our network learns
slowly" from "this task is learned slowly".

    cargo run --release -p reproduce --example dp_learning_curve -- epochs=0 export=DIR [box=…]
    python3 scripts/dp_learning_curve_torch.py DIR [--width 0.25] [--epochs 10] [--lr 0.05]

Same settings as the example with augment=0: SGD with Nesterov momentum 0.9 at a constant rate,
batch 32, DeepProfiler's class-balanced epochs (every class the median class size, factor 1),
L2 1e-5 on the kernels as weight decay, dropout 0.2 and stochastic depth 0.2, no augmentation.
Prints one JSON line per epoch. Not in CI (needs torch).
"""
import argparse, json, os, time
import numpy as np
import torch, torchvision
from torchvision.models.efficientnet import _efficientnet_conf, EfficientNet

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("--width", type=float, default=0.25)
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--opt", choices=["sgd", "adam"], default="sgd")
p.add_argument("--net", choices=["efficientnet", "small"], default="efficientnet",
               help="small: four 3x3 conv-BN-ReLU layers (32, 64, 128, 128 channels), max-pool "
                    "after the first three, global average pool, linear")
p.add_argument("--dropout", type=float, default=0.2)
p.add_argument("--stochastic-depth", type=float, default=0.2)
a = p.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)
meta = json.load(open(os.path.join(a.dir, "crops.json")))
x = np.fromfile(os.path.join(a.dir, "crops.f32"), dtype="<f4").reshape(meta["shape"])
classes = sorted(set(meta["labels"]))
y = np.array([classes.index(l) for l in meta["labels"]])
tr, va = np.array(meta["train"]), np.array(meta["val"])
if a.net == "efficientnet":
    settings, last = _efficientnet_conf("efficientnet_b0", width_mult=a.width, depth_mult=1.0)
    net = EfficientNet(settings, dropout=a.dropout, stochastic_depth_prob=a.stochastic_depth,
                       num_classes=len(classes), last_channel=last)
    stem = net.features[0][0]
    net.features[0][0] = torch.nn.Conv2d(x.shape[1], stem.out_channels, 3, 2, 1, bias=False)
else:
    layers, c_in = [], x.shape[1]
    for k, c in enumerate([32, 64, 128, 128]):
        layers += [torch.nn.Conv2d(c_in, c, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c),
                   torch.nn.ReLU()] + ([torch.nn.MaxPool2d(2)] if k < 3 else [])
        c_in = c
    net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(c_in, len(classes)))
opt = (torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=1e-5)
       if a.opt == "sgd" else torch.optim.Adam(net.parameters(), lr=a.lr))
rng = np.random.default_rng(a.seed)
by_class = [tr[y[tr] == c] for c in range(len(classes))]
per_class = int(np.median([len(m) for m in by_class]))
xt, yt = torch.from_numpy(x), torch.from_numpy(y)
for epoch in range(a.epochs):
    t0 = time.time()
    order = np.concatenate([rng.choice(m, per_class, replace=len(m) < per_class) for m in by_class])
    rng.shuffle(order)
    net.train()
    losses, correct = [], 0
    for s in range(0, len(order), a.batch):
        rows = order[s:s + a.batch]
        logits = net(xt[rows])
        loss = torch.nn.functional.cross_entropy(logits, yt[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        correct += (logits.argmax(1) == yt[rows]).sum().item()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xt[va[s:s + 128]]).argmax(1) for s in range(0, len(va), 128)])
    print(json.dumps({"epoch": epoch, "seconds": round(time.time() - t0, 1),
                      "loss": float(np.mean(losses)), "accuracy": correct / len(order),
                      "val_accuracy": float((pred == yt[va]).float().mean())}), flush=True)
