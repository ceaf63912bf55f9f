#!/usr/bin/env bash
# Render the offline UMAP explorer in headless Chromium (Debian's `chromium`) and save a PNG.
#   bash scripts/screenshot_explorer.sh [reports/analysis/umap_explorer.html] [reports/analysis/umap_explorer.png]
set -euo pipefail
html=$(realpath "${1:-reports/analysis/umap_explorer.html}")
png=${2:-reports/analysis/umap_explorer.png}
command -v chromium >/dev/null || { echo "chromium not installed: apt-get install chromium" >&2; exit 2; }
tmp=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$tmp" --window-size=800,700 \
  --virtual-time-budget=5000 --screenshot="$(realpath -m "$png")" "file://$html" 2>/dev/null
rm -rf "$tmp"
echo "wrote $png"
