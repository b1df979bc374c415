"""How the order of read-ahead advice changes the reads of a reduction from the disk.

    bench/.venv/bin/python bench/read_order.py bench/frames/n50 [RUNS]

DIR holds 5 biases, 5 flats and science frames (their names sort in that order, as in the
bench nights). Each run first drops DIR's files from the page cache (posix_fadvise
DONTNEED), then:

- `reads`: 2 threads read the 5 biases (256 KiB reads), with no advice, with the 5 biases
  advised first (POSIX_FADV_WILLNEED, 4 MiB per call, from a thread of its own), and with the
  10 calibration frames and 4 science frames advised first (the reduction's order before
  commit 12c1444). Printed: ms until the 5 biases are read.
- `model`: the reduction's reads and work modelled with sleeps for the computation (5
  biases of 10 ms, a master of 23 ms, 5 flats of 15 ms, a master of 29 ms, 30 science frames
  of 52 ms, 2 threads taking the frames in list order), with the advice given as before
  12c1444 (all calibration frames and 4 science frames at once, then each science frame 4
  ahead) or as since (each frame of the whole order k ahead). Printed: ms until the master
  bias, the master flat and the end.

A diagnostic of the read-ahead in src/reduce/pipeline.rs (`ReadAhead`), not part of the bench
table. Linux only (posix_fadvise).
"""

import glob
import os
import queue
import sys
import threading
import time

CHUNK = 4 << 20


def evict(files):
    for p in files:
        fd = os.open(os.path.realpath(p), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def advise(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    for offset in range(0, size, CHUNK):
        os.posix_fadvise(fd, offset, min(CHUNK, size - offset), os.POSIX_FADV_WILLNEED)
    os.close(fd)


def read(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(262144):
            pass


class Adviser:
    """A thread that advises the files it is given, in order."""

    def __init__(self):
        self.queue = queue.Queue()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        while (path := self.queue.get()) is not None:
            advise(path)

    def ask(self, path):
        self.queue.put(path)

    def close(self):
        self.queue.put(None)
        self.thread.join()


def in_order(paths, work_s, on_take, threads=2):
    """`threads` workers read `paths` in list order, each sleeping `work_s` after a read;
    `on_take(i)` is called as frame i is taken up."""
    lock, state = threading.Lock(), {"next": 0}

    def worker():
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(paths):
                return
            on_take(i)
            read(paths[i])
            time.sleep(work_s)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def reads(files, advised):
    evict(files)
    time.sleep(0.3)
    started = time.perf_counter()
    adviser = Adviser()
    for path in files[:advised]:
        adviser.ask(path)
    in_order(files[:5], 0.0, lambda i: None)
    elapsed = time.perf_counter() - started
    adviser.close()
    return 1e3 * elapsed


def model(files, policy, k, n_science=30):
    order = files[: 10 + n_science]
    evict(files)
    time.sleep(0.3)
    started = time.perf_counter()
    adviser = Adviser()
    marks = {}
    if policy == "before":
        for path in order[: 10 + k]:
            adviser.ask(path)
    else:
        for path in order[:k]:
            adviser.ask(path)

    def ask_ahead(first):
        def on_take(i):
            j = first + i + k
            if j < len(order) and (policy == "since" or first >= 10):
                adviser.ask(order[j])
        return on_take

    in_order(order[0:5], 0.010, ask_ahead(0))
    time.sleep(0.023)
    marks["master bias"] = time.perf_counter() - started
    in_order(order[5:10], 0.015, ask_ahead(5))
    time.sleep(0.029)
    marks["master flat"] = time.perf_counter() - started
    in_order(order[10:], 0.052, ask_ahead(10))
    marks["end"] = time.perf_counter() - started
    adviser.close()
    return " ".join(f"{name} {1e3 * t:.0f}" for name, t in marks.items())


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    files = sorted(glob.glob(os.path.join(sys.argv[1], "*.fits")))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if len(files) < 40:
        sys.exit(f"{sys.argv[1]}: needs 10 calibration frames and 30 science frames")
    for _ in range(runs):
        print("reads: " + ", ".join(
            f"{label} {reads(files, n):.0f} ms"
            for label, n in [("no advice", 0), ("5 biases advised", 5),
                             ("14 frames advised", 14)]))
    for _ in range(runs):
        for policy, k in [("before", 4), ("since", 2), ("since", 1)]:
            print(f"model, advice as {policy} 12c1444, {k} ahead: {model(files, policy, k)}")


if __name__ == "__main__":
    main()
