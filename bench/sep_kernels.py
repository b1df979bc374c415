"""SEP (the C library behind SExtractor's Python port) on the same calibrated frame as
cometphot's `reduce_cpu`: how long the lean C implementation of a background mesh and a source
extraction takes, one thread, beside cometphot's own stages.

    python3 bench/sep_kernels.py REDUCED.fits [--repeats 5]

REDUCED.fits: a frame written by `cometphot reduce` (primary HDU: the calibrated image in
electrons, float32; HDU MASK: nonzero = unusable), e.g. `cometphot reduce bench/frames/n2
--out /tmp/red`. Needs `sep`, `numpy` and `astropy` (e.g. a venv: `pip install sep numpy
astropy`; not part of cometphot, which never runs Python).

Stages timed (process CPU time, median of `--repeats`), with SEP's equivalents of cometphot's
settings (src/photometry/background.rs, src/photometry/detect.rs):
- background: `sep.Background`, 64 × 64 px boxes, 3 × 3 median filter, mask, then the full
  background and RMS maps (`back()`, `rms()`);
- extraction: `sep.extract` of the background-subtracted image with a 3 px FWHM Gaussian
  kernel, minimum area 5 px, deblending contrast 0.005 (SEP's 32-level deblending, where
  cometphot's is simpler), mask; the threshold as cometphot's (smoothed image above 5 × RMS ×
  the kernel's L2 norm: SEP's 'conv' filter), and beside it SEP's default 'matched' filter at
  5 σ;
- windowed centroids: `sep.winpos` of every object, σ = the median FWHM / 2.355 of the
  extraction's bright sources (SEP's flux_radius-based estimate).
The same numbers for cometphot come from `reduce_cpu` on the raw frame's directory (its
`estimate_background` and `detect_sources` lines).
"""

import argparse
import statistics
import sys
import time

import numpy as np
import sep
from astropy.io import fits


def cpu_ms(fn, repeats):
    """Median process CPU time of `fn()` over `repeats` calls (ms), and its last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.process_time()
        result = fn()
        times.append(1e3 * (time.process_time() - started))
    return statistics.median(times), result


def gaussian_kernel(fwhm_px):
    """A normalised Gaussian of `fwhm_px`, out to 3 σ (odd side)."""
    sigma = fwhm_px / 2.3548
    half = int(np.ceil(3 * sigma))
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    k = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    return k / k.sum()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reduced")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    with fits.open(args.reduced) as hdus:
        data = np.ascontiguousarray(hdus[0].data, dtype=np.float32)
        mask = np.ascontiguousarray(hdus["MASK"].data != 0)
    h, w = data.shape
    print(f"{args.reduced}: {w} x {h} px, {mask.sum()} masked, sep {sep.__version__}",
          file=sys.stderr)

    def background():
        bkg = sep.Background(data, mask=mask, bw=64, bh=64, fw=3, fh=3)
        return bkg, bkg.back(), bkg.rms()

    bkg_ms, (bkg, level, rms) = cpu_ms(background, args.repeats)
    sub = data - level
    kernel = gaussian_kernel(3.0)
    sep.set_extract_pixstack(5_000_000)
    sep.set_sub_object_limit(4096)

    # cometphot's test, smoothed > 5 rms ||k||_2, is SEP's 'conv' filter at 5 ||k||_2; SEP's
    # default 'matched' filter also convolves the variance map (exact for a varying rms).
    norm = float(np.sqrt((kernel * kernel).sum()))

    def extract(filter_type, thresh):
        return lambda: sep.extract(sub, thresh, err=rms, mask=mask, minarea=5,
                                   filter_kernel=kernel, filter_type=filter_type,
                                   deblend_cont=0.005)

    extract_ms, objects = cpu_ms(extract("conv", 5.0 * norm), args.repeats)
    matched_ms, matched = cpu_ms(extract("matched", 5.0), args.repeats)
    radii, _ = sep.flux_radius(sub, objects["x"], objects["y"], 6.0 * objects["a"], 0.5,
                               normflux=objects["flux"], subpix=5)
    bright = np.argsort(-objects["flux"])[:50]
    sigma = max(0.5, float(np.median(2.0 * radii[bright])) / 2.3548)

    def winpos():
        return sep.winpos(sub, objects["x"], objects["y"], np.full(len(objects), sigma),
                          mask=mask)

    winpos_ms, _ = cpu_ms(winpos, args.repeats)
    print("| SEP stage (1 thread) | CPU ms (median) |")
    print("|---|---:|")
    print(f"| background mesh, full background and RMS maps | {bkg_ms:.1f} |")
    print(f"| extraction, 'conv' filter at 5 ||k||_2 as cometphot ({len(objects)} objects) "
          f"| {extract_ms:.1f} |")
    print(f"| (extraction, SEP's default 'matched' filter: {len(matched)} objects) "
          f"| ({matched_ms:.1f}) |")
    print(f"| windowed centroids (sigma {sigma:.2f} px) | {winpos_ms:.1f} |")
    print(f"| total | {bkg_ms + extract_ms + winpos_ms:.1f} |")


if __name__ == "__main__":
    main()
