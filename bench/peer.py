"""The Python peer of cometphot's `photometry` for bench/run.sh: astropy + photutils.

Does on raw ALFOSC frames what a careful astropy/photutils script would do, with the same
settings as cometphot where both have one:

- masters: each bias/flat read with astropy, overscan (BIASSEC columns 3-52) median per row
  subtracted, trimmed to [53:2100, 1:2052], x GAIN (e-); master bias = median of the biases,
  master flat = median of the bias-subtracted flats each normalised by its central median;
- every science frame (timed): read, overscan, trim, gain, - bias, / flat; photutils
  Background2D (64 px boxes, 3x3 filter, 3 sigma / 10 passes, SExtractorBackground);
  detection on the image smoothed by a Gaussian of FWHM 3 px (threshold 5 sigma of the
  smoothed noise, as cometphot's matched filter), 5 px minimum area, deblend_sources
  (32 levels, contrast 0.005); SourceCatalog (centroids, FWHM); exact-overlap aperture
  photometry of every source (r = 2 FWHM, 8-11 FWHM annulus, sigma-clipped median) and of the
  comet (radius of 10,000 km from the campaign truth, 30-45" annulus, sigma-clipped median)
  at its centroid near the true position.

It does less than cometphot: no cosmic-ray cleaning, no WCS refinement on a catalogue, no
zero point, and it is handed the comet's pixel position instead of computing an ephemeris.

Usage: peer.py RAW_DIR TRUTH_CAMPAIGN_CSV OUT_CSV [--jobs N]
Prints one line of JSON: frames, wall seconds (whole run and science frames only), jobs.
"""

import argparse
import csv
import json
import os
import sys
import time
from multiprocessing import Pool

# One thread per worker process: the parallelism is over frames.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
from astropy.convolution import convolve  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.stats import SigmaClip  # noqa: E402
from photutils.aperture import (  # noqa: E402
    ApertureStats,
    CircularAnnulus,
    CircularAperture,
    aperture_photometry,
)
from photutils.background import Background2D, SExtractorBackground  # noqa: E402
from photutils.centroids import centroid_com, centroid_sources  # noqa: E402
from photutils.segmentation import (  # noqa: E402
    SourceCatalog,
    deblend_sources,
    detect_sources,
    make_2dgaussian_kernel,
)

OVERSCAN = (slice(None), slice(2, 52))  # BIASSEC [3:52, 1:2102]
TRIM = (slice(0, 2052), slice(52, 2100))  # DATASEC [53:2100, 1:2052]
TRIM_X0 = 52
PIXEL_SCALE = 0.2138  # arcsec/px
ANNULUS_ARCSEC = (30.0, 45.0)

MASTERS = {}


def prepare(path):
    """Raw file -> overscan-subtracted, trimmed image in electrons, and its headers."""
    with fits.open(path, memmap=False) as hdul:
        primary = hdul[0].header
        hdu = hdul[1] if len(hdul) > 1 else hdul[0]
        raw = hdu.data.astype(np.float32)
        gain = float(hdu.header.get("GAIN", 0.16))
    level = np.median(raw[OVERSCAN], axis=1)
    image = (raw - level[:, None].astype(np.float32))[TRIM] * np.float32(gain)
    return image, primary


def build_masters(biases, flats):
    bias = np.median(np.stack([prepare(p)[0] for p in biases]), axis=0)
    normalised = []
    for p in flats:
        f = prepare(p)[0] - bias
        h, w = f.shape
        normalised.append(f / np.median(f[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]))
    flat = np.median(np.stack(normalised), axis=0)
    flat[~np.isfinite(flat) | (flat < 0.5) | (flat > 1.5)] = np.nan
    return bias, flat


def measure(job):
    path, comet_xy, radius_arcsec = job
    t0 = time.perf_counter()
    image, _ = prepare(path)
    data = (image - MASTERS["bias"]) / MASTERS["flat"]
    mask = ~np.isfinite(data)
    clip = SigmaClip(sigma=3.0, maxiters=10)
    bkg = Background2D(
        data,
        (64, 64),
        mask=mask,
        filter_size=(3, 3),
        sigma_clip=clip,
        bkg_estimator=SExtractorBackground(),
    )
    sub = data - bkg.background
    sub[mask] = 0.0
    kernel = make_2dgaussian_kernel(3.0, size=9)
    norm2 = float(np.sqrt((kernel.array**2).sum()))
    smoothed = convolve(sub, kernel)
    segm = detect_sources(smoothed, 5.0 * norm2 * bkg.background_rms, 5, mask=mask)
    n_sources = 0
    if segm is not None:
        segm = deblend_sources(
            smoothed, segm, 5, n_levels=32, contrast=0.005, progress_bar=False
        )
        cat = SourceCatalog(sub, segm, convolved_data=smoothed, mask=mask)
        xy = np.transpose([cat.x_centroid, cat.y_centroid])
        good = np.all(np.isfinite(xy), axis=1)
        xy = xy[good]
        fwhm = float(np.nanmedian(cat.fwhm.value))
        n_sources = len(xy)
        if n_sources:
            apertures = CircularAperture(xy, r=2.0 * fwhm)
            annuli = CircularAnnulus(xy, r_in=8.0 * fwhm, r_out=11.0 * fwhm)
            local = ApertureStats(data, annuli, mask=mask, sigma_clip=clip).median
            phot = aperture_photometry(data, apertures, mask=mask, method="exact")
            _ = phot["aperture_sum"] - local * apertures.area
    # The comet: centroid near the true position, fixed radius, 30-45" clipped annulus.
    x0, y0 = comet_xy
    cx, cy = centroid_sources(sub, x0, y0, box_size=21, centroid_func=centroid_com)
    cx, cy = float(cx[0]), float(cy[0])
    if not (np.isfinite(cx) and np.isfinite(cy)):
        cx, cy = x0, y0
    aperture = CircularAperture((cx, cy), r=radius_arcsec / PIXEL_SCALE)
    annulus = CircularAnnulus(
        (cx, cy),
        r_in=ANNULUS_ARCSEC[0] / PIXEL_SCALE,
        r_out=ANNULUS_ARCSEC[1] / PIXEL_SCALE,
    )
    sky = ApertureStats(data, annulus, mask=mask, sigma_clip=clip).median
    total = aperture_photometry(data, aperture, mask=mask, method="exact")["aperture_sum"][0]
    net = float(total - sky * aperture.area)
    return {
        "file": os.path.basename(path),
        "x": cx,
        "y": cy,
        "net_e": net,
        "n_sources": n_sources,
        "seconds": time.perf_counter() - t0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir")
    parser.add_argument("truth_csv")
    parser.add_argument("out_csv")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    started = time.perf_counter()
    truth = {}
    with open(args.truth_csv, newline="") as f:
        for row in csv.DictReader(f):
            truth[row["file"]] = row
    kinds = {"BIAS": [], "FLAT": [], "OBJECT": []}
    for name in sorted(os.listdir(args.raw_dir)):
        if not name.endswith(".fits"):
            continue
        path = os.path.join(args.raw_dir, name)
        kind = str(fits.getheader(path, 0).get("IMAGETYP", "")).split(",")[0].upper()
        kinds.setdefault(kind, []).append(path)
    MASTERS["bias"], MASTERS["flat"] = build_masters(kinds["BIAS"], kinds["FLAT"])
    jobs = []
    for path in kinds["OBJECT"]:
        t = truth[os.path.basename(path)]
        xy = (float(t["comet_x_px"]) - TRIM_X0, float(t["comet_y_px"]))
        jobs.append((path, xy, float(t["aperture_radius_arcsec"])))
    science_start = time.perf_counter()
    if args.jobs > 1:
        # Fork after the masters are built: the workers share them.
        with Pool(args.jobs) as pool:
            rows = pool.map(measure, jobs, chunksize=1)
    else:
        rows = [measure(j) for j in jobs]
    end = time.perf_counter()
    with open(args.out_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    print(
        json.dumps(
            {
                "frames": len(rows),
                "jobs": args.jobs,
                "wall_s": end - started,
                "science_wall_s": end - science_start,
                "mean_frame_s": sum(r["seconds"] for r in rows) / len(rows),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
