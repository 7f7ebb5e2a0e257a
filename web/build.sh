#!/usr/bin/env bash
# Builds the web app into web/dist. Until the real app lands this copies the static placeholder.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf dist
mkdir -p dist
cp -r public/. dist/
