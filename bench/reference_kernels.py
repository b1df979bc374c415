"""The established C implementations of cometphot's per-frame algorithms on the same
calibrated frame as cometphot's `reduce_cpu`, one thread: SEP (SExtractor's algorithms as a
library) for the background mesh, the source extraction and the windowed centroids, and
astroscrappy (L.A.Cosmic) for the cosmic rays; to set beside cometphot's own stages.

    python3 bench/reference_kernels.py REDUCED.fits [--repeats 5]

REDUCED.fits: a frame written by `cometphot reduce --no-cosmic` (primary HDU: the calibrated
image in electrons, float32; HDU MASK: nonzero = unusable; its cosmic rays still in it for
astroscrappy to find), e.g. `cometphot reduce bench/frames/n2 --no-cosmic --out /tmp/red`.
Needs `sep`, `astroscrappy`, `numpy` and `astropy` (e.g. a venv: `pip install sep astroscrappy
numpy astropy`; not part of cometphot, which never runs Python).

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
  extraction's bright sources (SEP's flux_radius-based estimate);
- cosmic rays: `astroscrappy.detect_cosmics` with cometphot's settings (its defaults: σ_clip
  4.5, σ_frac 0.3, objlim 5, 4 iterations; full 5 × 5 medians, `sepmed=False`; flagged pixels
  replaced by the median of their unflagged 5 × 5 neighbours, `cleantype='medmask'`), the read
  noise from the frame's RDNOISE; timed once (a call takes seconds).
The same numbers for cometphot come from `reduce_cpu` on the raw frame's directory (its
`estimate_background`, `detect_sources` and `cosmic` lines).
"""

import os

# One thread for every library (astroscrappy can be built with OpenMP), before they load.
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import astroscrappy  # noqa: E402
import numpy as np  # noqa: E402
import sep  # noqa: E402
from astropy.io import fits  # noqa: E402


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
        read_noise_e = float(hdus[0].header["RDNOISE"])
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

    def cosmic():
        flagged, _ = astroscrappy.detect_cosmics(
            data, inmask=mask, sigclip=4.5, sigfrac=0.3, objlim=5.0, gain=1.0,
            readnoise=read_noise_e, satlevel=np.inf, niter=4, sepmed=False, cleantype="medmask")
        return flagged

    cosmic_ms, flagged = cpu_ms(cosmic, 1)
    print("| stage (1 thread) | CPU ms |")
    print("|---|---:|")
    print(f"| SEP background mesh, full background and RMS maps | {bkg_ms:.1f} |")
    print(f"| SEP extraction, 'conv' filter at 5 ||k||_2 as cometphot ({len(objects)} objects) "
          f"| {extract_ms:.1f} |")
    print(f"| (SEP extraction, its default 'matched' filter: {len(matched)} objects) "
          f"| ({matched_ms:.1f}) |")
    print(f"| SEP windowed centroids (sigma {sigma:.2f} px) | {winpos_ms:.1f} |")
    print(f"| astroscrappy L.A.Cosmic ({int(flagged.sum())} pixels flagged) | {cosmic_ms:.0f} |")


if __name__ == "__main__":
    main()
