"""PyTorch counterpart of `cargo xtask bench vaegan`: one training iteration of VAE+ (Lafarge et
al. 2019, tueimage/cytoVAE) and of the plain VAE at the paper's batch 104, 68×68×3 crops, with the
same architecture, losses and optimisers as crates/cyto-vaegan (see
../shared/papers/REFERENCE-IMPLEMENTATIONS.md §2):

- every convolution 5×5, stride 1, VALID, 32 filters, no bias; a block is conv → batch norm
  (eps 1e-8) → (2×2 max-pool) → leaky ReLU(0.01);
- encoder 68→64→32→28→14→10→5→1×1×512 (μ ‖ log σ², batch norm, no activation);
- decoder: pad 4 → conv → BN → leaky ReLU → nearest ×2 (1→5→10→14→28→32→64→68), 1×1 conv to 3;
- discriminator: the encoder's three blocks, conv to 1×1×64 (BN + leaky ReLU), 1×1 logit; it sees
  [B2 real | reconstructions of B1 | B1 originals] with batch-norm moments from the first 2·104 rows;
- encoder/decoder loss: 0.5·Σ(x − x̂)² + β·KL + Σ_i γ_i·feature loss_i + 0.5·1e-4·Σ kernel²,
  γ_i = 1 for all four hidden layers (the state after 4·T iterations); discriminator: sigmoid BCE
  (real 1, reconstruction 0) + the same L2; Adam(1e-3, 0.9, 0.999, eps 1e-8) for encoder + decoder,
  SGD(1e-2, momentum 0.9) for the discriminator; both gradients before either update.

  python3 scripts/bench_vaegan_torch.py [threads] [--steps 3]

Prints one JSON object: vaeplus_iteration_s, vae_iteration_s (median of the timed iterations after
one warm-up), peak_rss_mb."""
import argparse, json, resource, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("threads", nargs="?", type=int, default=2)
p.add_argument("--steps", type=int, default=3)
a = p.parse_args()
torch.set_num_threads(a.threads)

B, C, S, FILT, LATENT, DISC_HIDDEN = 104, 3, 68, 32, 256, 64
EPS, SLOPE, WD = 1e-8, 0.01, 1e-4


def kernel(c_out, c_in, k):
    std = (2.0 / (k * k * c_in + c_out)) ** 0.5
    return torch.nn.Parameter(torch.randn(c_out, c_in, k, k) * std)


class Block(torch.nn.Module):
    def __init__(self, c_in, c_out, pad=0, pool=False, act=True):
        super().__init__()
        self.w = kernel(c_out, c_in, 5)
        self.gamma = torch.nn.Parameter(torch.ones(c_out))
        self.beta = torch.nn.Parameter(torch.zeros(c_out))
        self.register_buffer("rmean", torch.zeros(c_out))
        self.register_buffer("rvar", torch.ones(c_out))
        self.pad, self.pool, self.act = pad, pool, act

    def forward(self, x, stats_rows=None):
        y = F.conv2d(x, self.w, padding=self.pad)
        s = y if stats_rows is None else y[:stats_rows]
        mean = s.mean((0, 2, 3))
        var = s.var((0, 2, 3), unbiased=False)
        with torch.no_grad():
            self.rmean.mul_(0.9).add_(0.1 * mean)
            self.rvar.mul_(0.9).add_(0.1 * var)
        y = (y - mean[None, :, None, None]) * torch.rsqrt(var + EPS)[None, :, None, None]
        y = y * self.gamma[None, :, None, None] + self.beta[None, :, None, None]
        if self.pool:
            y = F.max_pool2d(y, 2)
        return F.leaky_relu(y, SLOPE) if self.act else y


def trunk():
    return [Block(C, FILT, pool=True), Block(FILT, FILT, pool=True), Block(FILT, FILT, pool=True)]


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList(trunk() + [Block(FILT, 2 * LATENT, act=False)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        x = x.flatten(1)
        return x[:, :LATENT], x[:, LATENT:]


class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList(
            [Block(LATENT if i == 0 else FILT, FILT, pad=4) for i in range(4)])
        self.out_w = kernel(C, FILT, 1)
        self.out_b = torch.nn.Parameter(torch.zeros(C))

    def forward(self, z):
        h = z[:, :, None, None]
        for i, b in enumerate(self.blocks):
            h = b(h)
            if i < 3:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
        return F.conv2d(h, self.out_w, self.out_b)


class Discriminator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList(trunk() + [Block(FILT, DISC_HIDDEN)])
        self.logit_w = kernel(1, DISC_HIDDEN, 1)
        self.logit_b = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, stats_rows):
        hidden = []
        for b in self.blocks:
            x = b(x, stats_rows)
            hidden.append(x)
        return hidden, F.conv2d(x, self.logit_w, self.logit_b).flatten()


def kernels(*mods):
    return [p for m in mods for n, p in m.named_parameters() if n.endswith("w")]


def l2(ks):
    return 0.5 * WD * sum((k ** 2).sum() for k in ks)


def iteration_s(beta, feature_loss):
    torch.manual_seed(0)
    data = torch.rand(416, C, S, S)
    enc, dec = Encoder(), Decoder()
    disc = Discriminator() if feature_loss else None
    ae_params = list(enc.parameters()) + list(dec.parameters())
    opt_ae = torch.optim.Adam(ae_params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    opt_d = torch.optim.SGD(disc.parameters(), lr=1e-2, momentum=0.9) if disc else None
    g = torch.Generator().manual_seed(1)

    def step():
        x1 = data[torch.randint(0, len(data), (B,), generator=g)]
        mu, logvar = enc(x1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)
        recon = dec(z)
        loss = 0.5 * ((x1 - recon) ** 2).sum() / B
        loss = loss + beta * 0.5 * (logvar.exp() + mu ** 2 - 1 - logvar).sum() / B
        loss = loss + l2(kernels(enc, dec))
        if disc is not None:
            x2 = data[torch.randint(0, len(data), (B,), generator=g)]
            hidden, logits = disc(torch.cat([x2, recon, x1]), 2 * B)
            real, fake = logits[:B], logits[B:2 * B]
            d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones(B))
                            + F.binary_cross_entropy_with_logits(fake, torch.zeros(B)))
            d_loss = d_loss + l2(kernels(disc))
            image_size = C * S * S
            for h in hidden:
                loss = loss + 0.5 * image_size * ((h[2 * B:] - h[B:2 * B]) ** 2).mean()
            d_grads = torch.autograd.grad(d_loss, list(disc.parameters()), retain_graph=True)
        ae_grads = torch.autograd.grad(loss, ae_params)
        if disc is not None:
            for p_, g_ in zip(disc.parameters(), d_grads):
                p_.grad = g_
            opt_d.step()
        for p_, g_ in zip(ae_params, ae_grads):
            p_.grad = g_
        opt_ae.step()

    times = []
    for s in range(a.steps + 1):
        t = time.time()
        step()
        if s > 0:
            times.append(time.time() - t)
    return sorted(times)[len(times) // 2]


out = {"model": "PyTorch port of VAE+ (tueimage/cytoVAE), 68×68×3 crops, batch 104, f32, CPU",
       "torch": torch.__version__, "threads": a.threads,
       "vaeplus_iteration_s": iteration_s(2.0, True),
       "vae_iteration_s": iteration_s(1.0, False),
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print(json.dumps(out, indent=2))
