"""Peak memory of the everything-on photometry over many distinct frames: the survey-scale
check of "memory independent of the number of frames" beyond the bench's 100.

    python3 bench/scale.py [--frames N] [--cometphot PATH] [--keep]

Needs the bench's simulated night (bench/run.sh makes it in bench/frames/raw). Makes
N distinct science frames from its 100 (default 1000, 17 MiB each on the disk, so 17 GB for
1000): copy r of a frame has its DATE-OBS r seconds later, so that the scan does not set it
aside as a duplicate exposure of the first. Links the calibration frames beside them, then
runs cometphot's everything-on command (catalogue and cosmic-ray cleaning, as bench/run.sh)
on the first 20, the first 100 and all N, sampling the resident memory (VmRSS) every 0.2 s.
Prints, per run, the wall time, frames/s, the peak RSS (ru_maxrss) and the RSS after each
quarter of the run. Deletes the copies afterwards unless `--keep`.
"""

import argparse
import csv
import datetime
import glob
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAW = os.path.join(ROOT, "bench", "frames", "raw")
SAMPLE_S = 0.2


def night_frames():
    """The simulated night's directory, its calibration frames and its science frames (paths,
    in the order of the simulation's truth table, as bench/run.sh takes them)."""
    truth = sorted(glob.glob(os.path.join(RAW, "*", "truth_frames.csv")))
    if not truth:
        sys.exit(f"no simulated night in {RAW}: run bench/run.sh first")
    night = os.path.dirname(truth[0])
    calibration, science = [], []
    with open(truth[0], newline="") as f:
        for row in csv.DictReader(f):
            path = os.path.join(night, row["file"])
            (science if row["frame_type"] == "science" else calibration).append(path)
    return night, calibration, science


def shifted_date_obs(header_block, seconds):
    """`header_block` (bytes) with its DATE-OBS card's time `seconds` later, same length."""
    i = header_block.find(b"DATE-OBS= '")
    if i < 0:
        sys.exit("no DATE-OBS card in the first header block")
    start = i + len(b"DATE-OBS= '")
    end = header_block.index(b"'", start)
    text = header_block[start:end].decode()
    when = datetime.datetime.fromisoformat(text) + datetime.timedelta(seconds=seconds)
    new = when.isoformat(timespec="milliseconds" if "." in text else "seconds")
    if len(new) != len(text):
        sys.exit(f"DATE-OBS '{text}' -> '{new}' changes the card's length")
    return header_block[:start] + new.encode() + header_block[end:]


def make_frames(work, n, calibration, science):
    """Fills `work` with the calibration frames (links) and `n` distinct science frames."""
    os.makedirs(work, exist_ok=True)
    for path in calibration:
        link = os.path.join(work, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(path, link)
    names = []
    for k in range(n):
        copy, path = divmod(k, len(science))
        source = science[path]
        name = f"{os.path.basename(source)[:-5]}_c{copy:03d}.fits"
        target = os.path.join(work, name)
        names.append(name)
        if os.path.exists(target):
            continue
        with open(source, "rb") as f:
            data = f.read()
        head = 2880 * 4  # DATE-OBS is in the primary header's first blocks
        with open(target, "wb") as f:
            f.write(shifted_date_obs(data[:head], copy) if copy else data[:head])
            f.write(data[head:])
        if k % 100 == 99:
            print(f"   {k + 1} frames written", file=sys.stderr)
    return [os.path.basename(p) for p in calibration], names


def subset(work, calibration, names, n):
    """A directory of links to the calibration frames and the first `n` science frames."""
    directory = os.path.join(work, f"first{n}")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for name in calibration + names[:n]:
        os.symlink(os.path.realpath(os.path.join(work, name)), os.path.join(directory, name))
    return directory


def rss_mib(pid):
    """VmRSS of `pid` (MiB), None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def sampled_run(cmd):
    """Runs `cmd`; returns (wall s, peak RSS MiB from wait4, [(t s, RSS MiB)] samples)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    samples = []
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = rss_mib(proc.pid)
        if rss is not None:
            samples.append((time.perf_counter() - started, rss))
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):  # cometphot: 2 = some inputs skipped
        sys.exit(f"{' '.join(cmd)}: exit status {code}")
    return wall, usage.ru_maxrss / 1024.0, samples


def rss_at(samples, t):
    """The last sample at or before `t` (MiB)."""
    before = [rss for when, rss in samples if when <= t]
    return before[-1] if before else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--cometphot", default=os.path.join(ROOT, "target", "release", "cometphot"))
    p.add_argument("--work", default=os.path.join(ROOT, "bench", "frames", "scale"))
    p.add_argument("--keep", action="store_true", help="keep the copies for another run")
    args = p.parse_args()
    night, calibration_paths, science = night_frames()
    catalogue = os.path.join(night, "catalogue.csv")
    print(f"== {args.frames} distinct frames in {args.work}", file=sys.stderr)
    calibration, names = make_frames(args.work, args.frames, calibration_paths, science)
    lines = ["| science frames | wall (s) | frames/s | peak RSS (MiB) "
             "| RSS after 1/4, 1/2, 3/4 of the run (MiB) |", "|---:|---:|---:|---:|---|"]
    for n in sorted({min(20, args.frames), min(100, args.frames), args.frames}):
        directory = subset(args.work, calibration, names, n)
        out = os.path.join(args.work, f"photometry_{n}.csv")
        print(f"== cometphot photometry, {n} frames", file=sys.stderr)
        wall, peak, samples = sampled_run([args.cometphot, "photometry", directory,
                                           "--object", "3I", "--catalog", catalogue,
                                           "--out", out, "-q"])
        quarters = ", ".join(f"{rss_at(samples, wall * q / 4):.0f}" for q in (1, 2, 3))
        lines.append(f"| {n} | {wall:.1f} | {n / wall:.1f} | {peak:.0f} | {quarters} |")
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
