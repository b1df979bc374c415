#!/usr/bin/env bash
# Whole-pipeline benchmark: cometphot `photometry` (reduce in memory + measure) against an
# astropy/photutils peer (bench/peer.py) on the same full-size simulated ALFOSC frames.
#
#   bench/run.sh                 # 20, 50 and 100 frames; the peer on 50
#   N_LIST="20 100" PEER_N=20 bench/run.sh
#   SKIP_BUILD=1 bench/run.sh    # use target/release/{cometphot,examples/read_floor} as they are
#   REUSE_PEER=1 bench/run.sh    # do not run the peer (~40 s on 50 frames): reuse the timing
#                                # and table of its last run on the same frames (bench/out)
#   REPEAT=5 PEER_REPEAT=3 bench/run.sh   # runs of each cometphot command (default 3) and of
#                                # the peer (default 1); the median wall time of each is used
#
# Steps: build cometphot and the read-floor example (one cargo invocation, so both share one
# feature set), install the peer into bench/.venv (pinned, bench/requirements.txt), simulate
# the frames once (bench/campaign.toml, seeded; 1.9 GB in bench/frames/raw, ~2 min), link
# the first N science frames with the biases and flats into bench/frames/nN, then
# bench/measure.py times everything and prints the table. Outputs go to bench/out/.
# The frames are read from the page cache (just written or read), and then once more from the
# disk: measure.py drops them from the cache (posix_fadvise DONTNEED) before those runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$root"

N_LIST="${N_LIST:-20 50 100}"
PEER_N="${PEER_N:-50}"
FRAMES="${FRAMES:-$here/frames}"
max_n=0
for n in $N_LIST $PEER_N; do (( n > max_n )) && max_n=$n; done
(( max_n <= 100 )) || { echo "at most 100 frames (bench/campaign.toml)" >&2; exit 1; }

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== build (cargo build --release --features bench --bin cometphot --example read_floor)" >&2
    cargo build --release --features bench --bin cometphot --example read_floor >&2
fi
bin="$root/target/release/cometphot"
floor="$root/target/release/examples/read_floor"

reuse=()
[[ "${REUSE_PEER:-0}" == 1 ]] && reuse=(--reuse-peer)

if [[ ! -x "$here/.venv/bin/python" ]] \
    || ! cmp -s "$here/requirements.txt" "$here/.venv/requirements.installed"; then
    echo "== Python peer into bench/.venv" >&2
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install --quiet --upgrade pip >&2
    "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt" >&2
    cp "$here/requirements.txt" "$here/.venv/requirements.installed"
fi

raw="$FRAMES/raw"
if ! cmp -s "$here/campaign.toml" "$raw/bench.toml" 2>/dev/null; then
    echo "== simulating the frames into $raw" >&2
    rm -rf "$raw"
    "$bin" simulate --campaign "$here/campaign.toml" --out "$raw" -q
    cp "$here/campaign.toml" "$raw/bench.toml"
fi
night="$(dirname "$(ls "$raw"/*/truth_frames.csv | head -1)")"

# frames/nN: the calibration frames and the first N science frames, as symbolic links.
for n in $N_LIST $PEER_N; do
    dir="$FRAMES/n$n"
    rm -rf "$dir"
    mkdir -p "$dir"
    awk -F, -v n="$n" 'NR > 1 && ($2 != "science" || s++ < n) { print $1 }' \
        "$night/truth_frames.csv" | while read -r f; do ln -s "$night/$f" "$dir/$f"; done
done

mkdir -p "$here/out"
exec "$here/.venv/bin/python" "$here/measure.py" \
    --cometphot "$bin" --read-floor "$floor" --frames "$FRAMES" --night "$night" \
    --truth "$raw/truth_campaign.csv" --out "$here/out" --n-list $N_LIST --peer-n "$PEER_N" \
    --repeat "${REPEAT:-3}" --peer-repeat "${PEER_REPEAT:-1}" "${reuse[@]}"
