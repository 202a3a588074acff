#!/usr/bin/env bash
# Builds the fuzz seed corpora from what the repository and the machine hold;
# nothing generated is committed.
#   usage: tests/fuzz/make-seeds.sh BUILD_DIR OUT_DIR
# BUILD_DIR must hold tests/fuzz/fuzz-image-seeds (a build configured with
# -Dfuzz=true); unet-make-model is taken from $UNET_MAKE_MODEL, else from
# BUILD_DIR/tools (any build has it). Writes OUT_DIR/onnx, OUT_DIR/png,
# OUT_DIR/jpeg.
#   onnx: small U-Nets from unet-make-model (depth 1-2, 2 filters, with and
#         without batch normalisation) and a few dozen ONNX backend node models
#         from Debian's libonnx-testdata (skipped when the package is absent);
#   png/jpeg: small crops of three sample tiles in every colour type and coding
#         mode (fuzz-image-seeds); small seeds keep the mutations fast.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 2
fi
build=$1
out=$2
root="$(cd "$(dirname "$0")/../.." && pwd)"
make_model="${UNET_MAKE_MODEL:-$build/tools/unet-make-model}"
image_seeds="$build/tests/fuzz/fuzz-image-seeds"
for tool in "$make_model" "$image_seeds"; do
  [ -x "$tool" ] || { echo "$0: $tool not built" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/onnx" "$out/png" "$out/jpeg"

# Asan's leak check would flag oneDNN's caches in these helper runs; they are
# not what is being tested here.
export ASAN_OPTIONS=detect_leaks=0

"$make_model" -o "$out/onnx/unet-d1-f2.onnx" --depth 1 --filters 2 --classes 2
"$make_model" -o "$out/onnx/unet-d1-f2-bn.onnx" --depth 1 --filters 2 --batchnorm --seed 2
"$make_model" -o "$out/onnx/unet-d2-f2.onnx" --depth 2 --filters 2 --classes 3 --seed 3

node_dir=/usr/share/libonnx-testdata/data/node
node_tests=(
  conv_with_strides_padding conv_with_autopad_same conv_with_strides_and_asymmetric_padding
  convtranspose convtranspose_pads convtranspose_output_shape
  maxpool_2d_pads maxpool_2d_strides averagepool_2d_pads globalaveragepool
  batchnorm_example instancenorm_example concat_2d_axis_0 concat_3d_axis_1
  relu leakyrelu sigmoid tanh clip softmax_axis_1 logsoftmax_axis_1
  resize_upsample_scales_nearest resize_upsample_scales_linear
  resize_downsample_sizes_linear_pytorch_half_pixel upsample_nearest
  add_bcast mul_bcast div sub matmul_2d gemm_default_matrix_bias einsum_batch_matmul
  reshape_reordered_all_dims reshape_negative_dim transpose_default flatten_axis1
  squeeze unsqueeze_axis_0 expand_dim_changed tile split_equal_parts_1d
  gather_0 slice slice_neg_steps constant_pad scatter_elements_with_axis
  reduce_mean_keepdims_example argmax_default_axis_example
  constantofshape_int_zeros shape cast_FLOAT_to_FLOAT16 where_example identity
  dropout_default range_float_type_positive_delta nonzero_example dynamicquantizelinear
)
n_node=0
if [ -d "$node_dir" ]; then
  for t in "${node_tests[@]}"; do
    if [ -f "$node_dir/test_$t/model.onnx" ]; then
      cp "$node_dir/test_$t/model.onnx" "$out/onnx/node-$t.onnx"
      n_node=$((n_node + 1))
    fi
  done
else
  echo "$0: $node_dir not found (install libonnx-testdata); ONNX seeds are the U-Nets only" >&2
fi

samples=("$root"/models/samples/images/*.png)
k=0
for s in "${samples[@]:0:3}"; do
  k=$((k + 1))
  tag=tile$k
  mkdir -p "$out/tmp-$tag"
  "$image_seeds" "$s" "$out/tmp-$tag"
  for f in "$out/tmp-$tag"/*; do
    case "$f" in
      *.png) mv "$f" "$out/png/$tag-$(basename "$f")" ;;
      *.jpg) mv "$f" "$out/jpeg/$tag-$(basename "$f")" ;;
    esac
  done
  rmdir "$out/tmp-$tag"
done

echo "seeds: $(ls "$out/onnx" | wc -l) onnx ($n_node node models), $(ls "$out/png" | wc -l) png, $(ls "$out/jpeg" | wc -l) jpeg in $out" >&2
