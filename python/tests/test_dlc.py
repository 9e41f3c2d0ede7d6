"""Tests of the Python module (`import dlc`), run by CTest with python3-pytest.

DLC_BIN (the driver) and DLC_SOURCE_DIR come from the environment CTest sets;
PYTHONPATH points at build/python.
"""
import os
import re
import subprocess

import numpy as np
import pytest

import dlc

SOURCE = os.environ.get("DLC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DLC_BIN = os.environ.get("DLC_BIN", os.path.join(SOURCE, "build", "tools", "dlc", "dlc"))
MLP = os.path.join(SOURCE, "examples", "mnist_mlp.net")

TINY = """
model tiny {
  input  x : [5]
  label  y : class(3)
  param  A : [4, 5] ~ glorot
  param  b : [4]    ~ zeros
  param  C : [3, 4] ~ glorot
  output w = C @ tanh(A @ x + b)
  loss cross_entropy(w, y)
}
train tiny {
  optimizer sgd(lr = 0.1)
  batch 8
}
"""


def batch(n, features, classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, features), dtype=np.float32), rng.integers(0, classes, n).astype(np.int32)


def test_jit_equals_the_built_library(tmp_path):
    """compile() (JIT, the C++ API) and load_library() (the .so and its C ABI) agree exactly.

    The library is built for this host's CPU, as the JIT compiles: the same GEMM kernel and
    blocks (the default x86-64-v3 library has the AVX2 kernel, which on an AVX-512 host rounds
    differently from the JIT's)."""
    lib = tmp_path / "mlp.so"
    subprocess.run([DLC_BIN, MLP, "-o", str(lib), "--cpu=native"], check=True)
    jit, aot = dlc.compile(MLP, batch=64), dlc.load_library(str(lib))
    assert aot.max_batch == 64 and jit.inputs == aot.inputs == ["v0"]
    for name, value in jit.params.items():
        np.testing.assert_array_equal(value, aot.params[name])
    x, y = batch(32, 784, 10)
    np.testing.assert_array_equal(jit.forward(x), aot.forward(x))
    for _ in range(3):
        assert jit.train_step(x, y) == aot.train_step(x, y)
    loss_j, grads_j = jit.loss_and_grad(x, y)
    loss_a, grads_a = aot.loss_and_grad(x, y)
    assert loss_j == loss_a and sorted(grads_j) == ["A1", "A2", "b1", "b2"]
    for name in grads_j:
        np.testing.assert_array_equal(grads_j[name], grads_a[name])


def test_params_share_the_model_memory():
    m = dlc.compile(MLP, batch=16)
    x, _ = batch(4, 784, 10)
    p = m.params
    assert p["A1"].shape == (256, 784) and p["A1"].dtype == np.float32
    assert p["A1"].ctypes.data == m.params["A1"].ctypes.data  # the same memory each time
    p["A2"][:] = 0
    p["b2"][:] = 0
    p["b2"][3] = 5  # every sample's logits are now this bias
    out = m.forward(x)
    np.testing.assert_allclose(out, np.tile(np.exp([0, 0, 0, 5, 0, 0, 0, 0, 0, 0]) /
                                            (9 + np.exp(5)), (4, 1)), rtol=1e-5)


def test_gradients_match_central_differences():
    m = dlc.compile(TINY)
    x, y = batch(6, 5, 3, seed=1)
    _, grads = m.loss_and_grad(x, y)
    params = m.params
    for name in ("A", "b", "C"):
        view = params[name].reshape(-1)
        for i in range(0, view.size, 3):
            keep = view[i]
            view[i] = keep + 1e-2
            up, _ = m.loss_and_grad(x, y)
            view[i] = keep - 1e-2
            down, _ = m.loss_and_grad(x, y)
            view[i] = keep
            assert grads[name].reshape(-1)[i] == pytest.approx((up - down) / 2e-2, rel=2e-2, abs=1e-4), (name, i)


def test_wrong_dtype_or_shape_names_the_tensor():
    m = dlc.compile(MLP, batch=8)
    x, y = batch(8, 784, 10)
    with pytest.raises(ValueError, match=r"input 'v0': expected dtype float32, got float64"):
        m.forward(x.astype(np.float64))
    with pytest.raises(ValueError, match=r"input 'v0': expected shape \(n, 784\), got \(8, 783\)"):
        m.forward(x[:, 1:])
    with pytest.raises(ValueError, match=r"label 'y': expected dtype int32, got int64"):
        m.train_step(x, y.astype(np.int64))
    with pytest.raises(ValueError, match=r"label 'y': batch of 4, but another array has 8"):
        m.train_step(x, y[:4])
    with pytest.raises(ValueError, match=r"batch of 9 outside 1..8"):
        m.forward(np.zeros((9, 784), np.float32))
    with pytest.raises(ValueError, match=r"param 'b1': expected shape \(256\), got \(3\)"):
        m.set_param("b1", np.zeros(3, np.float32))


def test_a_model_with_errors_raises_with_the_diagnostics():
    with pytest.raises(dlc.CompileError) as e:
        dlc.compile("model m {\n  input x : [3]\n  output y = A @ x\n}\n")
    assert "<string>:3:14: error: unknown name 'A'" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_save_and_load_round_trip(tmp_path):
    m = dlc.compile(TINY)
    x, y = batch(8, 5, 3)
    m.train_step(x, y)
    path = str(tmp_path / "tiny.safetensors")
    m.save(path)
    saved = {k: v.copy() for k, v in m.params.items()}
    m.train_step(x, y)
    assert not np.array_equal(saved["A"], m.params["A"])
    m.load(path)
    for k, v in saved.items():
        np.testing.assert_array_equal(v, m.params[k])
    with pytest.raises(ValueError, match="cannot read"):
        m.load(str(tmp_path / "missing.safetensors"))


def test_ir_stages():
    m = dlc.compile(MLP)
    assert "%v0 = input() : f32[784]" in m.ir("ir")
    assert "%dL/dA1" in m.ir("grad")
    assert "f32[N, 784]" in m.ir("opt")
    assert "model mnist_mlp" in m.ir("ast") or "mnist_mlp" in m.ir("ast")
    with pytest.raises(ValueError, match="unknown stage"):
        m.ir("nope")


def blobs(tmp_path):
    """A 4-class problem in 20 dims, as CSV (the CLI) and arrays (the module)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1, (4, 20))
    data = {}
    for split, count in (("", 3000), (".test", 1000)):
        labels = rng.integers(0, 4, count)
        points = (centers[labels] + rng.normal(0, 0.7, (count, 20))).astype(np.float32)
        np.savetxt(tmp_path / f"blobs{split}.csv", np.hstack([points, labels[:, None]]),
                   fmt=["%.6f"] * 20 + ["%d"], delimiter=",")
        data[split] = (points, labels.astype(np.int32))
    return data


BLOBS_MODEL = """
model blobs {
  input  x : [20]
  label  y : class(4)
  param  A1 : [32, 20] ~ he
  param  b1 : [32]     ~ zeros
  param  A2 : [4, 32]  ~ glorot
  param  b2 : [4]      ~ zeros
  output w = A2 @ relu(A1 @ x + b1) + b2
  loss cross_entropy(w, y)
}
train blobs {
  optimizer adam(lr = 1e-3)
  batch 32
  epochs 3
}
"""


def test_a_numpy_training_loop_matches_the_cli_accuracy(tmp_path):
    data = blobs(tmp_path)
    net = tmp_path / "blobs.net"
    net.write_text(BLOBS_MODEL)
    run = subprocess.run([DLC_BIN, "train", str(net), "--data", str(tmp_path / "blobs.csv"), "--quiet"],
                         check=True, capture_output=True, text=True)
    cli = float(re.search(r"^test accuracy: ([0-9.]+)%$", run.stdout, re.M).group(1))
    m = dlc.compile(BLOBS_MODEL)
    x, y = data[""]
    rng = np.random.default_rng(1)
    for _ in range(3):
        order = rng.permutation(len(x))
        for i in range(0, len(x), 32):
            idx = order[i:i + 32]
            m.train_step(x[idx], y[idx])
    tx, ty = data[".test"]
    predictions = np.concatenate([m.forward(tx[i:i + 32]).argmax(axis=1) for i in range(0, len(tx), 32)])
    accuracy = 100 * np.mean(predictions == ty)
    assert cli > 90
    assert abs(accuracy - cli) <= 0.5, (accuracy, cli)


BN = """
model bn {
  input  x : [3]
  label  y : class(2)
  param  A : [2, 3] ~ glorot
  output w = A @ batch_norm(x, momentum = 0.5)
  loss cross_entropy(w, y)
}
"""


def test_batch_norm_state_by_name(tmp_path):
    """m.state holds the running statistics: a training step moves them toward the batch's,
    forward normalizes by them, set_state writes them, save and load keep them."""
    m = dlc.compile(BN, batch=8)
    assert sorted(m.state) == ["bn1.running_mean", "bn1.running_var"]
    np.testing.assert_array_equal(m.state["bn1.running_var"], np.ones(3, np.float32))
    x, y = batch(8, 3, 2, seed=4)
    m.train_step(x, y)
    np.testing.assert_allclose(m.state["bn1.running_mean"], 0.5 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(m.state["bn1.running_var"], 0.5 + 0.5 * x.var(axis=0, ddof=1), rtol=1e-5)
    m.set_state("bn1.running_mean", np.zeros(3, np.float32))
    m.set_state("bn1.running_var", np.full(3, 4.0, np.float32))
    expected = (x / 2) @ m.params["A"].T
    np.testing.assert_allclose(m.forward(x), expected, rtol=1e-4, atol=1e-5)
    m.save(str(tmp_path / "bn.safetensors"))
    other = dlc.compile(BN, batch=8, seed=3)
    other.load(str(tmp_path / "bn.safetensors"))
    np.testing.assert_array_equal(other.state["bn1.running_var"], np.full(3, 4.0, np.float32))
