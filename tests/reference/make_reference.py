#!/usr/bin/env python3
"""Independent reference gradients for dlc's examples, from PyTorch autograd.

Each example model is written here by hand in PyTorch (float64). Its leaves get
deterministic values (the same formula the C++ test uses), and the loss and the
gradient of every param are written to <example>.ref as small text files:

    loss VALUE
    grad NAME COUNT SUM SUMSQ v0 v1 ... v15     (16 entries at evenly spaced indices)
    state NAME COUNT SUM SUMSQ v0 v1 ... v15    (batch norm's running statistics after the step)

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_reference.py
"""
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
BATCH = 4
HERE = os.path.dirname(os.path.abspath(__file__))


def values(k, shape):
    """Leaf k's value: 0.5 sin(0.37 i + 1.1 k + 0.2) over the flat index i."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    return (0.5 * torch.sin(0.37 * i + 1.1 * k + 0.2)).reshape(shape)


def classes(count):
    return torch.tensor([(3 * n + 1) % count for n in range(BATCH)])


def leaves(spec):
    """spec: list of (name, per-sample or param shape, is_param); order = k."""
    out = {}
    for k, (name, shape, is_param) in enumerate(spec):
        full = list(shape) if is_param else [BATCH] + list(shape)
        t = values(k, full)
        out[name] = t.requires_grad_(True) if is_param else t
    return out


def mnist_mlp():
    v = leaves([("v0", [784], False), ("A1", [256, 784], True), ("b1", [256], True),
                ("A2", [10, 256], True), ("b2", [10], True)])
    v1 = torch.relu(v["v0"] @ v["A1"].T + v["b1"])
    w = v1 @ v["A2"].T + v["b2"]
    loss = F.cross_entropy(w, classes(10)) + 1e-5 * ((v["A1"] ** 2).sum() + (v["A2"] ** 2).sum())
    return loss, v


def cnn(channels, hidden, penalty):
    spec = [("x", [1, 28, 28], False), ("K1", [channels[0], 1, 3, 3], True), ("c1", [channels[0], 1, 1], True),
            ("K2", [channels[1], channels[0], 3, 3], True), ("c2", [channels[1], 1, 1], True)]
    if hidden:
        spec += [("A1", [hidden, channels[1] * 49], True), ("b1", [hidden], True), ("A2", [10, hidden], True),
                 ("b2", [10], True)]
    else:
        spec += [("A", [10, channels[1] * 49], True), ("b", [10], True)]
    v = leaves(spec)
    h1 = F.max_pool2d(torch.relu(F.conv2d(v["x"], v["K1"], padding=1) + v["c1"]), 2)
    h2 = F.max_pool2d(torch.relu(F.conv2d(h1, v["K2"], padding=1) + v["c2"]), 2)
    flat = h2.flatten(1)
    if hidden:
        w = torch.relu(flat @ v["A1"].T + v["b1"]) @ v["A2"].T + v["b2"]
    else:
        w = flat @ v["A"].T + v["b"]
    loss = F.cross_entropy(w, classes(10))
    if penalty:
        loss = loss + 1e-5 * (v["A1"] ** 2).sum()
    return loss, v


def quadratic():
    v = leaves([("x", [], True), ("y", [], True)])
    return v["x"] ** 2 + 0.01 * v["y"] ** 2, v


def linear_chain():
    v = leaves([("v", [64], False), ("t", [64], False), ("A1", [64, 64], True), ("A2", [64, 64], True),
                ("A3", [64, 64], True)])
    u = ((v["v"] @ v["A1"].T) @ v["A2"].T) @ v["A3"].T
    return ((u - v["t"]) ** 2).sum(1).mean(), v


def residual():
    v = leaves([("x", [32], False), ("A1", [64, 32], True), ("b1", [64], True), ("A2", [64, 64], True),
                ("b2", [64], True), ("A3", [4, 64], True), ("b3", [4], True)])
    v1 = torch.tanh(v["x"] @ v["A1"].T + v["b1"])
    v2 = v1 + torch.tanh(v1 @ v["A2"].T + v["b2"])
    w = v2 @ v["A3"].T + v["b3"]
    return F.cross_entropy(w, classes(4)), v


def hinge():
    v = leaves([("x", [2], False), ("t", [], False), ("w", [2], True), ("c", [], True)])
    s = v["x"] @ v["w"] + v["c"]
    loss = torch.clamp(1 - v["t"] * s, min=0).mean() + 1e-3 * (v["w"] ** 2).sum()
    return loss, v


def bn_cnn():
    """examples/bn_cnn.net in training mode: PyTorch's batch norm with the batch's statistics, which also
    moves the running ones (zeros and ones before) toward them, the variance unbiased."""
    v = leaves([("x", [1, 28, 28], False), ("K1", [8, 1, 3, 3], True), ("g1", [8, 1, 1], True),
                ("c1", [8, 1, 1], True), ("K2", [16, 8, 3, 3], True), ("g2", [16, 1, 1], True),
                ("c2", [16, 1, 1], True), ("A1", [64, 784], True), ("g3", [64], True), ("c3", [64], True),
                ("A2", [10, 64], True), ("b2", [10], True)])
    state = {}

    def bn(name, z):
        mean, var = torch.zeros(z.shape[1]), torch.ones(z.shape[1])
        out = F.batch_norm(z, mean, var, training=True, momentum=0.1, eps=1e-5)
        state[name + ".running_mean"], state[name + ".running_var"] = mean, var
        return out

    def block(z, k, g, c, name):
        return F.max_pool2d(torch.relu(bn(name, F.conv2d(z, v[k], padding=1)) * v[g] + v[c]), 2)

    h1 = block(v["x"], "K1", "g1", "c1", "bn1")
    h2 = block(h1, "K2", "g2", "c2", "bn2")
    u = torch.relu(bn("bn3", h2.flatten(1) @ v["A1"].T) * v["g3"] + v["c3"])
    w = u @ v["A2"].T + v["b2"]
    return F.cross_entropy(w, classes(10)), v, state


def summary(kind, name, t):
    """One line: kind, name, element count, sum, sum of squares and 16 evenly spaced entries."""
    g = t.detach().reshape(-1)
    n = g.numel()
    picks = [g[(j * n) // 16].item() for j in range(min(16, n))]
    return (f"{kind} {name} {n} {g.sum().item():.17g} {(g * g).sum().item():.17g} "
            + " ".join(f"{p:.17g}" for p in picks))


MODELS = {
    "mnist_mlp": mnist_mlp,
    "mnist_cnn": lambda: cnn((16, 32), 128, False),
    "fashion_cnn": lambda: cnn((16, 32), 128, True),
    "quadratic": quadratic,
    "linear_chain": linear_chain,
    "residual": residual,
    "hinge": hinge,
    "bn_cnn": bn_cnn,
}


def main():
    for name, build in MODELS.items():
        loss, v, *state = build()
        loss.backward()
        lines = [f"loss {loss.item():.17g}"]
        lines += [summary("grad", pname, t.grad) for pname, t in v.items() if t.requires_grad]
        lines += [summary("state", sname, t) for sname, t in (state[0] if state else {}).items()]
        with open(os.path.join(HERE, name + ".ref"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{name}: loss {loss.item():.6f}, {len(lines) - 1} gradients and states")


if __name__ == "__main__":
    main()
