"""PyTorch CPU counterpart of `cargo xtask bench efficientnet` (same shapes and steps).
pip install torch torchvision; python3 scripts/bench_efficientnet_torch.py [threads]"""
import json, resource, sys, time
import torch, torchvision

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torchvision.models.efficientnet_b0(num_classes=10)
model.features[0][0] = torch.nn.Conv2d(5, 32, 3, 2, 1, bias=False)
opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9, nesterov=True)
x = torch.randn(32, 5, 128, 128)
y = torch.arange(32) % 10
def median(v): return sorted(v)[len(v) // 2]
train = []
model.train()
for s in range(4):
    t = time.time()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if s: train.append(time.time() - t)
model.eval()
infer = []
with torch.no_grad():
    for s in range(4):
        t = time.time(); model(x)
        if s: infer.append(32 / (time.time() - t))
    fields = torch.randn(4, 5, 512, 512)
    t = time.time(); model(fields); fields_per_s = 4 / (time.time() - t)
print(json.dumps({"model": "torchvision efficientnet_b0, 5 channels", "torch": torch.__version__, "threads": threads,
                  "train_step_s": median(train), "infer_crops_per_s": median(infer), "infer_fields_512_per_s": fields_per_s,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, indent=2))
