#!/usr/bin/env python3
"""Reference aperture photometry by photutils for tests/aperture_photutils.rs.

Run once (from the repository root) to write data/reference/photutils_apertures.csv:

    pip install --user photutils astropy numpy
    python3 scripts/photutils_reference.py

For every (frame, position, radius) the CSV holds
  * area_px   -- ApertureStats(data, CircularAperture).sum_aper_area with sum_method='exact'
                 (no mask, no clipping: the area of the aperture inside the image; checked equal
                 to aperture.area_overlap(data))
  * sum_adu   -- aperture_photometry(data, aperture, method='exact')['aperture_sum']
and for the annulus around the same position
  * annulus_median_adu, annulus_std_adu, annulus_n_kept -- ApertureStats(data, CircularAnnulus,
    sigma_clip=SigmaClip(sigma=3, maxiters=10)): median, std and center_aper_area (statistics use
    the 'center' aperture mask: pixels with r_in <= d < r_out)
  * clip_iterations -- passes made by astropy's sigma_clip on those pixels (10 = maxiters).
The data are used as stored: float64 of the FITS values with BZERO/BSCALE applied, nothing
subtracted, HDU index 0-based. Positions were picked once by eye on the frames (centroids of the
comet and of stars, rounded) plus positions near the edges so that apertures and annuli are
truncated; they are hard-coded here. The script checks that no pixel centre lies within 1e-6 px^2
of an annulus radius, so the 'center' selection does not depend on rounding.
"""

import csv
import os
import sys

import astropy
import numpy as np
import photutils
from astropy.io import fits
from astropy.stats import SigmaClip
from photutils.aperture import (ApertureStats, CircularAnnulus, CircularAperture,
                                aperture_photometry)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "data", "reference", "photutils_apertures.csv")

RADII = (3.0, 5.5, 8.0)
ANNULUS = (12.0, 20.0)

# (file relative to the repository root, HDU, [(x, y, label)], extra (radii, annulus) sets)
FRAMES = [
    ("data/real/neossat/NEOS_SCI_2021316235345.fits", 0, [
        (570.031, 510.873, "comet C/2021 A1 (Leonard)"),
        (631.079, 468.078, "star"),
        (498.498, 407.672, "star"),
        (409.743, 529.356, "saturated star"),
        (884.361, 26.152, "star near the bottom edge (annulus truncated)"),
        (3.417, 350.622, "left edge (aperture truncated)"),
        (1075.813, 705.291, "top-right corner (aperture truncated)"),
    ]),
    ("data/real/neossat/NEOS_SCI_2021317005221.fits.gz", 0, [
        (558.710, 516.176, "comet C/2021 A1 (Leonard)"),
        (597.689, 470.068, "star"),
        (465.004, 409.598, "star"),
        (850.989, 27.161, "star near the bottom edge (annulus truncated)"),
        (1.263, 2.377, "bottom-left corner (aperture truncated)"),
    ]),
    ("data/real/efosc2/EFOSC.2022-01-28T04-54-24.341.fits.gz", 0, [
        (740.705, 194.949, "star"),
        (871.322, 275.733, "star"),
        (524.937, 499.910, "star"),
        (256.730, 457.153, "star"),
        (792.786, 663.833, "saturated star"),
        (83.080, 810.862, "faint star"),
        (1026.719, 512.437, "right edge (aperture truncated)"),
    ]),
]

# Larger apertures on the comet (curve of growth), with a wider annulus.
COMET_EXTRA = {"radii": (12.0, 20.0), "annulus": (25.0, 40.0)}


def clip_iterations(values, sigma=3.0, maxiters=10):
    sc = SigmaClip(sigma=sigma, maxiters=maxiters)
    sc(values)
    return sc._niterations


def check_no_ties(data_shape, x, y, radii):
    ny, nx = data_shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    d2 = (xx - x) ** 2 + (yy - y) ** 2
    for r in radii:
        gap = np.min(np.abs(d2 - r * r))
        if gap < 1e-6:
            sys.exit(f"position ({x}, {y}): a pixel centre lies on radius {r} (gap {gap})")


def main():
    rows = []
    for rel, hdu, positions in FRAMES:
        with fits.open(os.path.join(ROOT, rel)) as hdul:
            header = hdul[hdu].header
            data = np.asarray(hdul[hdu].data, dtype=np.float64)
        print(f"{rel} HDU {hdu}: {data.shape[1]} x {data.shape[0]}, "
              f"IMAGETYP={header.get('IMAGETYP')} DPR TYPE={header.get('HIERARCH ESO DPR TYPE')}")
        for x, y, label in positions:
            sets = [(RADII, ANNULUS)]
            if label.startswith("comet"):
                sets.append((COMET_EXTRA["radii"], COMET_EXTRA["annulus"]))
            for radii, (r_in, r_out) in sets:
                check_no_ties(data.shape, x, y, (r_in, r_out))
                annulus = CircularAnnulus((x, y), r_in=r_in, r_out=r_out)
                sc = SigmaClip(sigma=3.0, maxiters=10)
                ann_stats = ApertureStats(data, annulus, sigma_clip=sc)
                values = annulus.to_mask(method="center").get_values(data)
                iters = clip_iterations(values)
                for r in radii:
                    aperture = CircularAperture((x, y), r=r)
                    phot = aperture_photometry(data, aperture, method="exact")
                    area = float(ApertureStats(data, aperture).sum_aper_area.value)
                    area_overlap = float(aperture.area_overlap(data))
                    assert abs(area - area_overlap) <= 1e-12 * area, (area, area_overlap)
                    rows.append({
                        "file": rel,
                        "hdu": hdu,
                        "x": repr(x),
                        "y": repr(y),
                        "radius_px": repr(r),
                        "area_px": repr(area),
                        "sum_adu": repr(float(phot["aperture_sum"][0])),
                        "annulus_in_px": repr(r_in),
                        "annulus_out_px": repr(r_out),
                        "annulus_median_adu": repr(float(ann_stats.median)),
                        "annulus_std_adu": repr(float(ann_stats.std)),
                        "annulus_n_kept": int(round(float(ann_stats.center_aper_area.value))),
                        "clip_iterations": iters,
                        "label": label,
                    })
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", newline="") as f:
        f.write(f"# photutils {photutils.__version__}, astropy {astropy.__version__}, "
                f"numpy {np.__version__}; written by scripts/photutils_reference.py\n")
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
