#!/usr/bin/env python3
"""Checks an ONNX file with the onnx package's own tools and prints OK.

    check_onnx.py MODEL [--run INPUT EXPECTED N C H W TOL]

Runs onnx.checker.check_model(full_check=True) and strict shape inference,
parses every unet.* metadata value as JSON and checks that the inferred output
shape keeps the symbolic N/H/W. With --run it also evaluates the graph with a
small numpy interpreter (written from the ONNX operator definitions, sharing
nothing with unet's C code) on INPUT (raw little-endian float32, N x C x H x W)
and compares the first output with EXPECTED (raw little-endian float64) within
TOL (max abs difference).

Exit status: 0 OK, 1 check failed, 77 the onnx or numpy module is missing
(the test then skips).
"""
import json
import sys

try:
    import onnx
    from onnx import numpy_helper, shape_inference
except ImportError as e:  # pragma: no cover
    print(f"SKIP: python module missing: {e}")
    sys.exit(77)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check_model(model):
    onnx.checker.check_model(model, full_check=True)
    inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    for key in ("unet.input", "unet.ignore_label", "unet.arch"):
        if key not in {p.key for p in model.metadata_props}:
            fail(f"metadata key {key} missing")
    for prop in model.metadata_props:
        if prop.key.startswith("unet."):
            try:
                json.loads(prop.value)
            except ValueError as e:
                fail(f"metadata {prop.key} is not JSON: {e}: {prop.value!r}")
    for vi in list(inferred.graph.input) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        params = [d.dim_param for d in dims]
        if len(dims) != 4 or params[0] != "N" or params[2] != "H" or params[3] != "W":
            fail(f"{vi.name} lost its symbolic N/H/W: {params}")
    init_names = {t.name for t in model.graph.initializer}
    if init_names & {i.name for i in model.graph.input}:
        fail("initializers are listed as graph inputs")
    return inferred


# ---- numpy interpreter for the operators a U-Net export uses ----------------

def attrs_of(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv(np, x, w, b, at):
    kh, kw = w.shape[2], w.shape[3]
    if list(at.get("kernel_shape", [kh, kw])) != [kh, kw]:
        fail("Conv kernel_shape disagrees with the weight")
    if at.get("group", 1) != 1 or list(at.get("dilations", [1, 1])) != [1, 1]:
        fail("unexpected Conv group/dilations")
    pt, pl, pb, pr = at.get("pads", [0, 0, 0, 0])
    sh, sw = at.get("strides", [1, 1])
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, :, ky:ky + sh * oh:sh, kx:kx + sw * ow:sw]
            y += np.einsum("nihw,oi->nohw", patch, w[:, :, ky, kx])
    return y + b.reshape(1, -1, 1, 1)


def conv_transpose(np, x, w, b, at):
    kh, kw = w.shape[2], w.shape[3]
    sh, sw = at.get("strides", [1, 1])
    pt, pl, pb, pr = at.get("pads", [0, 0, 0, 0])
    if at.get("group", 1) != 1 or "output_padding" in at or "output_shape" in at:
        fail("unexpected ConvTranspose attributes")
    n, _, h, wd = x.shape
    full = np.zeros((n, w.shape[1], (h - 1) * sh + kh, (wd - 1) * sw + kw))
    for ky in range(kh):
        for kx in range(kw):
            full[:, :, ky:ky + sh * (h - 1) + 1:sh, kx:kx + sw * (wd - 1) + 1:sw] += \
                np.einsum("nihw,io->nohw", x, w[:, :, ky, kx])
    y = full[:, :, pt:full.shape[2] - pb, pl:full.shape[3] - pr]
    return y + b.reshape(1, -1, 1, 1)


def max_pool(np, x, at):
    kh, kw = at["kernel_shape"]
    sh, sw = at.get("strides", [1, 1])
    if any(at.get("pads", [0, 0, 0, 0])):
        fail("MaxPool pads not handled by the checker")
    oh = (x.shape[2] - kh) // sh + 1
    ow = (x.shape[3] - kw) // sw + 1
    y = np.full((x.shape[0], x.shape[1], oh, ow), -np.inf)
    for ky in range(kh):
        for kx in range(kw):
            y = np.maximum(y, x[:, :, ky:ky + sh * oh:sh, kx:kx + sw * ow:sw])
    return y


def run_graph(np, model, feed):
    vals = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    vals.update(feed)
    for node in model.graph.node:
        at = attrs_of(node)
        ins = [vals[i] for i in node.input]
        op = node.op_type
        if op == "Conv":
            y = conv(np, ins[0], ins[1], ins[2], at)
        elif op == "ConvTranspose":
            y = conv_transpose(np, ins[0], ins[1], ins[2], at)
        elif op == "BatchNormalization":
            x, s, bb, m, v = ins
            sh = (1, -1, 1, 1)
            eps = at.get("epsilon", 1e-5)
            y = s.reshape(sh) * (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) + eps) + bb.reshape(sh)
        elif op == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif op == "MaxPool":
            y = max_pool(np, ins[0], at)
        elif op == "Concat":
            y = np.concatenate(ins, axis=at["axis"])
        elif op == "Softmax":
            ax = at.get("axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=ax, keepdims=True))
            y = e / e.sum(axis=ax, keepdims=True)
        else:
            fail(f"operator {op} not handled by the checker")
        vals[node.output[0]] = y
    return vals[model.graph.output[0].name]


def main(argv):
    if len(argv) not in (2, 10) or (len(argv) == 10 and argv[2] != "--run"):
        print(__doc__)
        return 2
    model = onnx.load(argv[1])
    check_model(model)
    if len(argv) == 10:
        try:
            import numpy as np
        except ImportError as e:  # pragma: no cover
            print(f"SKIP: python module missing: {e}")
            return 77
        n, c, h, w = (int(v) for v in argv[5:9])
        tol = float(argv[9])
        x = np.fromfile(argv[3], dtype="<f4").astype(np.float64)
        if x.size != n * c * h * w:
            fail(f"input holds {x.size} floats, expected {n * c * h * w}")
        expected = np.fromfile(argv[4], dtype="<f8")
        got = run_graph(np, model, {model.graph.input[0].name: x.reshape(n, c, h, w)})
        if got.size != expected.size:
            fail(f"output has {got.size} values ({got.shape}), expected {expected.size}")
        diff = float(np.max(np.abs(got.reshape(-1) - expected)))
        if not diff <= tol:
            fail(f"max abs difference {diff:g} exceeds {tol:g}")
        print(f"max abs difference {diff:.3g}")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
