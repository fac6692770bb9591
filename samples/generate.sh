#!/usr/bin/env bash
# Regenerates the sample recordings: each <name>.txt is spoken by espeak-ng and converted by sox to
# a 16 kHz mono 16-bit WAV. A .txt starting with a [spk_N] tag is a two-speaker conversation: each
# turn is spoken in its speaker's voice (spk_1 en-us, spk_0 en-us+f3) with 0.4 s of silence between
# turns; the tags are not spoken. The WAVs are committed, so users need neither tool
# (to regenerate: apt-get install espeak-ng sox).
set -euo pipefail
cd "$(dirname "$0")"
for text in *.txt; do
  name="${text%.txt}"
  if [[ "$(head -c 5 "$text")" != "[spk_" ]]; then
    espeak-ng -v en-us -s 165 -w "/tmp/$name.raw.wav" -f "$text"
    sox "/tmp/$name.raw.wav" -r 16000 -c 1 -b 16 "$name.wav"
    rm -f "/tmp/$name.raw.wav"
  else
    tmp="$(mktemp -d)"
    sox -n -r 16000 -c 1 -b 16 "$tmp/gap.wav" trim 0 0.4
    mapfile -t turns < <(tr '\n' ' ' < "$text" | sed 's/\[\(spk_[0-9]*\)\]/\n\1/g' | grep -v '^ *$')
    parts=()
    for i in "${!turns[@]}"; do
      read -r spk words <<< "${turns[$i]}"
      voice=en-us; [[ "$spk" == spk_0 ]] && voice=en-us+f3
      espeak-ng -v "$voice" -s 165 -w "$tmp/$i.raw.wav" "$words"
      sox "$tmp/$i.raw.wav" -r 16000 -c 1 -b 16 "$tmp/$i.wav"
      (( i > 0 )) && parts+=("$tmp/gap.wav")
      parts+=("$tmp/$i.wav")
    done
    sox "${parts[@]}" "$name.wav"
    rm -rf "$tmp"
  fi
  echo "$name.wav: $(soxi -D "$name.wav") s"
done
