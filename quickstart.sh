#!/usr/bin/env bash
# Set up a virtual environment, fetch the pretrained models and a few sample photos, then
# detect, align and embed four faces (two people) and print their distance matrix.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python src/download_and_extract.py --models_dir models --sample_photos cache/sample_photos
.venv/bin/python src/compare.py models/20170512-110547 \
    cache/sample_photos/ben_afflek/ben_afflek_1.jpg cache/sample_photos/ben_afflek/ben_afflek_2.jpg \
    cache/sample_photos/madonna/madonna_1.jpg cache/sample_photos/madonna/madonna_2.jpg
