#!/usr/bin/env python3
"""Peak RSS of a 100-step PyTorch training loop (SGD lr 0.01, momentum 0.9),
for bench/run.sh's memory comparison. The models match bench/models/*.net and
../shared/bench/peers (same layers, batch and loss); the step is forward,
loss, backward, optimizer update on one fixed synthetic batch.

  /usr/bin/python3 bench/torch_rss.py MODEL [THREADS]   MODEL: tiny small mnist wide cnn
"""
import resource
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def build(name):
    if name == "tiny":
        return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)), (8, 2), "mse"
    if name == "cnn":
        net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6272, 10))
        return net, (64, 1, 28, 28), "ce"
    widths = {"small": ([784, 128, 10], 32), "mnist": ([784, 256, 256, 10], 128), "wide": ([784, 1024, 1024, 10], 512)}
    sizes, batch = widths[name]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers), (batch, 784), "ce"


def main():
    name = sys.argv[1]
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    torch.manual_seed(0)
    net, shape, loss_kind = build(name)
    x = torch.rand(shape)
    y = torch.rand(shape[0], 1) - 0.5 if loss_kind == "mse" else torch.arange(shape[0]) % 10
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    for _ in range(100):
        opt.zero_grad(set_to_none=True)
        out = net(x)
        loss = F.mse_loss(out, y) if loss_kind == "mse" else F.cross_entropy(out, y)
        loss.backward()
        opt.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peer_name = {"small": "mlp_a", "mnist": "mlp_b", "wide": "mlp_c", "cnn": "conv"}.get(name, name)
    print(f"peer=torch-eager threads={torch.get_num_threads()} model={peer_name} steps=100 peak_rss_mb={peak:.1f} "
          f"loss_after={loss.item():.4f}")


if __name__ == "__main__":
    main()
