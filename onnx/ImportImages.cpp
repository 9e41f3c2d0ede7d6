//===- onnx/ImportImages.cpp - ONNX Conv, pooling and Pad ------------------===//
//
// The handlers of the ops on batches of [C, H, W] images: Conv (2-D,
// group 1, one pad and one stride for both axes), MaxPool and AveragePool
// (any window, strides and pads, auto_pad as explicit pads, ceil_mode 0),
// GlobalMaxPool and GlobalAveragePool, and a Pad of zeros that becomes the
// padding of the AveragePool that reads it (torch's export of a padded
// AvgPool2d).
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <functional>

#include "ir/PoolGeometry.h"
#include "onnx/Importer.h"

namespace dlc::onnx_import {

namespace {

/// One value for both spatial dims, or an error naming the attribute.
llvm::Expected<int64_t> uniform(const Dims &v, int64_t dflt, const char *what,
                                const std::function<llvm::Error(std::string)> &fail) {
  if (v.empty()) return dflt;
  for (int64_t x : v)
    if (x != v[0])
      return fail(fmt::format("{} [{}] differ; dlc takes one value for height and width", what, fmt::join(v, ", ")));
  return v[0];
}

/// One value when all of `v` are equal, else the list: `3` or `[3, 2]`.
std::string poolArg(const Dims &v) {
  if (std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == v[0]; })) return std::to_string(v[0]);
  return fmt::format("[{}]", fmt::join(v, ", "));
}

/// The explicit pads [top, left, bottom, right] of auto_pad SAME_UPPER or
/// SAME_LOWER: the output keeps ceil(in / stride) pixels per axis, the odd
/// pixel of padding at the end (UPPER) or the beginning (LOWER).
Dims samePads(const Dims &in, const Dims &kernel, const Dims &strides, bool upper) {
  Dims pads(4);
  for (size_t i = 0; i < 2; ++i) {
    int64_t out = (in[i] + strides[i] - 1) / strides[i];
    int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + kernel[i] - in[i]);
    pads[i] = upper ? total / 2 : total - total / 2;
    pads[i + 2] = total - pads[i];
  }
  return pads;
}

} // namespace

llvm::Error Importer::conv(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  auto wv = input(n, 1);
  if (!wv) return wv.takeError();
  Value &x = **xv, &w = **wv;
  auto failWith = [&](std::string why) { return nodeFail(n, "{}", why); };
  if (!x.batched || x.dims.size() != 3 || w.batched || w.dims.size() != 4)
    return nodeFail(n, "dlc imports 2-D Conv of a batch of [C, H, W] images with constant [O, C, KH, KW] weights");
  if (attrInt(n, "group", 1) != 1) return nodeFail(n, "group = {} is not supported (only 1)", attrInt(n, "group", 1));
  for (int64_t d : attrInts(n, "dilations", {}))
    if (d != 1) return nodeFail(n, "dilations other than 1 are not supported");
  std::string autoPad = attrString(n, "auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID") return nodeFail(n, "auto_pad = {} is not supported", autoPad);
  Dims kernel = attrInts(n, "kernel_shape", {w.dims[2], w.dims[3]});
  if (kernel != Dims{w.dims[2], w.dims[3]}) return nodeFail(n, "kernel_shape does not match the weights");
  if (w.dims[1] != x.dims[0]) return nodeFail(n, "the weights expect {} channels, the input has {}", w.dims[1], x.dims[0]);
  auto stride = uniform(attrInts(n, "strides", {}), 1, "strides", failWith);
  if (!stride) return stride.takeError();
  auto pad = uniform(attrInts(n, "pads", {}), 0, "pads", failWith);
  if (!pad) return pad.takeError();
  int64_t oh = (x.dims[1] + 2 * *pad - w.dims[2]) / *stride + 1, ow = (x.dims[2] + 2 * *pad - w.dims[3]) / *stride + 1;
  if (oh < 1 || ow < 1) return nodeFail(n, "the kernel is larger than the padded image");
  std::string expr = fmt::format("conv2d({}, {}", use(x), use(w));
  if (*stride != 1) expr += fmt::format(", stride = {}", *stride);
  if (*pad != 0) expr += fmt::format(", pad = {}", *pad);
  expr += ")";
  if (hasInput(n, 2)) {
    auto bv = input(n, 2);
    if (!bv) return bv.takeError();
    if ((*bv)->batched || (*bv)->dims != Dims{w.dims[0]}) return nodeFail(n, "the bias must be a constant [{}]", w.dims[0]);
    Dims perChannel{w.dims[0], 1, 1};
    expr += " + " + ((*bv)->fromInitializer ? use(**bv, &perChannel)
                                            : fmt::format("reshape({}, [{}, 1, 1])", use(**bv), w.dims[0]));
  }
  define(n, expr, true, {w.dims[0], oh, ow});
  return llvm::Error::success();
}

llvm::Error Importer::pool(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value *source = *xv;
  if (!source->padded.empty()) source = &values_.at(source->padded); // the Pad's zeros become the pool's padding
  Value &x = *source;
  if (n.output_size() > 1) return nodeFail(n, "the Indices output is not supported");
  if (!x.batched || x.dims.size() != 3) return nodeFail(n, "dlc pools a batch of [C, H, W] images (2-D pooling)");
  Dims kernel = attrInts(n, "kernel_shape", {});
  if (kernel.size() != 2 || kernel[0] < 1 || kernel[1] < 1)
    return nodeFail(n, "kernel_shape [{}]: dlc pools 2-D windows", fmt::join(kernel, ", "));
  Dims strides = attrInts(n, "strides", {1, 1});
  if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1)
    return nodeFail(n, "strides [{}]: dlc pools with two strides of 1 or more", fmt::join(strides, ", "));
  for (int64_t d : attrInts(n, "dilations", {}))
    if (d != 1)
      return nodeFail(n, "dilations [{}]: dilated pooling is not supported", fmt::join(attrInts(n, "dilations", {}), ", "));
  if (attrInt(n, "ceil_mode", 0) != 0)
    return nodeFail(n, "ceil_mode = 1 is not supported (dlc's windows stay inside the padded image, ceil_mode 0)");
  if (attrInt(n, "storage_order", 0) != 0) return nodeFail(n, "storage_order = 1 is not supported");
  std::string autoPad = attrString(n, "auto_pad", "NOTSET");
  Dims image{x.dims[1], x.dims[2]}, pads = attrInts(n, "pads", {0, 0, 0, 0});
  if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") pads = samePads(image, kernel, strides, autoPad == "SAME_UPPER");
  else if (autoPad == "VALID") pads = {0, 0, 0, 0};
  else if (autoPad != "NOTSET") return nodeFail(n, "auto_pad = {} is not supported", autoPad);
  if (pads.size() != 4) return nodeFail(n, "pads [{}]: 2-D pooling takes 4 pads", fmt::join(pads, ", "));
  bool countPad = n.op_type() == "AveragePool" && attrInt(n, "count_include_pad", 0) != 0;
  if (const Dims &zeros = (*xv)->zeroPads; !zeros.empty()) {
    if (pads != Dims{0, 0, 0, 0} && !countPad)
      return nodeFail(n, "pads its input with zeros (a Pad) and pads [{}] without counting them", fmt::join(pads, ", "));
    for (size_t i = 0; i < 4; ++i) pads[i] += zeros[i];
    countPad = true;
  }
  for (size_t i = 0; i < 4; ++i)
    if (pads[i] < 0 || pads[i] >= kernel[i % 2])
      return nodeFail(n, "pads [{}]: each pad must be 0 or more and smaller than the {}x{} window", fmt::join(pads, ", "),
                      kernel[0], kernel[1]);
  Dims out{x.dims[0], 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    auto extent = poolOutExtent(image[i], kernel[i], strides[i], pads[i], pads[i + 2]);
    if (!extent) return nodeFail(n, "the {}x{} window does not fit the {}x{} image", kernel[0], kernel[1], image[0], image[1]);
    out[i + 1] = *extent;
  }
  bool average = n.op_type() == "AveragePool";
  std::string expr = fmt::format("{}({}, {}", average ? "avgpool2d" : "maxpool2d", use(x), poolArg(kernel));
  if (strides != kernel) expr += fmt::format(", stride = {}", poolArg(strides));
  bool symmetric = pads[0] == pads[2] && pads[1] == pads[3];
  if (pads != Dims{0, 0, 0, 0})
    expr += ", pad = " + (symmetric ? poolArg({pads[0], pads[1]}) : fmt::format("[{}]", fmt::join(pads, ", ")));
  if (average && countPad) expr += ", count_include_pad = 1";
  define(n, expr + ")", true, out);
  return llvm::Error::success();
}

// Pad with zeros around the height and width of a batch of images: kept
// aside (not a statement) for the AveragePool that reads it, which counts
// the zeros (torch exports AvgPool2d(padding = p) so).
llvm::Error Importer::pad(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  if (attrString(n, "mode", "constant") != "constant") return nodeFail(n, "mode = {} is not supported", attrString(n, "mode", ""));
  Dims pads = attrInts(n, "pads", {});
  double value = attrFloat(n, "value", 0);
  if (opset_ >= 11) {
    auto given = knownInts(n, 1);
    if (!given) return given.takeError();
    pads = *given;
    if (hasInput(n, 2)) {
      auto v = input(n, 2);
      if (!v) return v.takeError();
      if (!(*v)->known || (*v)->data.size() != 1) return nodeFail(n, "the pad value must be a constant number");
      value = (*v)->data[0];
    }
  }
  if (!x.batched || x.dims.size() != 3 || pads.size() != 8 || value != 0 || pads[0] || pads[1] || pads[4] || pads[5])
    return nodeFail(n, "dlc imports a Pad of zeros around the height and width of a batch of images, "
                       "before an AveragePool");
  Value v;
  v.batched = true;
  v.onnxName = n.output(0);
  v.padded = n.input(0);
  v.zeroPads = {pads[2], pads[3], pads[6], pads[7]};
  v.dims = {x.dims[0], x.dims[1] + pads[2] + pads[6], x.dims[2] + pads[3] + pads[7]};
  values_[n.output(0)] = std::move(v);
  return llvm::Error::success();
}

// GlobalMaxPool, GlobalAveragePool: one window over the whole image.
llvm::Error Importer::globalPool(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  if (!x.batched || x.dims.size() != 3) return nodeFail(n, "dlc pools a batch of [C, H, W] images (2-D pooling)");
  std::string fn = n.op_type() == "GlobalMaxPool" ? "maxpool2d" : "avgpool2d";
  define(n, fmt::format("{}({}, {})", fn, use(x), poolArg({x.dims[1], x.dims[2]})), true, {x.dims[0], 1, 1});
  return llvm::Error::success();
}
} // namespace dlc::onnx_import
