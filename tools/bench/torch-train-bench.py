#!/usr/bin/python3
"""PyTorch side of the training benchmark: the same U-Net (two 3x3 convs +
ReLU per level, max-pool, 2x2 stride-2 transposed conv, concat skips, 1x1
head), softmax cross-entropy, Adam; median step time on random tiles.
usage: torch-train-bench.py DEPTH FILTERS BATCH THREADS STEPS [BATCHNORM] [SIZE]"""
import json, sys, time
import torch
from torch import nn

def block(cin, cout, bn):
    layers = [nn.Conv2d(cin, cout, 3, padding=1)]
    if bn: layers.append(nn.BatchNorm2d(cout))
    layers += [nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1)]
    if bn: layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)

class UNet(nn.Module):
    def __init__(self, depth, f, bn, classes=6):
        super().__init__()
        self.enc = nn.ModuleList([block(3 if l == 0 else f << (l - 1), f << l, bn) for l in range(depth)])
        self.mid = block(f << (depth - 1), f << depth, bn)
        self.up = nn.ModuleList([nn.ConvTranspose2d(f << (l + 1), f << l, 2, stride=2) for l in range(depth)])
        self.dec = nn.ModuleList([block(2 * (f << l), f << l, bn) for l in range(depth)])
        self.head = nn.Conv2d(f, classes, 1)
    def forward(self, x):
        skips = []
        for e in self.enc:
            x = e(x); skips.append(x); x = nn.functional.max_pool2d(x, 2)
        x = self.mid(x)
        for l in reversed(range(len(self.enc))):
            x = self.dec[l](torch.cat([self.up[l](x), skips[l]], 1))
        return self.head(x)

def main():
    a = sys.argv[1:]
    depth, f, batch, threads, steps = map(int, a[:5])
    bn = int(a[5]) if len(a) > 5 else 0
    size = int(a[6]) if len(a) > 6 else 256
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = UNet(depth, f, bn)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, size, size)
    y = torch.randint(0, 6, (batch, size, size))
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for s in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        if s: times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"depth": depth, "filters": f, "batchnorm": bn, "batch": batch, "threads": threads,
                      "median_step_ms": round(med, 2), "tiles_per_s": round(batch * 1000 / med, 3),
                      "torch": torch.__version__}))

main()
