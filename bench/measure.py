"""Times cometphot, the I/O floor and the photutils peer for bench/run.sh; prints the table.

Every command runs as a child process whose wall time and peak resident memory (ru_maxrss
from wait4: the largest of the process and its waited-for descendants, as /usr/bin/time -v
reports) are recorded. frames/s counts science frames over the wall time of the whole
command (scan, masters, geometry and writing included, for cometphot and the peer alike).

Each cometphot command runs `--repeat` times (default 3) and its median wall time is the
one used, with the range shown: on this 2-core VM single runs of the same command were
measured 40 % apart. The guest hands memory that stays free for a few seconds back to the
host (free page reporting, `page_reporting_order` on the kernel command line), and a
process that faults such memory in again, as 2 MB transparent huge pages, waits ~4 ms per
page: 0.5 s more system time for cometphot's ~270 MB. A run started right after another
often gets that memory back before it is handed over; one after a few seconds idle does not. The peer, ~40 s a run, runs `--peer-repeat` times
(default 1), its median used the same way.
"""

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def run_child(cmd, stdout=None, env=None, cwd=None):
    """Runs `cmd` (with `env` added to the environment, in `cwd`); returns (wall seconds,
    its `resource.struct_rusage` from wait4, captured stdout: "" unless `stdout` is None)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if stdout is None else stdout,
                            env=None if env is None else {**os.environ, **env}, cwd=cwd)
    out = proc.stdout.read().decode() if stdout is None else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):  # cometphot: 2 = some inputs skipped
        sys.exit(f"{' '.join(cmd)}: exit status {code}")
    return wall, usage, out


def timed(cmd, stdout=None):
    """Runs `cmd`; returns (wall seconds, peak RSS in MiB, captured stdout)."""
    wall, usage, out = run_child(cmd, stdout=stdout)
    return wall, usage.ru_maxrss / 1024.0, out


def peak_rss_mib(cmd, threads, repeat):
    """The largest peak RSS (MiB) of `repeat` runs of `cmd` on `threads` rayon threads."""
    return max(run_child(cmd, stdout=subprocess.DEVNULL,
                         env={"RAYON_NUM_THREADS": str(threads)})[1].ru_maxrss / 1024.0
               for _ in range(max(1, repeat)))


def timed_median(cmd, repeat, before=None, stdout=None):
    """Runs `cmd` `repeat` times (calling `before()` ahead of each run, if given); returns
    (median wall seconds, every wall time, largest peak RSS in MiB, the last run's stdout)."""
    walls, rss, out = [], 0.0, ""
    for _ in range(max(1, repeat)):
        if before is not None:
            before()
        wall, run_rss, out = timed(cmd, stdout=stdout)
        walls.append(wall)
        rss = max(rss, run_rss)
    return statistics.median(walls), walls, rss, out


def spread(walls):
    """The range of the wall times of repeated runs, for the table."""
    return f"{min(walls):.2f}–{max(walls):.2f}" if len(walls) > 1 else ""


def evict(paths):
    """Drops `paths` from the page cache (flushed, then POSIX_FADV_DONTNEED; no privileges
    needed), so that their next read comes from the disk, as when a campaign is reprocessed
    after the cache has moved on. Returns the MiB still cached afterwards according to
    util-linux `fincore` (None without it), to show that the eviction took."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    try:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES",
                              *paths], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sum(int(v) for v in out.split()) / 2**20


def all_files(directory):
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if f.endswith(".fits"))


def science_files(directory):
    return sorted(
        os.path.join(directory, f)
        for f in os.listdir(directory)
        if f.endswith(".fits") and f not in BIAS_FLAT
    )


def calibration_files(directory):
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f in BIAS_FLAT)


BIAS_FLAT = set()

# The pause before each run of the "after idle" row (s): longer than the few seconds after
# which the guest hands free memory back to the host.
IDLE_S = 8.0

# Thread counts of the peak-memory row (more threads than cores only cost time).
THREADS_FOR_MEMORY = (1, 2, 4)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cometphot", required=True)
    p.add_argument("--read-floor", required=True)
    p.add_argument("--frames", required=True)
    p.add_argument("--night", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n-list", type=int, nargs="+", required=True)
    p.add_argument("--peer-n", type=int, required=True)
    p.add_argument("--peer-jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of each cometphot command; the median wall time is used")
    p.add_argument("--peer-repeat", type=int, default=1,
                   help="runs of the peer (~40 s each); the median wall time is used")
    p.add_argument("--reuse-peer", action="store_true",
                   help="do not run the peer: take its timing from out/peer_nN.json and its "
                        "table from out/peer_nN.csv, written by an earlier run on the same frames")
    args = p.parse_args()

    with open(os.path.join(args.night, "truth_frames.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["frame_type"] != "science":
                BIAS_FLAT.add(row["file"])
    catalogue = os.path.join(args.night, "catalogue.csv")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average before {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )

    def full_cmd(n, out=None):
        """Everything on: cosmic-ray cleaning, the catalogue (WCS refinement, zero point)."""
        out = out or os.path.join(args.out, f"cometphot_cold_n{n}.csv")
        return [args.cometphot, "photometry", os.path.join(args.frames, f"n{n}"),
                "--object", "3I", "--catalog", catalogue, "--out", out, "-q"]

    def scoped_cmd(n, out=None):
        """The peer's scope: no cosmic-ray cleaning and no catalogue (so no WCS refinement and
        no zero point), what bench/peer.py does not do either."""
        out = out or os.path.join(args.out, f"cometphot_scoped_cold_n{n}.csv")
        return [args.cometphot, "photometry", os.path.join(args.frames, f"n{n}"),
                "--object", "3I", "--no-cosmic", "--out", out, "-q"]

    results = {}
    for n in sorted(set(args.n_list)):
        out = os.path.join(args.out, f"cometphot_n{n}.csv")
        print(f"== cometphot photometry, {n} frames", file=sys.stderr)
        wall, walls, rss, _ = timed_median(full_cmd(n, out), args.repeat,
                                           stdout=subprocess.DEVNULL)
        with open(out, newline="") as f:
            measured = sum(1 for _ in csv.DictReader(f))
        results[n] = {"wall_s": wall, "walls": walls, "rss_mib": rss, "measured": measured}
        print(f"   {wall:.2f} s ({spread(walls)}), {rss:.0f} MiB, {measured} rows",
              file=sys.stderr)

    # Peak memory by number of threads (everything on, the fewest frames): what a batch
    # task with that many cores needs (README, "Spreading a campaign over a batch system").
    n_mem = min(results)
    print(f"== cometphot photometry, {n_mem} frames, peak memory on {THREADS_FOR_MEMORY} "
          "threads", file=sys.stderr)
    rss_by_threads = {t: peak_rss_mib(full_cmd(n_mem), t, args.repeat)
                      for t in THREADS_FOR_MEMORY}
    print("   " + ", ".join(f"{t}: {m:.0f} MiB" for t, m in rss_by_threads.items()),
          file=sys.stderr)

    # The same frames with the peer's scope.
    scoped_out = os.path.join(args.out, f"cometphot_scoped_n{args.peer_n}.csv")
    print(f"== cometphot photometry, {args.peer_n} frames, the peer's scope", file=sys.stderr)
    scoped_wall, scoped_walls, scoped_rss, _ = timed_median(
        scoped_cmd(args.peer_n, scoped_out), args.repeat, stdout=subprocess.DEVNULL)
    print(f"   {scoped_wall:.2f} s ({spread(scoped_walls)}), {scoped_rss:.0f} MiB",
          file=sys.stderr)

    n_floor = args.peer_n if args.peer_n in results else max(results)
    files = science_files(os.path.join(args.frames, f"n{n_floor}"))
    print(f"== I/O floor: read_frame of {len(files)} science frames", file=sys.stderr)
    _, _, out = timed([args.read_floor, "--passes", "3", *files])
    floor = json.loads(out)
    # The same frames read and calibrated (overscan, bias, flat; masters built first and not
    # timed), nothing measured: cometphot's calibration, and the least arithmetic any
    # calibration does (row overscan mean, bias, gain, flat, flags; read_floor's
    # `bare_calibration`): the floor of any pipeline that reduces its frames.
    print(f"== reduction floor: read_frame and calibration of {len(files)} science frames",
          file=sys.stderr)
    _, _, out = timed([args.read_floor, "--passes", "3", "--calibrate", *files,
                       *calibration_files(os.path.join(args.frames, f"n{n_floor}"))])
    calibrate_floor, bare_floor = (json.loads(line) for line in out.splitlines()[:2])

    # Everything on again, each run after a pause (the frames in the page cache): the memory
    # the guest handed back to the host meanwhile is faulted in again (module notes), as in
    # a run a user starts after a while, where the runs above mostly follow one another.
    print(f"== cometphot photometry, {n_floor} frames, each run after {IDLE_S:.0f} s idle",
          file=sys.stderr)
    idle_wall, idle_walls, _, _ = timed_median(full_cmd(n_floor), args.repeat,
                                               before=lambda: time.sleep(IDLE_S),
                                               stdout=subprocess.DEVNULL)
    print(f"   {idle_wall:.2f} s ({spread(idle_walls)})", file=sys.stderr)
    # From the disk: the files dropped from the page cache before each command. The read
    # floor and the two scopes take turns, `--repeat` rounds, so that all three meet the disk
    # in the same state (its speed was seen to vary twofold within an hour); the median of
    # each is used.
    everything = all_files(os.path.join(args.frames, f"n{n_floor}"))
    print(f"== from the disk (page cache dropped), {n_floor} frames: the read floor, "
          "everything on and the peer's scope in turn", file=sys.stderr)
    floor_runs, left = [], None
    cold_walls = {"full": [], "scoped": []}
    for _ in range(max(1, args.repeat)):
        left = evict(everything)
        _, _, out = timed([args.read_floor, "--passes", "1", *files])
        floor_runs.append(json.loads(out))
        for scope, cmd in [("full", full_cmd(n_floor)), ("scoped", scoped_cmd(n_floor))]:
            evict(everything)
            wall, _, _ = timed(cmd, stdout=subprocess.DEVNULL)
            cold_walls[scope].append(wall)
    # Per round, cometphot's time over the read floor's (same number of science frames).
    round_ratios = {scope: [w / r["wall_s"] for w, r in zip(walls, floor_runs)]
                    for scope, walls in cold_walls.items()}
    floor_runs.sort(key=lambda r: r["wall_s"])
    disk_floor = floor_runs[len(floor_runs) // 2]
    disk_floor["cached_mib_before"] = left
    disk_floor_walls = [r["wall_s"] for r in floor_runs]
    cold = {scope: statistics.median(walls) for scope, walls in cold_walls.items()}
    print(f"   read floor {disk_floor['ms_per_frame']:.1f} ms/frame ({spread(disk_floor_walls)} s)"
          + ("" if left is None else f", {left:.0f} MiB still cached before")
          + f"; everything on {cold['full']:.2f} s ({spread(cold_walls['full'])}); "
          f"the peer's scope {cold['scoped']:.2f} s ({spread(cold_walls['scoped'])})",
          file=sys.stderr)

    peer_csv = os.path.join(args.out, f"peer_n{args.peer_n}.csv")
    peer_json = os.path.join(args.out, f"peer_n{args.peer_n}.json")
    if args.reuse_peer:
        with open(peer_json) as f:
            saved = json.load(f)
        peer_wall, peer_rss, peer = saved["wall_s"], saved["rss_mib"], saved["peer"]
        peer_walls = saved.get("walls", [peer_wall])
        print(f"== photutils peer, {args.peer_n} frames: reused from {peer_json} "
              f"({saved.get('measured_utc', 'date unknown')})", file=sys.stderr)
    else:
        print(f"== photutils peer, {args.peer_n} frames, {args.peer_jobs} processes",
              file=sys.stderr)
        peer_wall, peer_walls, peer_rss, out = timed_median(
            [sys.executable, os.path.join(os.path.dirname(__file__), "peer.py"),
             os.path.join(args.frames, f"n{args.peer_n}"), args.truth, peer_csv,
             "--jobs", str(args.peer_jobs)],
            args.peer_repeat,
        )
        peer = json.loads(out.strip().splitlines()[-1])
        with open(peer_json, "w") as f:
            json.dump({"wall_s": peer_wall, "walls": peer_walls, "rss_mib": peer_rss,
                       "peer": peer,
                       "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                      f, indent=1)
    print(f"   {peer_wall:.1f} s", file=sys.stderr)

    # The comet's net flux, cometphot vs the peer (same frames): the two do the same job.
    # Frames where cometphot left pixels of the aperture out (flag masked_pixels: saturated
    # pixels of a star in it, which the peer sums) are compared apart.
    ours = {}
    if args.peer_n in results:
        with open(os.path.join(args.out, f"cometphot_n{args.peer_n}.csv"), newline="") as f:
            for row in csv.DictReader(f):
                ours[os.path.basename(row["file"])] = (float(row["net_e"]), row["flags"])
    diffs, flagged_diffs = [], []
    with open(peer_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["file"] in ours:
                net, flags = ours[row["file"]]
                masked = "masked_pixels" in flags.split("|")
                (flagged_diffs if masked else diffs).append(float(row["net_e"]) / net - 1.0)

    # The table.
    lines = []
    n_cmp = args.peer_n if args.peer_n in results else max(results)
    c = results[n_cmp]
    c_fps = n_cmp / c["wall_s"]
    p_fps = args.peer_n / peer_wall
    lines.append(f"| | frames | wall s (median) | runs, s | frames/s | per frame ms "
                 f"| peak RSS MiB |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for n, r in sorted(results.items()):
        lines.append(
            f"| cometphot photometry | {n} | {r['wall_s']:.2f} | {spread(r['walls'])} "
            f"| {n / r['wall_s']:.2f} | {1e3 * r['wall_s'] / n:.0f} | {r['rss_mib']:.0f} |"
        )
    lines.append(
        f"| cometphot photometry, the peer's scope (--no-cosmic, no catalogue) | {args.peer_n} "
        f"| {scoped_wall:.2f} | {spread(scoped_walls)} | {args.peer_n / scoped_wall:.2f} "
        f"| {1e3 * scoped_wall / args.peer_n:.0f} | {scoped_rss:.0f} |"
    )
    lines.append(
        f"| photutils peer ({peer['jobs']} processes) | {args.peer_n} | {peer_wall:.1f} "
        f"| {spread(peer_walls)} | {p_fps:.3f} | {1e3 * peer_wall / args.peer_n:.0f} "
        f"| {peer_rss:.0f} (largest process) |"
        + (" reused" if args.reuse_peer else "")
    )
    lines.append(
        f"| read_frame only (I/O floor, {floor['threads']} threads) | {floor['frames']} "
        f"| {floor['wall_s']:.2f} | | {floor['frames'] / floor['wall_s']:.1f} "
        f"| {floor['ms_per_frame']:.1f} | |"
    )
    lines.append(
        f"| read_frame and calibration (overscan, bias, flat) only, {calibrate_floor['threads']} "
        f"threads | {calibrate_floor['frames']} | {calibrate_floor['wall_s']:.2f} | "
        f"| {calibrate_floor['frames'] / calibrate_floor['wall_s']:.1f} "
        f"| {calibrate_floor['ms_per_frame']:.1f} | |"
    )
    lines.append(
        f"| read_frame and the bare calibration arithmetic only, {bare_floor['threads']} "
        f"threads | {bare_floor['frames']} | {bare_floor['wall_s']:.2f} | "
        f"| {bare_floor['frames'] / bare_floor['wall_s']:.1f} "
        f"| {bare_floor['ms_per_frame']:.1f} | |"
    )
    lines.append(
        f"| cometphot photometry, each run after {IDLE_S:.0f} s idle | {n_floor} "
        f"| {idle_wall:.2f} | {spread(idle_walls)} | {n_floor / idle_wall:.2f} "
        f"| {1e3 * idle_wall / n_floor:.0f} | |"
    )
    for scope, label in [("full", ""), ("scoped", ", the peer's scope")]:
        lines.append(
            f"| cometphot photometry{label}, from the disk (page cache dropped) | {n_floor} "
            f"| {cold[scope]:.2f} | {spread(cold_walls[scope])} "
            f"| {n_floor / cold[scope]:.2f} | {1e3 * cold[scope] / n_floor:.0f} | |"
        )
    lines.append(
        f"| read_frame only, from the disk (page cache dropped) | {disk_floor['frames']} "
        f"| {disk_floor['wall_s']:.2f} | {spread(disk_floor_walls)} "
        f"| {disk_floor['frames'] / disk_floor['wall_s']:.1f} "
        f"| {disk_floor['ms_per_frame']:.1f} | |"
    )
    lines.append("")
    lines.append(f"- speed ratio on {n_cmp} frames (cometphot / peer frames/s, median runs): "
                 f"{c_fps / p_fps:.1f}x (target >= 20x; "
                 f"{min(peer_walls) / max(c['walls']):.1f}-{max(peer_walls) / min(c['walls']):.1f}x "
                 f"over the runs); with the peer's scope {(args.peer_n / scoped_wall) / p_fps:.1f}x")
    if n_floor == args.peer_n:
        lines.append(f"- the same, each run after {IDLE_S:.0f} s idle: "
                     f"{(n_floor / idle_wall) / p_fps:.1f}x")
    per_frame = 1e3 * c["wall_s"] / n_cmp
    scoped_per_frame = 1e3 * scoped_wall / args.peer_n
    lines.append(f"- cometphot per frame / I/O floor per frame (page cache): {per_frame:.0f} ms "
                 f"/ {floor['ms_per_frame']:.1f} ms = {per_frame / floor['ms_per_frame']:.1f}x, "
                 f"the peer's scope {scoped_per_frame / floor['ms_per_frame']:.1f}x "
                 "(target <= 3x)")
    lines.append(f"- the reduction alone (read and calibration, nothing measured) per frame / "
                 f"I/O floor per frame (page cache): {calibrate_floor['ms_per_frame']:.1f} ms / "
                 f"{floor['ms_per_frame']:.1f} ms = "
                 f"{calibrate_floor['ms_per_frame'] / floor['ms_per_frame']:.1f}x; with the "
                 f"bare calibration arithmetic {bare_floor['ms_per_frame']:.1f} ms = "
                 f"{bare_floor['ms_per_frame'] / floor['ms_per_frame']:.1f}x")
    disk_ms = disk_floor["ms_per_frame"]
    disk_mib = sum(os.path.getsize(f) for f in files) / 2**20
    cold_ms = {k: 1e3 * v / n_floor for k, v in cold.items()}
    lines.append(f"- from the disk: cometphot per frame / read per frame: {cold_ms['full']:.0f} "
                 f"ms / {disk_ms:.1f} ms = {cold_ms['full'] / disk_ms:.1f}x, the peer's scope "
                 f"{cold_ms['scoped']:.0f} ms = {cold_ms['scoped'] / disk_ms:.1f}x; the disk "
                 f"read the files at {disk_mib / disk_floor['wall_s']:.0f} MiB/s (median run"
                 + ("" if disk_floor["cached_mib_before"] is None
                    else f"; {disk_floor['cached_mib_before']:.0f} MiB still cached before")
                 + f"); round by round {min(round_ratios['full']):.1f}-"
                 f"{max(round_ratios['full']):.1f}x, the peer's scope "
                 f"{min(round_ratios['scoped']):.1f}-{max(round_ratios['scoped']):.1f}x")
    ns = sorted(results)
    if len(ns) >= 2:
        lo, hi = ns[0], ns[-1]
        marginal = 1e3 * (results[hi]["wall_s"] - results[lo]["wall_s"]) / (hi - lo)
        fixed = results[lo]["wall_s"] - lo * marginal / 1e3
        lines.append(f"- marginal cost per frame ({lo} -> {hi} frames): {marginal:.0f} ms "
                     f"({marginal / floor['ms_per_frame']:.1f}x the floor); fixed cost "
                     f"(scan, masters, geometry) {fixed:.1f} s")
        lines.append(f"- peak memory {lo} vs {hi} frames: {results[lo]['rss_mib']:.0f} vs "
                     f"{results[hi]['rss_mib']:.0f} MiB")
    # Least-squares line through (threads, peak RSS): memory per thread and the rest.
    ts, ms = list(rss_by_threads), list(rss_by_threads.values())
    t_mean, m_mean = statistics.fmean(ts), statistics.fmean(ms)
    per_thread = (sum((t - t_mean) * (m - m_mean) for t, m in zip(ts, ms))
                  / sum((t - t_mean) ** 2 for t in ts))
    frame_mib = statistics.fmean(os.path.getsize(f) for f in files) / 2**20
    lines.append(f"- peak memory by threads ({n_mem} frames): "
                 + ", ".join(f"{t}: {m:.0f}" for t, m in rss_by_threads.items())
                 + f" MiB; {per_thread:.0f} MiB per thread ({per_thread / frame_mib:.1f} "
                 f"frame files of {frame_mib:.0f} MiB) over {m_mean - per_thread * t_mean:.0f} "
                 "MiB shared (masters, allocator, program)")
    for what, d in [("", diffs), (" masked_pixels", flagged_diffs)]:
        if d:
            lines.append(f"- comet net flux, peer / cometphot - 1 over {len(d)}{what} frames: "
                         f"median {statistics.median(d):+.4f}, max |.| "
                         f"{max(abs(v) for v in d):.4f}")
    lines.append(f"- peer mean time per frame inside one process: {peer['mean_frame_s']:.2f} s")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
