#!/usr/bin/env python3
"""Exports seeded PyTorch models to ONNX with a reference batch, for the ONNX tests.

For each model (mlp, cnn, cnn_pool) writes into OUTDIR:
  NAME.onnx                 torch.onnx.export at opset 13, batch dim "N"
  NAME.x.pb, NAME.y.pb      a batch of inputs and class labels (TensorProto)
  NAME.out.pb               torch's forward outputs (logits) on that batch
  NAME.loss.pb              the mean softmax cross-entropy on that batch
  NAME.grad.<param>.pb      d loss / d param from autograd (param as torch names it)
and blobs.onnx, blobs.csv, blobs.test.csv: a 20-feature MLP and a 4-class
data set for `dlc train` after `dlc import`.
Needs Debian's python3-torch and python3-onnx (numpy_helper writes the .pb files).
"""
import os
import sys

import numpy as np
import torch
from onnx import numpy_helper


def save(path, array):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array)).SerializeToString())


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(20, 16)
        self.fc2 = torch.nn.Linear(16, 10)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)).relu())


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 6, 3, padding=1, stride=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.avg = torch.nn.AvgPool2d(2, count_include_pad=False)
        self.flat = torch.nn.Flatten()
        self.fc = torch.nn.Linear(6 * 3 * 3, 10)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv1(x)))
        h = self.avg(torch.sigmoid(self.conv2(h)))
        return torch.log_softmax(self.fc(self.flat(h)), dim=1)


class PaddedPoolCNN(torch.nn.Module):
    """ResNet's stem pooling, MaxPool2d(3, stride 2, padding 1), and an average
    pool that counts its padding (torch's default)."""
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 6, 3, padding=1)
        self.avg = torch.nn.AvgPool2d(3, stride=2, padding=1)
        self.flat = torch.nn.Flatten()
        self.fc = torch.nn.Linear(6 * 3 * 3, 10)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv1(x)))  # 12x12 -> 6x6
        h = self.avg(torch.sigmoid(self.conv2(h)))  # 6x6 -> 3x3
        return self.fc(self.flat(h))


def export(model, name, x, y, outdir):
    model.eval()
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(model, x[:1], path, opset_version=13, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    out = model(x)
    loss = torch.nn.functional.cross_entropy(out, y)
    model.zero_grad()
    loss.backward()
    save(os.path.join(outdir, name + ".x.pb"), x.detach().numpy())
    save(os.path.join(outdir, name + ".y.pb"), y.numpy().astype(np.int64))
    save(os.path.join(outdir, name + ".out.pb"), out.detach().numpy())
    save(os.path.join(outdir, name + ".loss.pb"), np.array(loss.item(), dtype=np.float32))
    for pname, p in model.named_parameters():
        save(os.path.join(outdir, f"{name}.grad.{pname}.pb"), p.grad.numpy())


def blobs(outdir):
    """A 4-class problem in 20 dims (Gaussian blobs) and an MLP for it."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1, (4, 20))
    for split, count in (("", 2000), (".test", 500)):
        labels = rng.integers(0, 4, count)
        points = centers[labels] + rng.normal(0, 0.6, (count, 20))
        rows = np.hstack([points, labels[:, None]])
        np.savetxt(os.path.join(outdir, f"blobs{split}.csv"), rows, fmt=["%.5f"] * 20 + ["%d"], delimiter=",")
    model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    torch.onnx.export(model, torch.zeros(1, 20), os.path.join(outdir, "blobs.onnx"), opset_version=13,
                      input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    export(MLP(), "mlp", torch.randn(8, 20), torch.randint(0, 10, (8,)), outdir)
    export(CNN(), "cnn", torch.randn(5, 1, 12, 12), torch.randint(0, 10, (5,)), outdir)
    blobs(outdir)
    export(PaddedPoolCNN(), "cnn_pool", torch.randn(5, 1, 12, 12), torch.randint(0, 10, (5,)), outdir)


if __name__ == "__main__":
    main()
