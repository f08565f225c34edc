#!/usr/bin/env python3
"""Keeps the fewest corpus files that reach a share of a target's coverage features.

`cargo fuzz cmin` keeps every input that adds any feature; for `config` and `token_list` that is
hundreds of files, most of them for corners of serde_saphyr and serde_json. This greedy set cover
keeps fuzz/corpus under ~2 MB of disk (4 KiB a file). Usage, from fuzz/ after a `cargo fuzz build`:

    target/x86_64-unknown-linux-gnu/release/config -merge=1 -use_counters=0 \
        -merge_control_file=/tmp/cf-config /tmp/empty-dir corpus/config
    python3 cap_corpus.py /tmp/cf-config 0.88 /tmp/capped-config   # then replace corpus/config
"""
import os
import shutil
import sys

control, share, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
lines = open(control).read().split("\n")
count = int(lines[0])
files = lines[2 : 2 + count]
features = {}
for line in lines[2 + count :]:
    parts = line.split()
    if parts and parts[0] == "FT":
        features[int(parts[1])] = set(map(int, parts[2:]))
every = set().union(*features.values())
covered, chosen = set(), []
while len(covered) < share * len(every):
    best = max(features, key=lambda i: (len(features[i] - covered), -os.path.getsize(files[i])))
    if not features[best] - covered:
        break
    covered |= features[best]
    chosen.append(best)
print(f"{len(chosen)} of {count} files keep {len(covered)}/{len(every)} features")
os.makedirs(out, exist_ok=True)
for i in chosen:
    shutil.copy(files[i], out)
