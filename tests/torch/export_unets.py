#!/usr/bin/python3
"""Exports small U-Nets from PyTorch as ONNX, with inputs and PyTorch's outputs.

    export_unets.py OUTDIR

The U-Net is built like unet's own (two 3x3 convolutions + ReLU per level,
optional BatchNormalization, 2x2 max pooling, 2x2 stride-2 ConvTranspose up,
concatenated skip, 1x1 head giving logits) and exported with torch.onnx.export
in the variants other tools produce: opsets 11, 13 and 17; BatchNormalization
kept as nodes (eval mode, TrainingMode.PRESERVE) or folded into the convs by
the exporter; bilinear nn.Upsample (align_corners False and True) + 1x1 conv
instead of ConvTranspose; an NHWC (Keras-style) input and output permuted
inside the model; a dynamic batch axis (exported at batch 1, run at batch 3);
dynamic batch, height and width (run at another size than exported), also
with the upsampling size taken from the skip tensor's shape at run time.

For each variant NAME it writes NAME.onnx, NAME.input.f32 and NAME.expected.f32
(raw little-endian float32, PyTorch's own output in float64 rounded to
float32), and one line to OUTDIR/manifest.tsv:
NAME<TAB>INPUT DIMS<TAB>OUTPUT DIMS<TAB>operator histogram. Dims are written
as 2x3x64x64.

Exit status: 0 done, 1 an export failed, 77 torch or onnx is not installed.
"""
import collections
import os
import sys
import warnings

try:
    import numpy as np
    import onnx
    import torch
    from torch import nn
except ImportError as e:
    print(f"SKIP: python module missing ({e}): apt-get install python3-torch python3-onnx")
    sys.exit(77)


def block(c_in, c_out, bn):
    layers = []
    for c in (c_in, c_out):
        layers.append(nn.Conv2d(c, c_out, 3, padding=1))
        if bn:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Up(nn.Module):
    """Doubles H and W and halves the channels: ConvTranspose 2x2 stride 2;
    or bilinear nn.Upsample(scale_factor=2) followed by a 1x1 convolution; or
    (bilinear-size) interpolation to the skip's size taken from its shape at run
    time, which the exporter writes as a Shape/Slice/Concat subgraph."""

    def __init__(self, c, mode):
        super().__init__()
        self.mode = mode
        if mode == "deconv":
            self.up = nn.ConvTranspose2d(c, c // 2, 2, stride=2)
        elif mode == "bilinear-size":
            self.up = nn.Conv2d(c, c // 2, 1)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=(mode == "bilinear-ac")),
                nn.Conv2d(c, c // 2, 1))

    def forward(self, x, skip):
        if self.mode == "bilinear-size":
            x = nn.functional.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
        return self.up(x)


class UNet(nn.Module):
    def __init__(self, in_ch=3, classes=5, base=4, depth=2, bn=False, up="deconv", nhwc=False):
        super().__init__()
        self.nhwc = nhwc
        self.down = nn.ModuleList()
        c = in_ch
        for level in range(depth):
            self.down.append(block(c, base << level, bn))
            c = base << level
        self.pool = nn.MaxPool2d(2)
        self.bottom = block(c, base << depth, bn)
        self.ups = nn.ModuleList()
        self.dec = nn.ModuleList()
        for level in reversed(range(depth)):
            self.ups.append(Up(base << (level + 1), up))
            self.dec.append(block(base << (level + 1), base << level, bn))
        self.head = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        skips = []
        for blk in self.down:
            x = blk(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, blk in zip(self.ups, self.dec):
            skip = skips.pop()
            x = blk(torch.cat([skip, up(x, skip)], dim=1))
        y = self.head(x)
        return y.permute(0, 2, 3, 1) if self.nhwc else y


def randomise(model, gen):
    """He-normal weights and non-zero biases (PyTorch's default init shrinks the
    signal level by level, which would hide errors in the deep layers), and
    batch-norm statistics and affine parameters away from 0/1, so a runtime
    that ignored any of them would be caught."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            w = m.weight.data
            fan_in = w.shape[1] * w.shape[2] * w.shape[3]
            if isinstance(m, nn.ConvTranspose2d):  # IOHW, 2x2 stride 2: one tap per input channel
                fan_in = w.shape[0]
            w.copy_(torch.randn(w.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=gen) * 0.2 - 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)


# name, opset, model options, export options
VARIANTS = [
    ("deconv-opset11", 11, {}, {}),
    ("deconv-opset13", 13, {}, {}),
    ("deconv-opset17", 17, {}, {}),
    ("bn-opset11", 11, {"bn": True}, {"keep_bn": True}),
    ("bn-opset13", 13, {"bn": True}, {"keep_bn": True}),
    ("bn-opset17", 17, {"bn": True}, {"keep_bn": True}),
    ("bn-folded-opset13", 13, {"bn": True}, {}),
    ("bilinear-opset11", 11, {"up": "bilinear"}, {}),
    ("bilinear-opset13", 13, {"up": "bilinear"}, {}),
    ("bilinear-opset17", 17, {"up": "bilinear"}, {}),
    ("bilinear-ac-opset11", 11, {"up": "bilinear-ac"}, {}),
    ("bilinear-ac-opset13", 13, {"up": "bilinear-ac"}, {}),
    ("bilinear-ac-opset17", 17, {"up": "bilinear-ac"}, {}),
    ("nhwc-opset13", 13, {"nhwc": True}, {}),
    ("nhwc-bn-bilinear-opset17", 17, {"nhwc": True, "bn": True, "up": "bilinear"}, {"keep_bn": True}),
    ("dynbatch-opset13", 13, {}, {"dynamic": "N"}),
    ("dynbatch-bilinear-opset17", 17, {"up": "bilinear"}, {"dynamic": "N"}),
    ("dynnhw-bilinear-opset17", 17, {"up": "bilinear"}, {"dynamic": "NHW"}),
    ("dynnhw-bilinear-size-opset13", 13, {"up": "bilinear-size"}, {"dynamic": "NHW"}),
    ("dynnhw-bilinear-size-bnfolded-opset11", 11, {"up": "bilinear-size", "bn": True}, {"dynamic": "NHW"}),
]


def dims_text(shape):
    return "x".join(str(int(d)) for d in shape)


def export(outdir, index, name, opset, model_opts, export_opts):
    torch.manual_seed(1000 + index)
    gen = torch.Generator().manual_seed(2000 + index)
    model = UNet(**model_opts)
    with torch.no_grad():
        randomise(model, gen)
    model.eval()
    nhwc = model_opts.get("nhwc", False)
    dynamic = export_opts.get("dynamic", "")

    def shaped(n, h, w):
        return (n, h, w, 3) if nhwc else (n, 3, h, w)

    export_shape = shaped(1 if dynamic else 2, 64, 64)
    run_shape = {"": shaped(2, 64, 64), "N": shaped(3, 64, 64), "NHW": shaped(3, 96, 80)}[dynamic]
    dynamic_axes = None
    if dynamic:
        h_axis, w_axis = (1, 2) if nhwc else (2, 3)
        axes = {0: "N"}
        if dynamic == "NHW":
            axes.update({h_axis: "H", w_axis: "W"})
        dynamic_axes = {"input": axes, "logits": dict(axes)}
    mode = torch.onnx.TrainingMode.PRESERVE if export_opts.get("keep_bn") else torch.onnx.TrainingMode.EVAL
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(model, torch.rand(export_shape, generator=gen), path, opset_version=opset,
                      input_names=["input"], output_names=["logits"], dynamic_axes=dynamic_axes,
                      training=mode, do_constant_folding=not export_opts.get("keep_bn"))
    onnx_model = onnx.load(path)
    onnx.checker.check_model(onnx_model)
    ops = collections.Counter(n.op_type for n in onnx_model.graph.node)
    if model_opts.get("bn") and ("BatchNormalization" in ops) != bool(export_opts.get("keep_bn")):
        raise RuntimeError(f"{name}: BatchNormalization nodes {'missing' if export_opts.get('keep_bn') else 'not folded'}")

    x = torch.rand(run_shape, generator=gen)
    with torch.no_grad():
        # float64 copy of the model: the reference is as exact as float32 inputs allow
        y = model.double()(x.double()).float()
    x.numpy().astype("<f4").tofile(os.path.join(outdir, name + ".input.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(outdir, name + ".expected.f32"))
    hist = ",".join(f"{op}:{n}" for op, n in sorted(ops.items()))
    return f"{name}\t{dims_text(run_shape)}\t{dims_text(y.shape)}\t{hist}\n"


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    # The exporter's advice on shape inference and constant folding is noise here.
    warnings.filterwarnings("ignore", category=UserWarning)
    lines = []
    for i, (name, opset, model_opts, export_opts) in enumerate(VARIANTS):
        lines.append(export(outdir, i, name, opset, model_opts, export_opts))
    tmp = os.path.join(outdir, ".manifest.tsv.tmp")
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, os.path.join(outdir, "manifest.tsv"))
    print(f"exported {len(lines)} models (torch {torch.__version__}, onnx {onnx.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
