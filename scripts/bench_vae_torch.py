"""PyTorch CPU counterpart of `cargo xtask bench vae`: the level-5 VAE (588 → 250 → 10,
batch 96, leaky ReLU, batch norm on the encoder, β-VAE loss), training steps per second.
pip install torch; python3 scripts/bench_vae_torch.py [threads]"""
import json, sys, time
import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)
d, h, z, batch = 588, 250, 10, 96

class Vae(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.BatchNorm1d(h, eps=1e-3, momentum=0.01), torch.nn.LeakyReLU(0.3))
        self.mu, self.lv = torch.nn.Linear(h, z), torch.nn.Linear(h, z)
        self.dec = torch.nn.Sequential(torch.nn.Linear(z, h), torch.nn.LeakyReLU(0.3), torch.nn.Linear(h, d))
    def forward(self, x):
        e = self.enc(x); mu, lv = self.mu(e), self.lv(e)
        zz = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        return self.dec(zz), mu, lv

model = Vae()
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
x = torch.rand(batch * 20, d)
def epoch():
    for i in range(20):
        xb = x[i * batch:(i + 1) * batch]
        r, mu, lv = model(xb)
        loss = ((xb - r) ** 2).sum(1).mean() + 0.3 * 0.5 * (lv.exp() + mu ** 2 - lv - 1).sum(1).mean()
        opt.zero_grad(); loss.backward(); opt.step()
epoch()
t = time.time()
for _ in range(10): epoch()
print(json.dumps({"model": "torch VAE 588-250-10, batch 96", "torch": torch.__version__, "steps_per_s": 200 / (time.time() - t)}))
