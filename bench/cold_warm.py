"""How the memory settings change a run started after a pause ("cold") and one started right
after another ("warm"), side by side.

    python3 bench/cold_warm.py [--rounds N] [--scope full|peer] [--variant LABEL=PATH[:ENV=V,...]]

Runs the bench's 50-frame `photometry` command (bench/frames/n50, as bench/run.sh links it;
`--scope peer`: the peer's scope, `--no-cosmic` and no catalogue) with each variant in turn,
`--rounds` times (default 4). In every round each variant runs once after `--idle` seconds
(default 8) of idle and once straight after. Printed: every run's wall, user and system time
and peak RSS, then per variant the medians.

Default variants: target/release/cometphot as built (mimalloc, transparent huge pages as
mimalloc asks for them) and the same with MIMALLOC_ALLOW_THP=0 (4 KiB pages). Another build
is compared with `--variant`, e.g. one with the system allocator (src/main.rs without its
`#[global_allocator]` static): `--variant glibc=/tmp/cometphot_glibc`.

Why: this VM hands memory that stays free for a few seconds back to the host (free page
reporting), and the kernel takes the 2 MiB blocks of transparent huge pages from exactly
that memory, which the host must then fault in again: a run after a pause spends ~0.5 s
more system time. 4 KiB pages come from memory the host still backs. A diagnostic for the
choice of allocator settings in src/main.rs, not part of the bench table.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from measure import run_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env):
    """Runs `cmd` with `env` added; returns (wall s, user s, system s, peak RSS MiB)."""
    wall, usage, _ = run_child(cmd, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024.0


def parse_variant(text):
    """LABEL=PATH[:ENV=V,...] -> (label, path, env)."""
    label, _, rest = text.partition("=")
    path, _, envs = rest.partition(":")
    env = dict(e.split("=", 1) for e in envs.split(",") if e)
    if not label or not path:
        sys.exit(f"--variant {text}: expected LABEL=PATH[:ENV=V,...]")
    return label, path, env


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--idle", type=float, default=8.0, help="seconds idle before a cold run")
    p.add_argument("--scope", choices=["full", "peer"], default="full")
    p.add_argument("--frames", default=os.path.join(ROOT, "bench", "frames", "n50"))
    p.add_argument("--variant", action="append", default=[],
                   help="LABEL=PATH[:ENV=V,...], added to the two default variants")
    args = p.parse_args()
    binary = os.path.join(ROOT, "target", "release", "cometphot")
    variants = [("thp", binary, {}), ("no-thp", binary, {"MIMALLOC_ALLOW_THP": "0"})]
    variants += [parse_variant(v) for v in args.variant]
    catalogue = os.path.join(ROOT, "bench", "frames", "raw", "20250701", "catalogue.csv")
    if args.scope == "full":
        scope = ["--catalog", catalogue]
    else:
        scope = ["--no-cosmic"]
    out = os.path.join("/tmp", f"cold_warm_{os.getpid()}.csv")
    results = {(label, state): [] for label, _, _ in variants for state in ("cold", "warm")}
    print("round variant state   wall s  user s  sys s  RSS MiB")
    for r in range(args.rounds):
        for label, path, env in variants:
            cmd = [path, "photometry", args.frames, "--object", "3I", *scope, "--out", out, "-q"]
            time.sleep(args.idle)
            for state in ("cold", "warm"):
                measured = run(cmd, env)
                results[(label, state)].append(measured)
                print(f"{r + 1:5} {label:7} {state:5} {measured[0]:8.2f} {measured[1]:7.2f} "
                      f"{measured[2]:6.2f} {measured[3]:8.0f}", flush=True)
    for name in os.listdir("/tmp"):
        if name.startswith(f"cold_warm_{os.getpid()}"):
            os.remove(os.path.join("/tmp", name))
    print(f"\nmedians over {args.rounds} rounds ({args.scope} scope):")
    print("variant state   wall s  user s  sys s  RSS MiB")
    for (label, state), runs in results.items():
        med = [statistics.median(col) for col in zip(*runs)]
        print(f"{label:7} {state:5} {med[0]:8.2f} {med[1]:7.2f} {med[2]:6.2f} {med[3]:8.0f}")


if __name__ == "__main__":
    main()
