#!/usr/bin/python3
"""QDQ test fixtures, written with python3-onnx and numpy only (no code shared
with libunet), and the reference the int8 tests compare against.

  qdq_model.py small OUT.onnx [--seed N]
      a small random U-Net-like float32 net: Conv+Relu, MaxPool, Conv+Relu,
      ConvTranspose 2x2/2, Concat, Conv (1x3x16x16 -> 1x4x16x16)
  qdq_model.py quantize IN.onnx OUT.onnx --input X.npy|TILE.png[,TILE.png...] [--bits 7]
      the QDQ form ONNX Runtime's static quantiser writes: every Conv's input
      through QuantizeLinear/DequantizeLinear (uint8 per tensor, zero point from
      the range seen on X, which includes 0), its weights int8 per output
      channel (symmetric, scale max|w|/127), DequantizeLinear in front; opset 13.
      --bits 7: activations on 0..127, with a Clip(max) in front of each
      QuantizeLinear so no quantised value exceeds 127 (unet-quantize's
      --activation-bits 7 form)
  qdq_model.py run MODEL.onnx X.npy OUT.npy
      float64 evaluation of MODEL (Conv, ConvTranspose, Relu, MaxPool, Concat,
      BatchNormalization, Softmax, QuantizeLinear, DequantizeLinear): for a QDQ
      model, the exact QDQ arithmetic (round half to even, saturation)
Every Conv input of the nets here is non-negative (image or Relu output), so
the zero points are 0, as ONNX Runtime's quantiser gives for such tensors.
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def conv2d(x, w, b, pads, strides):
    n, c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (xp.shape[2] - kh) // strides[0] + 1
    ow = (xp.shape[3] - kw) // strides[1] + 1
    y = np.zeros((n, o, oh, ow))
    for a in range(kh):
        for bb in range(kw):
            patch = xp[:, :, a:a + strides[0] * oh:strides[0], bb:bb + strides[1] * ow:strides[1]]
            y += np.einsum('nchw,oc->nohw', patch, w[:, :, a, bb])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def deconv2x2(x, w, b):
    n, c, h, wd = x.shape
    o = w.shape[1]
    y = np.zeros((n, o, 2 * h, 2 * wd))
    for a in range(2):
        for bb in range(2):
            y[:, :, a::2, bb::2] = np.einsum('nchw,co->nohw', x, w[:, :, a, bb])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def evaluate(model, x, keep=None):
    vals = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    vals[model.graph.input[0].name] = x.astype(np.float64)
    for nd in model.graph.node:
        ins = [vals[i] if i else None for i in nd.input]
        op = nd.op_type
        if op == 'Conv':
            k = ins[1].shape[2]
            pads = attr(nd, 'pads', [0, 0, 0, 0])
            y = conv2d(ins[0], ins[1].astype(np.float64), ins[2] if len(ins) > 2 else None,
                       pads, attr(nd, 'strides', [1, 1]))
            del k
        elif op == 'ConvTranspose':
            y = deconv2x2(ins[0], ins[1].astype(np.float64), ins[2] if len(ins) > 2 else None)
        elif op == 'Relu':
            y = np.maximum(ins[0], 0)
        elif op == 'MaxPool':
            a = ins[0]
            y = np.maximum(np.maximum(a[:, :, 0::2, 0::2], a[:, :, 0::2, 1::2]),
                           np.maximum(a[:, :, 1::2, 0::2], a[:, :, 1::2, 1::2]))
        elif op == 'Clip':
            y = ins[0]
            if len(ins) > 1 and ins[1] is not None:
                y = np.maximum(y, ins[1].astype(np.float64))
            if len(ins) > 2 and ins[2] is not None:
                y = np.minimum(y, ins[2].astype(np.float64))
        elif op == 'Concat':
            y = np.concatenate(ins, axis=attr(nd, 'axis', 1))
        elif op == 'BatchNormalization':
            s, bb, m, v = (t.reshape(1, -1, 1, 1) for t in ins[1:5])
            y = s * (ins[0] - m) / np.sqrt(v + attr(nd, 'epsilon', 1e-5)) + bb
        elif op == 'Softmax':
            e = np.exp(ins[0] - ins[0].max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
        elif op == 'QuantizeLinear':
            s, z = ins[1], ins[2]
            lo, hi = (0, 255) if z.dtype == np.uint8 else (-128, 127)
            y = np.clip(np.rint(ins[0] / np.float64(s)) + z, lo, hi).astype(z.dtype)
        elif op == 'DequantizeLinear':
            s, z = ins[1].astype(np.float64), ins[2]
            q = ins[0].astype(np.float64)
            if s.ndim == 1 and s.size > 1:
                shape = [1] * q.ndim
                shape[attr(nd, 'axis', 1)] = -1
                s, z = s.reshape(shape), z.reshape(shape)
            y = (q - z.astype(np.float64)) * s
        else:
            raise SystemExit('qdq_model.py: no reference for %s' % op)
        vals[nd.output[0]] = y
    if keep is not None:
        keep.update(vals)
    return vals[model.graph.output[0].name]


def small(out, seed):
    rng = np.random.default_rng(seed)

    def w(name, shape):
        fan = np.prod(shape[1:])
        return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan)).astype(np.float32), name)

    def b(name, n):
        return numpy_helper.from_array((rng.standard_normal(n) * 0.05).astype(np.float32), name)

    inits = [w('w1', (8, 3, 3, 3)), b('b1', 8), w('w2', (16, 8, 3, 3)), b('b2', 16),
             w('wu', (16, 8, 2, 2)), b('bu', 8), w('w3', (8, 16, 3, 3)), b('b3', 8),
             w('wh', (4, 8, 1, 1)), b('bh', 4)]
    p1 = [1, 1, 1, 1]
    nodes = [
        helper.make_node('Conv', ['x', 'w1', 'b1'], ['c1'], pads=p1, name='conv1'),
        helper.make_node('Relu', ['c1'], ['r1'], name='relu1'),
        helper.make_node('MaxPool', ['r1'], ['p1'], kernel_shape=[2, 2], strides=[2, 2], name='pool'),
        helper.make_node('Conv', ['p1', 'w2', 'b2'], ['c2'], pads=p1, name='conv2'),
        helper.make_node('Relu', ['c2'], ['r2'], name='relu2'),
        helper.make_node('ConvTranspose', ['r2', 'wu', 'bu'], ['u'], kernel_shape=[2, 2], strides=[2, 2], name='up'),
        helper.make_node('Concat', ['r1', 'u'], ['cat'], axis=1, name='concat'),
        helper.make_node('Conv', ['cat', 'w3', 'b3'], ['c3'], pads=p1, name='conv3'),
        helper.make_node('Relu', ['c3'], ['r3'], name='relu3'),
        helper.make_node('Conv', ['r3', 'wh', 'bh'], ['y'], name='head'),
    ]
    g = helper.make_graph(nodes, 'small', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 3, 16, 16])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['N', 4, 16, 16])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)], producer_name='qdq_model.py')
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, out)


def fold_batchnorm(m):
    """Conv -> BatchNormalization into one Conv, as quantisers do before
    quantising (the weights quantised are the ones that run)."""
    inits = {i.name: i for i in m.graph.initializer}
    uses = {}
    for nd in m.graph.node:
        for i in nd.input:
            uses[i] = uses.get(i, 0) + 1
    by_out = {nd.output[0]: nd for nd in m.graph.node}
    keep = []
    for nd in m.graph.node:
        c = by_out.get(nd.input[0]) if nd.op_type == 'BatchNormalization' else None
        if c is None or c.op_type != 'Conv' or uses.get(nd.input[0]) != 1:
            keep.append(nd)
            continue
        s, b, mu, var = (numpy_helper.to_array(inits[i]).astype(np.float64) for i in nd.input[1:5])
        k = s / np.sqrt(var + attr(nd, 'epsilon', 1e-5))
        w = numpy_helper.to_array(inits[c.input[1]]).astype(np.float64) * k.reshape(-1, 1, 1, 1)
        cb = numpy_helper.to_array(inits[c.input[2]]).astype(np.float64) if len(c.input) > 2 else 0.0
        inits[c.input[1]].CopyFrom(numpy_helper.from_array(w.astype(np.float32), c.input[1]))
        bname = c.input[1] + '_bnbias'
        inits[bname] = numpy_helper.from_array(((cb - mu) * k + b).astype(np.float32), bname)
        if len(c.input) > 2:
            c.input[2] = bname
        else:
            c.input.append(bname)
        c.output[0] = nd.output[0]
    del m.graph.node[:]
    m.graph.node.extend(keep)
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits.values())


def quantize(src, out, x, bits=8):
    m = onnx.load(src)
    fold_batchnorm(m)
    vals = {}
    evaluate(m, x, vals)
    inits = {i.name: i for i in m.graph.initializer}
    new_nodes, new_inits = [], []
    for nd in m.graph.node:
        if nd.op_type in ('Conv', 'ConvTranspose'):
            a, wn = nd.input[0], nd.input[1]
            lo, hi = min(0.0, float(vals[a].min())), max(0.0, float(vals[a].max()))
            qmax = (1 << bits) - 1
            s = np.float32((hi - lo) / qmax if hi > lo else 1.0)
            z = np.uint8(np.clip(np.rint(-lo / s), 0, qmax))
            new_inits += [numpy_helper.from_array(np.array(s, np.float32), a + '_scale'),
                          numpy_helper.from_array(np.array(z, np.uint8), a + '_zero')]
            q_in = a
            if bits < 8:
                q_in = a + '_clipped'
                new_inits.append(numpy_helper.from_array(np.array((qmax - int(z)) * s, np.float32), a + '_cmax'))
                new_nodes.append(helper.make_node('Clip', [a, '', a + '_cmax'], [q_in], name=nd.name + '_clip'))
            new_nodes += [helper.make_node('QuantizeLinear', [q_in, a + '_scale', a + '_zero'], [a + '_q'], name=nd.name + '_q'),
                          helper.make_node('DequantizeLinear', [a + '_q', a + '_scale', a + '_zero'], [a + '_dq'], name=nd.name + '_dq')]
            wf = numpy_helper.to_array(inits[wn]).astype(np.float64)
            axis = 0 if nd.op_type == 'Conv' else 1
            red = tuple(i for i in range(4) if i != axis)
            sw = (np.abs(wf).max(axis=red) / 127.0).astype(np.float32)
            sw[sw == 0] = 1.0
            shape = [1, 1, 1, 1]
            shape[axis] = -1
            wq = np.clip(np.rint(wf / sw.reshape(shape).astype(np.float64)), -127, 127).astype(np.int8)
            new_inits += [numpy_helper.from_array(wq, wn + '_q'), numpy_helper.from_array(sw, wn + '_scale'),
                          numpy_helper.from_array(np.zeros(sw.shape, np.int8), wn + '_zero')]
            new_nodes.append(helper.make_node('DequantizeLinear', [wn + '_q', wn + '_scale', wn + '_zero'], [wn + '_dq'],
                                              axis=axis, name=nd.name + '_wdq'))
            nd.input[0], nd.input[1] = a + '_dq', wn + '_dq'
            del inits[wn]
        new_nodes.append(nd)
    del m.graph.node[:]
    m.graph.node.extend(new_nodes)
    used = {i for nd in m.graph.node for i in nd.input}
    del m.graph.initializer[:]
    m.graph.initializer.extend([t for t in list(inits.values()) + new_inits if t.name in used])
    for o in m.opset_import:
        if o.domain in ('', 'ai.onnx') and o.version < 13:
            o.version = 13
    onnx.checker.check_model(m)
    onnx.save(m, out)


def read_png_rgb(path):
    """An 8-bit RGB, non-interlaced PNG (the sample tiles) as HxWx3 uint8."""
    import struct
    import zlib
    data = open(path, 'rb').read()
    pos, idat, w, h = 8, b'', 0, 0
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, lace = struct.unpack('>IIBBBBB', body)
            if depth != 8 or ctype != 2 or lace:
                raise SystemExit('qdq_model.py: %s is not an 8-bit RGB non-interlaced PNG' % path)
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    out = np.zeros((h, 3 * w), np.int32)
    for y in range(h):
        f, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y else np.zeros(3 * w, np.int32)
        if f == 0 or f == 2:
            out[y] = (row + (prev if f == 2 else 0)) & 255
            continue
        cur = np.zeros(3 * w, np.int32)
        for i in range(3 * w):
            a = cur[i - 3] if i >= 3 else 0
            b, c = prev[i], (prev[i - 3] if i >= 3 else 0)
            if f == 1:
                pr = a
            elif f == 3:
                pr = (a + b) >> 1
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
            cur[i] = (row[i] + pr) & 255
        out[y] = cur
    return out.reshape(h, w, 3).astype(np.uint8)


def read_tiles(paths):
    return np.stack([read_png_rgb(p).transpose(2, 0, 1) / 255.0 for p in paths]).astype(np.float32)


def main(argv):
    if len(argv) >= 2 and argv[0] == 'small':
        seed = int(argv[argv.index('--seed') + 1]) if '--seed' in argv else 1
        small(argv[1], seed)
    elif len(argv) in (5, 7) and argv[0] == 'quantize' and argv[3] == '--input' and argv[5:6] in ([], ['--bits']):
        x = np.load(argv[4]) if argv[4].endswith('.npy') else read_tiles(argv[4].split(','))
        quantize(argv[1], argv[2], x, int(argv[6]) if len(argv) == 7 else 8)
    elif len(argv) == 4 and argv[0] == 'run':
        np.save(argv[3], evaluate(onnx.load(argv[1]), np.load(argv[2])))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
