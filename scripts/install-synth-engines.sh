#!/bin/sh
# The offline speech synthesisers that `nepcheck corpus build` uses, from Debian (bookworm). MBROLA voices and
# pico are in contrib/non-free. Needs root; safe to run twice.
set -eu
sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ] && ! grep -q "non-free" "$sources"; then
    sed -i 's/^Components: main$/Components: main contrib non-free/' "$sources"
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    espeak-ng mbrola mbrola-nl1 mbrola-nl2 mbrola-nl3 mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 \
    libttspico-utils flite festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k festvox-us-slt-hts \
    festvox-don festvox-us1 festvox-us2 festvox-us3 festvox-en1 >/dev/null
