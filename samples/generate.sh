#!/usr/bin/env bash
# Regenerates the sample dictations: each <name>.txt is spoken by espeak-ng and converted by sox to
# a 16 kHz mono 16-bit WAV. The WAVs are committed, so users need neither tool
# (to regenerate: apt-get install espeak-ng sox).
set -euo pipefail
cd "$(dirname "$0")"
for text in *.txt; do
  name="${text%.txt}"
  espeak-ng -v en-us -s 165 -w "/tmp/$name.raw.wav" -f "$text"
  sox "/tmp/$name.raw.wav" -r 16000 -c 1 -b 16 "$name.wav"
  rm -f "/tmp/$name.raw.wav"
  echo "$name.wav: $(soxi -D "$name.wav") s"
done
