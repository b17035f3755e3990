"""PyTorch counterpart of `cargo xtask bench efficientnet` and of the `efficientnet_*` cases of
the `device_rates` example (same shapes, same optimiser, median of the timed steps).

  python3 scripts/bench_efficientnet_torch.py [threads]                      # CPU, as the xtask bench
  python3 scripts/bench_efficientnet_torch.py --device cuda --cases 32x128,8x1080 [--steps 5]

Needs torch and torchvision. On CUDA each timing waits for the device (torch.cuda.synchronize)."""
import argparse, json, resource, time
import torch, torchvision

p = argparse.ArgumentParser()
p.add_argument("threads", nargs="?", type=int, default=2)
p.add_argument("--device", default="cpu")
p.add_argument("--cases", default=None, help="BATCHxSIDE,... (default: the CPU bench's shapes)")
p.add_argument("--steps", type=int, default=3)
a = p.parse_args()

torch.set_num_threads(a.threads)
dev = torch.device(a.device)
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)


def median(v):
    return sorted(v)[len(v) // 2]


def model():
    torch.manual_seed(0)
    m = torchvision.models.efficientnet_b0(num_classes=10)
    m.features[0][0] = torch.nn.Conv2d(5, 32, 3, 2, 1, bias=False)
    return m.to(dev)


def timed(f):
    sync()
    t = time.time()
    f()
    sync()
    return time.time() - t


def case(batch, side):
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.005, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 5, side, side, device=dev)
    y = torch.arange(batch, device=dev) % 10

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()

    m.train()
    train = [timed(step) for _ in range(a.steps + 1)][1:]
    m.eval()
    with torch.no_grad():
        infer = [timed(lambda: m(x)) for _ in range(a.steps + 1)][1:]
    t, i = median(train), median(infer)
    return {"batch": batch, "side": side, "train_step_s": t, "train_images_per_s": batch / t,
            "infer_batch_s": i, "infer_images_per_s": batch / i}


out = {"model": "torchvision efficientnet_b0, 5 channels, 10 classes, f32", "torch": torch.__version__,
       "device": str(dev), "threads": a.threads}
if dev.type == "cuda":
    out["gpu"] = torch.cuda.get_device_name(dev)
if a.cases is None and dev.type == "cpu":
    # The CPU bench's figures: batch 32 of 128² crops, and 4 fields of 512² in inference
    # (each the median of `steps` timings after one warm-up).
    r = case(32, 128)
    m = model().eval()
    with torch.no_grad():
        fields = torch.randn(4, 5, 512, 512)
        # A first pass warms the allocator up, as for the other figures; then the median.
        fields_per_s = 4 / median([timed(lambda: m(fields)) for _ in range(a.steps + 1)][1:])
    out.update({"train_step_s": r["train_step_s"], "infer_crops_per_s": r["infer_images_per_s"],
                "infer_fields_512_per_s": fields_per_s,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
else:
    for c in (a.cases or "32x128").split(","):
        b, s = (int(v) for v in c.split("x"))
        try:
            out[f"{b}x{s}"] = case(b, s)
        except RuntimeError as e:  # e.g. out of memory at a paper batch: recorded, not fatal
            out[f"{b}x{s}"] = {"error": str(e).splitlines()[0]}
        if dev.type == "cuda":
            torch.cuda.empty_cache()
print(json.dumps(out, indent=2))
