#!/usr/bin/env python3
"""Independent reference fits of the heliocentric power law to the real comet lightcurves.

Writes data/reference/lightcurve_fits_numpy.csv, against which the Rust fits (issue 5) are
compared to 1e-6. It uses numpy and the csv module only, and nothing from cometphot.

How to run (from the repository root; it only reads files inside the repository):

    python3 -m pip install numpy          # or any environment with numpy >= 1.20
    python3 scripts/lightcurve_reference.py

It was run ONCE to write the committed CSV (with numpy 2.4.6 and CPython 3; the exact versions
are in the CSV's first line). Re-running it with another numpy may change the last digits.

Input: the lightcurves copied into data/real/comet-lightcurves/ (columns mjd, rh, delta,
alpha, aper_arcsec, mag, mag_err, filter; rh and delta in au, alpha in degrees, magnitudes as
published; see that folder's PROVENANCE.md). 46P_ZTF.csv and Gault_ZTF.csv start with a UTF-8
BOM, all files have CRLF line ends; both are handled by opening with encoding "utf-8-sig".

Selection, per file:
  * ONE filter: the most populated value of the `filter` column in that file (ties would be
    broken alphabetically; there are none). The chosen filter is written in the `filter` column.
  * rows whose rh, delta, alpha, mag, mag_err are all finite, with mag_err > 0, rh > 0 and
    delta > 0 (the copied files have no row that fails this, but the rule is applied).
  * no rh range, no pre/post-perihelion split, no outlier rejection, no per-night averaging.

Fits (weighted least squares, weights w_i = 1 / mag_err_i^2; the covariance is (X^T W X)^-1,
NOT rescaled by chi^2/dof):
  fixed_phase            y = mag - 5 log10(delta) - beta*alpha with beta = 0.04 mag/deg fixed;
                         model y = H + 2.5 n log10(rh); columns X = [1, 2.5 log10 rh].
                         Outputs H, n, sigma_H, sigma_n, cov(H, n) from (X^T W X)^-1.
  fixed_phase_propagated same H and n; sigma_beta = 0.02 mag/deg propagated. The estimate
                         theta = (X^T W X)^-1 X^T W y is linear in beta, so
                         d theta / d beta = -(X^T W X)^-1 X^T W alpha and
                         Cov_total = (X^T W X)^-1 + (d theta/d beta)(d theta/d beta)^T sigma_beta^2.
                         h_err, n_err, cov_h_n are from Cov_total.
  fitted_phase           y = mag - 5 log10(delta) = H + 2.5 n log10(rh) + beta*alpha, beta free;
                         X = [1, 2.5 log10 rh, alpha]; sigmas from (X^T W X)^-1 (3x3).
chi2 = sum w_i (y_i - X_i theta)^2 at the solution, dof = n_points - (number of parameters).
dn_dbeta and dh_dbeta (d n / d beta and d H / d beta, in (1)/(mag/deg) and mag/(mag/deg)) are
given for the two fixed-phase rows and left empty for fitted_phase. phase_coeff_err is 0 for
fixed_phase, 0.02 for fixed_phase_propagated. Numbers are written with repr() (shortest string
that round-trips the float64 exactly).

The parameters are solved with numpy.linalg.solve and the covariance is numpy.linalg.inv;
the script checks that X^T W X @ inv = identity to 1e-9.

A single power law over a whole apparition (pre- and post-perihelion together, outbursts
included) is a reference computation for testing the code, not a scientific result.
"""

import csv
import math
import os
import platform
import sys
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_DIR = os.path.join(ROOT, "data", "real", "comet-lightcurves")
OUT = os.path.join(ROOT, "data", "reference", "lightcurve_fits_numpy.csv")

FILES = ["67P_ATLAS.csv", "46P_ZTF.csv", "Gault_ZTF.csv", "117P_ATLAS.csv", "459P_ATLAS.csv"]
BETA_MAG_PER_DEG = 0.04
SIGMA_BETA_MAG_PER_DEG = 0.02

COLUMNS = ["file", "filter", "fit", "n_points", "h_mag", "h_err", "n", "n_err", "phase_coeff",
           "phase_coeff_err", "cov_h_n", "chi2", "dof", "rh_min_au", "rh_max_au", "dn_dbeta",
           "dh_dbeta"]


def read_lightcurve(path):
    """Rows of one lightcurve as dicts of strings (BOM and CRLF handled)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def select(rows):
    """Most populated filter, then finite rows with positive errors and distances."""
    counts = Counter(r["filter"].strip() for r in rows)
    top = max(counts.values())
    band = sorted(b for b, c in counts.items() if c == top)[0]
    keep = []
    for r in rows:
        if r["filter"].strip() != band:
            continue
        try:
            v = {k: float(r[k]) for k in ("rh", "delta", "alpha", "mag", "mag_err")}
        except ValueError:
            continue
        if not all(math.isfinite(x) for x in v.values()):
            continue
        if v["mag_err"] <= 0 or v["rh"] <= 0 or v["delta"] <= 0:
            continue
        keep.append(v)
    arr = {k: np.array([v[k] for v in keep], dtype=np.float64)
           for k in ("rh", "delta", "alpha", "mag", "mag_err")}
    return band, counts, arr


def wls(x, y, w):
    """Weighted least squares: theta, (X^T W X)^-1, chi2."""
    a = x.T @ (w[:, None] * x)
    b = x.T @ (w * y)
    theta = np.linalg.solve(a, b)
    cov = np.linalg.inv(a)
    assert np.allclose(a @ cov, np.eye(a.shape[0]), rtol=0, atol=1e-9)
    r = y - x @ theta
    chi2 = float(np.sum(w * r * r))
    return theta, cov, chi2, a


def fits_for(name):
    rows = read_lightcurve(os.path.join(IN_DIR, name))
    band, counts, d = select(rows)
    n_pts = len(d["rh"])
    w = 1.0 / d["mag_err"] ** 2
    log_rh_term = 2.5 * np.log10(d["rh"])
    y0 = d["mag"] - 5.0 * np.log10(d["delta"])
    common = {"file": "data/real/comet-lightcurves/" + name, "filter": band,
              "n_points": n_pts, "rh_min_au": float(d["rh"].min()),
              "rh_max_au": float(d["rh"].max())}
    out = []

    # (a) fixed phase coefficient, no uncertainty on it.
    x2 = np.column_stack([np.ones(n_pts), log_rh_term])
    y = y0 - BETA_MAG_PER_DEG * d["alpha"]
    theta, cov, chi2, a = wls(x2, y, w)
    # d theta / d beta = -(X^T W X)^-1 X^T W alpha (the estimate is linear in beta).
    dtheta = -np.linalg.solve(a, x2.T @ (w * d["alpha"]))
    # Check the derivative by refitting at beta + 1e-3 (linear, so exact up to rounding).
    theta_p, _, _, _ = wls(x2, y0 - (BETA_MAG_PER_DEG + 1e-3) * d["alpha"], w)
    assert np.allclose((theta_p - theta) / 1e-3, dtheta, rtol=1e-6, atol=1e-9)
    dof = n_pts - 2
    out.append(dict(common, fit="fixed_phase", h_mag=theta[0], h_err=math.sqrt(cov[0, 0]),
                    n=theta[1], n_err=math.sqrt(cov[1, 1]), phase_coeff=BETA_MAG_PER_DEG,
                    phase_coeff_err=0.0, cov_h_n=cov[0, 1], chi2=chi2, dof=dof,
                    dn_dbeta=dtheta[1], dh_dbeta=dtheta[0]))

    # (b) same fit, sigma_beta propagated.
    cov_tot = cov + np.outer(dtheta, dtheta) * SIGMA_BETA_MAG_PER_DEG ** 2
    out.append(dict(common, fit="fixed_phase_propagated", h_mag=theta[0],
                    h_err=math.sqrt(cov_tot[0, 0]), n=theta[1], n_err=math.sqrt(cov_tot[1, 1]),
                    phase_coeff=BETA_MAG_PER_DEG, phase_coeff_err=SIGMA_BETA_MAG_PER_DEG,
                    cov_h_n=cov_tot[0, 1], chi2=chi2, dof=dof, dn_dbeta=dtheta[1],
                    dh_dbeta=dtheta[0]))

    # (c) phase coefficient fitted jointly.
    x3 = np.column_stack([np.ones(n_pts), log_rh_term, d["alpha"]])
    theta3, cov3, chi2_3, _ = wls(x3, y0, w)
    out.append(dict(common, fit="fitted_phase", h_mag=theta3[0], h_err=math.sqrt(cov3[0, 0]),
                    n=theta3[1], n_err=math.sqrt(cov3[1, 1]), phase_coeff=theta3[2],
                    phase_coeff_err=math.sqrt(cov3[2, 2]), cov_h_n=cov3[0, 1], chi2=chi2_3,
                    dof=n_pts - 3, dn_dbeta="", dh_dbeta=""))
    excluded = counts[band] - n_pts
    return out, counts, excluded


def fmt(v):
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return repr(float(v))


def main():
    all_rows = []
    for name in FILES:
        rows, counts, excluded = fits_for(name)
        all_rows.extend(rows)
        print(f"{name}: filters {dict(counts)}; using {rows[0]['filter']} "
              f"({rows[0]['n_points']} points, {excluded} excluded), "
              f"rh {rows[0]['rh_min_au']}-{rows[0]['rh_max_au']} au", file=sys.stderr)
        for r in rows:
            print(f"  {r['fit']:23s} n = {r['n']:.3f} +- {r['n_err']:.3f}  "
                  f"H = {r['h_mag']:.3f} +- {r['h_err']:.3f}  beta = {r['phase_coeff']:.4f}"
                  f" +- {r['phase_coeff_err']:.4f}  chi2/dof = {r['chi2'] / r['dof']:.2f}",
                  file=sys.stderr)
    with open(OUT, "w", newline="") as f:
        f.write(f"# numpy {np.__version__}, Python {platform.python_version()}; "
                "written by scripts/lightcurve_reference.py (weights 1/mag_err^2, covariance "
                "not rescaled by chi2)\n")
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in all_rows:
            writer.writerow([fmt(r[c]) for c in COLUMNS])
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({len(all_rows)} rows)", file=sys.stderr)


if __name__ == "__main__":
    main()
