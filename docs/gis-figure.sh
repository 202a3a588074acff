#!/usr/bin/env bash
# Makes docs/gis-figure.png: a mask GeoTIFF written by unet-infer over its
# orthophoto, drawn the way QGIS shows the two layers (mask at 50% opacity,
# the polygons of --vector outlined), with GDAL's command-line tools only.
#
#   bash docs/gis-figure.sh MODEL.onnx IMAGE.jpg WORKDIR [BUILD] [OUT.png]
#
# The JPEG is made into an orthophoto like real ones: placed in UTM zone 40N
# (EPSG:32640, near Dubai) with 0.5 m pixels, turned 12 degrees (three GCPs)
# and warped north-up by gdalwarp, so its corners are nodata (alpha band).
set -euo pipefail
model=$1 image=$2 work=$3 build=${4:-build} out=${5:-docs/gis-figure.png}
mkdir -p "$work"
size=$(gdalinfo -json "$image" | python3 -c 'import json,sys; print(*json.load(sys.stdin)["size"])')
read -r w h <<<"$size"

# 1. A rotated, georeferenced orthophoto with nodata corners.
gcps=$(awk -v w="$w" -v h="$h" 'BEGIN {
  t = 12 * atan2(0, -1) / 180; s = 0.5; e0 = 327000; n0 = 2788000
  split("0 0 " w " 0 0 " h, p, " ")
  for (i = 1; i <= 6; i += 2) {
    x = p[i]; y = p[i + 1]
    printf "-gcp %d %d %.3f %.3f ", x, y, e0 + s * (x * cos(t) + y * sin(t)), n0 + s * (x * sin(t) - y * cos(t))
  }
}')
# shellcheck disable=SC2086
gdal_translate -q -of VRT -a_srs EPSG:32640 $gcps "$image" "$work/placed.vrt"
gdalwarp -q -overwrite -t_srs EPSG:32640 -tr 0.5 0.5 -r bilinear -dstalpha \
  -co TILED=YES -co COMPRESS=DEFLATE "$work/placed.vrt" "$work/ortho.tif"

# 2. Mask GeoTIFF and polygons.
"$build/tools/unet-infer" "$model" "$work/ortho.tif" --scene -o "$work/out" --force --quiet \
  --vector gpkg --min-area 20 --simplify 0.5

# 3. The picture: image and mask colours averaged where the image has data,
#    transparent outside; polygon outlines burnt in white.
gdal_translate -q -expand rgba "$work/out/ortho.mask.tif" "$work/mask-rgba.tif"
read -r W H gt <<<"$(gdalinfo -json "$work/ortho.tif" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(*d["size"], ",".join(repr(v) for v in d["geoTransform"]))')"
{
  echo "<VRTDataset rasterXSize=\"$W\" rasterYSize=\"$H\"><GeoTransform>$gt</GeoTransform>"
  for b in 1 2 3; do
    echo "<VRTRasterBand dataType=\"Byte\" band=\"$b\" subClass=\"VRTDerivedRasterBand\">"
    echo "<PixelFunctionType>sum</PixelFunctionType>"
    for src in ortho.tif mask-rgba.tif; do
      echo "<ComplexSource><SourceFilename relativeToVRT=\"1\">$src</SourceFilename><SourceBand>$b</SourceBand><ScaleRatio>0.5</ScaleRatio></ComplexSource>"
    done
    echo "</VRTRasterBand>"
  done
  echo "<VRTRasterBand dataType=\"Byte\" band=\"4\"><ColorInterp>Alpha</ColorInterp>"
  echo "<SimpleSource><SourceFilename relativeToVRT=\"1\">ortho.tif</SourceFilename><SourceBand>4</SourceBand></SimpleSource>"
  echo "</VRTRasterBand></VRTDataset>"
} > "$work/blend.vrt"
gdal_translate -q -a_srs EPSG:32640 "$work/blend.vrt" "$work/blend.tif"
ogr2ogr -overwrite -nlt MULTILINESTRING "$work/outlines.gpkg" "$work/out/ortho.gpkg"
gdal_rasterize -q -b 1 -b 2 -b 3 -burn 255 -burn 255 -burn 255 "$work/outlines.gpkg" "$work/blend.tif"
gdal_translate -q -of PNG -outsize 720 0 -r average "$work/blend.tif" "$work/figure.png"
# 256 colours keep the PNG small (Debian's pngquant; the full-colour PNG otherwise).
if command -v pngquant >/dev/null; then
  pngquant --force --quality 60-90 --speed 1 --output "$out" "$work/figure.png"
else
  cp "$work/figure.png" "$out"
fi
echo "wrote $out ($(stat -c %s "$out") bytes)"
