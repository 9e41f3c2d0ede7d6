//===- tests/unit/ShapeRulesTest.cpp --------------------------------------===//
#include <catch2/catch.hpp>

#include "ir/ShapeRules.h"

using namespace dlc;

namespace {
TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }
Attrs attr(const std::string &k, AttrValue v) {
  Attrs a;
  a.set(k, std::move(v));
  return a;
}
const Dim N = Dim::symbol("N");
} // namespace

TEST_CASE("matmul follows the matrix-vector rules", "[shape]") {
  CHECK(inferType(OpKind::MatMul, {f32({10, 128}), f32({128})}, {}).type == f32({10}));
  CHECK(inferType(OpKind::MatMul, {f32({128}), f32({128, 10})}, {}).type == f32({10}));
  CHECK(inferType(OpKind::MatMul, {f32({5}), f32({5})}, {}).type == f32({}));
  CHECK(inferType(OpKind::MatMul, {f32({N, 784}), f32({128, 784})}, attr("transpose_b", true)).type ==
        f32({N, 128}));
  auto bad = inferType(OpKind::MatMul, {f32({10, 128}), f32({64})}, {});
  CHECK(bad.error == "cannot multiply [10, 128] by [64]");
  CHECK_FALSE(inferType(OpKind::MatMul, {f32({}), f32({3})}, {}).ok());
}

TEST_CASE("elementwise ops broadcast like numpy, with the batch symbol", "[shape]") {
  CHECK(inferType(OpKind::Add, {f32({N, 128}), f32({128})}, {}).type == f32({N, 128}));
  CHECK(inferType(OpKind::Mul, {f32({8, 28, 28}), f32({8, 1, 1})}, {}).type == f32({8, 28, 28}));
  CHECK(inferType(OpKind::Sub, {f32({}), f32({3})}, {}).type == f32({3}));
  auto bad = inferType(OpKind::Add, {f32({10}), f32({128})}, {});
  CHECK(bad.error == "cannot add [10] and [128]: shapes do not broadcast");
  CHECK_FALSE(inferType(OpKind::Add, {f32({N}), f32({5})}, {}).ok());
  TensorType label{DType::I32, {}};
  CHECK_FALSE(inferType(OpKind::Add, {label, f32({})}, {}).ok());
}

TEST_CASE("reductions, softmax, transpose, reshape, broadcast", "[shape]") {
  Shape axes{Dim(0), Dim(2)};
  CHECK(inferType(OpKind::ReduceSum, {f32({2, 3, 4})}, attr("axes", axes)).type == f32({3}));
  CHECK_FALSE(inferType(OpKind::ReduceSum, {f32({2})}, attr("axes", Shape{Dim(1)})).ok());
  CHECK_FALSE(inferType(OpKind::ReduceMax, {f32({2, 3})}, attr("axes", Shape{Dim(0), Dim(0)})).ok());
  CHECK(inferType(OpKind::Softmax, {f32({N, 10})}, attr("axis", int64_t(1))).type == f32({N, 10}));
  CHECK_FALSE(inferType(OpKind::Softmax, {f32({})}, attr("axis", int64_t(0))).ok());
  CHECK(inferType(OpKind::Transpose, {f32({2, 3})}, attr("perm", Shape{Dim(1), Dim(0)})).type == f32({3, 2}));
  CHECK_FALSE(inferType(OpKind::Transpose, {f32({2, 3})}, attr("perm", Shape{Dim(0), Dim(0)})).ok());
  CHECK(inferType(OpKind::Reshape, {f32({N, 8, 7, 7})}, attr("shape", Shape{N, Dim(392)})).type == f32({N, 392}));
  CHECK_FALSE(inferType(OpKind::Reshape, {f32({N, 8})}, attr("shape", Shape{Dim(8)})).ok());
  Attrs b;
  b.set("shape", Shape{N, Dim(10)});
  b.set("dims", Shape{Dim(0)});
  CHECK(inferType(OpKind::Broadcast, {f32({N})}, b).type == f32({N, 10}));
  b.set("dims", Shape{Dim(1)});
  CHECK_FALSE(inferType(OpKind::Broadcast, {f32({N})}, b).ok());
}

TEST_CASE("conv2d and its adjoints agree on shapes", "[shape]") {
  Attrs a;
  a.set("pad", Shape{Dim(1), Dim(1)});
  a.set("stride", Shape{Dim(1), Dim(1)});
  TensorType x = f32({N, 1, 28, 28}), k = f32({8, 1, 3, 3});
  auto y = inferType(OpKind::Conv2D, {x, k}, a);
  REQUIRE(y.ok());
  CHECK(y.type == f32({N, 8, 28, 28}));
  Attrs d = a;
  d.set("shape", x.shape);
  CHECK(inferType(OpKind::Conv2DBwdData, {y.type, k}, d).type == x);
  Attrs f = a;
  f.set("shape", k.shape);
  CHECK(inferType(OpKind::Conv2DBwdFilter, {x, y.type}, f).type == k);
  // stride 2, no padding: (28 - 3) / 2 + 1 = 13
  Attrs s;
  s.set("stride", Shape{Dim(2), Dim(2)});
  CHECK(inferType(OpKind::Conv2D, {f32({1, 28, 28}), k}, s).type == f32({8, 13, 13}));
  CHECK_FALSE(inferType(OpKind::Conv2D, {f32({3, 28, 28}), k}, a).ok()); // channel mismatch
  CHECK_FALSE(inferType(OpKind::Conv2D, {f32({1, 2, 2}), k}, {}).ok());  // filter larger than image
}

TEST_CASE("onehot turns class indices into vectors", "[shape]") {
  CHECK(inferType(OpKind::OneHot, {TensorType{DType::I32, {N}}}, attr("classes", int64_t(10))).type ==
        f32({N, 10}));
  CHECK_FALSE(inferType(OpKind::OneHot, {f32({N})}, attr("classes", int64_t(10))).ok());
}

TEST_CASE("pooling: windows, strides and pads give the ONNX extents, bad attributes say why", "[shape][pool]") {
  auto pool = [](Shape kernel, Shape stride, Shape pad) {
    Attrs a;
    a.set("kernel", std::move(kernel));
    a.set("stride", std::move(stride));
    a.set("pad", std::move(pad));
    return a;
  };
  // (H + top + bottom - kh) / sh + 1: PyTorch's MaxPool2d(3, 2, 1) on 7x7 gives 4x4.
  Attrs torch = pool({3, 3}, {2, 2}, {1, 1, 1, 1});
  CHECK(inferType(OpKind::MaxPool2D, {f32({N, 3, 7, 7})}, torch).type == f32({N, 3, 4, 4}));
  CHECK(inferType(OpKind::AvgPool2D, {f32({16, 28, 28})}, pool({2, 2}, {2, 2}, {0, 0, 0, 0})).type == f32({16, 14, 14}));
  // Floor: a 7x7 image in 2x2 windows keeps 3x3; asymmetric pads and windows.
  CHECK(inferType(OpKind::MaxPool2D, {f32({1, 7, 7})}, pool({2, 2}, {2, 2}, {0, 0, 0, 0})).type == f32({1, 3, 3}));
  CHECK(inferType(OpKind::MaxPool2D, {f32({1, 6, 5})}, pool({3, 2}, {1, 2}, {2, 0, 1, 1})).type == f32({1, 7, 3}));
  // The gradient and gather ops check their second operand.
  Attrs bwd = torch;
  CHECK(inferType(OpKind::MaxPool2DBwd, {f32({N, 3, 7, 7}), f32({N, 3, 4, 4})}, bwd).type == f32({N, 3, 7, 7}));
  CHECK(inferType(OpKind::MaxPool2DBwd, {f32({N, 3, 7, 7}), f32({N, 3, 3, 3})}, bwd).error ==
        "'maxpool2d_bwd': gradient [N, 3, 3, 3] does not match output [N, 3, 4, 4]");
  CHECK(inferType(OpKind::MaxPool2DGather, {f32({3, 7, 7}), f32({3, 7, 7})}, torch).type == f32({3, 4, 4}));
  CHECK_FALSE(inferType(OpKind::MaxPool2DGather, {f32({3, 7, 7}), f32({3, 7, 6})}, torch).ok());
  Attrs avgBwd = torch;
  avgBwd.set("shape", Shape{N, Dim(3), Dim(7), Dim(7)});
  CHECK(inferType(OpKind::AvgPool2DBwd, {f32({N, 3, 4, 4})}, avgBwd).type == f32({N, 3, 7, 7}));
  CHECK_FALSE(inferType(OpKind::AvgPool2DBwd, {f32({N, 3, 4, 4})}, torch).ok()); // no shape
  // Bad attributes and images.
  CHECK(inferType(OpKind::MaxPool2D, {f32({1, 8, 8})}, pool({2, 2}, {2, 2}, {2, 0, 0, 0})).error ==
        "'maxpool2d': pad [2, 0, 0, 0] must be 0 or more and smaller than the 2x2 window");
  CHECK(inferType(OpKind::MaxPool2D, {f32({1, 8, 8})}, pool({2, 2}, {0, 2}, {0, 0, 0, 0})).error ==
        "'maxpool2d' needs a window and a stride of 1 or more, got kernel [2, 2], stride [0, 2]");
  CHECK(inferType(OpKind::MaxPool2D, {f32({1, 8, 8})}, pool({2, 2}, {2, 2}, {0, 0})).error ==
        "'maxpool2d' needs pad = [top, left, bottom, right]");
  CHECK(inferType(OpKind::AvgPool2D, {f32({1, 2, 2})}, pool({3, 3}, {1, 1}, {0, 0, 0, 0})).error ==
        "'avgpool2d': the 3x3 window does not fit image [1, 2, 2] with pad [0, 0, 0, 0]");
  CHECK(inferType(OpKind::MaxPool2D, {f32({8, 8})}, pool({2, 2}, {2, 2}, {0, 0, 0, 0})).error ==
        "'maxpool2d' needs a [C, H, W] image, got [8, 8]");
  Attrs counted = torch;
  counted.set("count_include_pad", true);
  CHECK(inferType(OpKind::AvgPool2D, {f32({3, 7, 7})}, counted).ok());
  CHECK_FALSE(inferType(OpKind::MaxPool2D, {f32({3, 7, 7})}, counted).ok());
  // Hostile extents end in an error, not in overflowed arithmetic.
  const int64_t huge = int64_t(1) << 62;
  CHECK_FALSE(inferType(OpKind::MaxPool2D, {f32({1, 8, 8})}, pool({huge, 2}, {1, 1}, {huge - 1, 0, huge - 1, 0})).ok());
  CHECK_FALSE(inferType(OpKind::MaxPool2D, {f32({1, huge, 8})}, pool({2, 2}, {1, 1}, {1, 1, 1, 1})).ok());
}
