#!/usr/bin/env bash
# `dlc import` and `--emit=onnx` as a user runs them:
#   1. a PyTorch-exported MLP trains one epoch in `dlc train` from its imported weights;
#   2. what dlc exports passes onnx's checker (full check, with shape inference);
#   3. trained params survive export -> import (`dlc eval` gives the same accuracy);
#   4. an unsupported op and a malformed file are errors (exit 1) naming the node / file.
# Usage: cli.sh DLC SOURCE_DIR TORCH_DIR WORK_DIR PYTHON
set -euo pipefail
dlc=$1 src=$2 torch=$3 work=$4 python=$5
rm -rf "$work" && mkdir -p "$work" && cd "$work"

"$dlc" import "$torch/blobs.onnx" -o blobs.net | tee import.log
grep -q "model 'blobs' with 4 params (804 values) -> blobs.net, blobs.safetensors" import.log
grep -q "loss cross_entropy(" blobs.net
"$dlc" train blobs.net --data "$torch/blobs.csv" --epochs 1 --resume blobs.safetensors \
  --checkpoint trained.safetensors --quiet | tee train.log
trained=$(sed -n 's/^test accuracy: \([0-9.]*\)%$/\1/p' train.log)
awk -v a="$trained" 'BEGIN { exit !(a >= 90) }' || { echo "FAIL: test accuracy $trained% after one epoch"; exit 1; }

for m in mnist_mlp mnist_cnn residual; do "$dlc" "$src/examples/$m.net" --emit=onnx -o $m.onnx; done
cat > pools.net <<'NET'
model pools {
  input x : [2, 9, 9]
  a = maxpool2d(x, 3, stride = 2, pad = 1)
  b = avgpool2d(x, [3, 2], stride = [2, 1], pad = [1, 0, 2, 1], count_include_pad = 1)
  output a
  output b
}
NET
"$dlc" pools.net --emit=onnx -o pools.onnx
"$dlc" "$src/examples/layers.net" --emit=onnx -o layers.onnx
cat > dropout.net <<'NET'
model dropout {
  input x : [2, 5]
  param A : [4, 5] ~ he
  h = dropout(relu(A @ layer_norm(x[0])), 0.5)
  output y = concat(h[1:3] * [2, 3], h)
}
NET
"$dlc" dropout.net --emit=onnx -o dropout.onnx
"$dlc" blobs.net --emit=onnx --checkpoint trained.safetensors -o trained.onnx
"$python" - <<'PY'
import onnx
for name in ["mnist_mlp", "mnist_cnn", "residual", "trained", "pools", "layers", "dropout"]:
    model = onnx.load(name + ".onnx")
    onnx.checker.check_model(model, full_check=True)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{name}.onnx: checker ok, opset {model.opset_import[0].version}, ops {' '.join(ops)}")
    if name == "mnist_cnn": assert "MaxPool" in ops and "Conv" in ops, ops
    if name == "layers": assert {"Concat", "Slice", "Constant"} <= set(ops), ops
    if name == "dropout": assert "Identity" in ops and {"Concat", "Slice", "ReduceSum"} <= set(ops), ops
    if name == "pools":
        attrs = {n.op_type: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in model.graph.node}
        assert attrs["MaxPool"] == {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, attrs
        assert attrs["AveragePool"] == {"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 0, 2, 1],
                                        "count_include_pad": 1}, attrs
PY

"$dlc" import trained.onnx -o back.net
"$dlc" eval back.net --checkpoint back.safetensors --data "$torch/blobs.test.csv" | tee eval.log
grep -q "^test accuracy: $trained%$" eval.log || { echo "FAIL: accuracy after the round trip differs from $trained%"; exit 1; }

"$python" - <<'PY'
import onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
node = helper.make_node("LeakyRelu", ["x"], ["y"], name="lrelu")
onnx.save(helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 13)]), "leaky.onnx")
PY
if "$dlc" import leaky.onnx -o leaky.net 2> leaky.err; then echo "FAIL: LeakyRelu imported"; exit 1; fi
grep -q "leaky.onnx: error: node 'lrelu' (LeakyRelu): op 'LeakyRelu' is not supported by dlc import" leaky.err
test ! -e leaky.net
printf 'not a model' > bad.onnx
if "$dlc" import bad.onnx -o bad.net 2> bad.err; then echo "FAIL: garbage imported"; exit 1; fi
grep -q "bad.onnx: error: not an ONNX model" bad.err
echo "onnx cli: all checks passed"
