//! Phase laws of the lightcurve: the magnitude that brings an observed magnitude to phase
//! angle α = 0 (DESIGN §4, issue 5 item 2).
//!
//! A phase law gives the phase function Φ(α), normalised so that Φ(0) = 1, and the correction
//! `correction_mag(α) = −2.5 log10 Φ(α)`, which is SUBTRACTED from an observed magnitude:
//! `m(α = 0) = m(α) − correction_mag(α)`. Three laws are offered:
//!
//! * [`PhaseLaw::Linear`]: correction = β_α α (mag), the usual cometary linear law; DESIGN §4
//!   uses β_α = 0.04 ± 0.02 mag/deg for 3I/ATLAS.
//! * [`PhaseLaw::SchleicherMarcus`]: the composite dust phase function of D. Schleicher
//!   (2010 May), called the "HM" (Halley–Marcus) phase function by its author: the table of
//!   Φ(α)/Φ(0) at 1° steps from 0° to 180° published at
//!   <https://asteroid.lowell.edu/comet/dustphase.html> ("Composite Dust Phase Function for
//!   Comets"), first used by Schleicher & Bair 2011 (AJ 141, 177). Up to 42° it is the Comet
//!   Halley curve of Schleicher, Millis & Birch 1998 (Icarus 132, 397),
//!   log10 Φ = −0.01807 α + 0.000177 α² (α in degrees), rounded to four decimals (checked in
//!   the tests); from 43° on it departs from that curve: per the Lowell page, Schleicher
//!   joined it there to the compound Henyey–Greenstein fit of J. N. Marcus 2007 (ICQ 29,
//!   39–66) to mid- and large-phase-angle data. The table itself is what is implemented
//!   (see [`SCHLEICHER_MARCUS_PHI`]); between the 1° nodes it is interpolated by the
//!   not-a-knot cubic spline through the nodes, the interpolation used by sbpy's
//!   `sbpy.activity.phase_HalleyMarcus` (scipy `splrep`/`splev`), so the two agree.
//! * [`PhaseLaw::HG`]: the IAU H, G magnitude system (Bowell et al. 1989, "Application of
//!   photometric models to asteroids", in Asteroids II, Univ. of Arizona Press, pp. 524–556,
//!   Appendix, Eq. A4, adopted by IAU Commission 20 in 1985) for nucleus-dominated cases:
//!   Φ = (1 − G) Φ1 + G Φ2 with Φi = W Φi,S + (1 − W) Φi,L, W = exp(−90.56 tan²(α/2)),
//!   Φi,S = 1 − Ci sin α / (0.119 + 1.341 sin α − 0.754 sin² α), Φi,L = exp(−Ai tan^Bi(α/2)),
//!   A = (3.332, 1.862), B = (0.631, 1.218), C = (0.986, 0.238). (The simpler two-exponential
//!   form Φi = exp(−Ai tan^Bi(α/2)) with A = (3.33, 1.87), B = (0.63, 1.22), Bowell et al.
//!   Eq. A5, is NOT what is implemented.) Bowell et al. state validity for 0° ≤ α ≤ 120° and
//!   0 ≤ G ≤ 1; beyond, the same formula is evaluated.
//!
//! Domain: α in degrees, 0 ≤ α ≤ 180. A negative, non-finite or larger angle gives NaN from
//! [`PhaseLaw::correction_mag`] and an error from [`PhaseLaw::try_correction_mag`] (negative
//! angles are rejected rather than folded: a signed phase angle in an input table is a data
//! problem to report, not to hide).
//!
//! Not implemented here on purpose: the analytic two-term Henyey–Greenstein with
//! g_f = 0.9, g_b = −0.6, k = 0.95 that is sometimes quoted for Marcus (2007). That curve does
//! not reproduce Schleicher's table (their ratio varies from 1.5 to 6.8 between 10° and 180°),
//! and Marcus's paper was not available to check the parameters, so only the published table
//! is used.

use std::fmt;
use std::sync::OnceLock;

use thiserror::Error;

/// The phase-law names accepted by [`PhaseLaw::parse`] (case-insensitive, `_` = `-`).
pub const KNOWN_PHASE_LAWS: [&str; 4] = ["linear", "schleicher-marcus", "halley-marcus", "hg"];

/// β_α used by [`PhaseLaw::parse`] for `linear` without a coefficient (mag/deg; DESIGN §4).
pub const DEFAULT_LINEAR_COEFF_MAG_PER_DEG: f64 = 0.04;

/// G used by [`PhaseLaw::parse`] for `hg` without a coefficient: 0.15, the value Bowell et al.
/// (1989) adopt for asteroids whose G is not measured.
pub const DEFAULT_HG_G: f64 = 0.15;

/// Errors of the phase laws.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PhaseLawError {
    #[error(
        "unknown phase law '{name}'; known phase laws: linear, schleicher-marcus \
         (= halley-marcus), hg"
    )]
    UnknownLaw { name: String },
    #[error(
        "phase law {law} takes no coefficient, but {coeff} was given (the Schleicher–Marcus \
         curve is a fixed table)"
    )]
    UnexpectedCoefficient { law: &'static str, coeff: f64 },
    #[error("phase law {law}: the coefficient must be a finite number, got {coeff}")]
    NonFiniteCoefficient { law: &'static str, coeff: f64 },
    #[error("phase angle {alpha_deg} deg is outside 0..=180 deg")]
    AlphaOutOfRange { alpha_deg: f64 },
    #[error(
        "phase law {law} at phase angle {alpha_deg} deg: the phase function is {phi}, so no \
         magnitude correction exists"
    )]
    Undefined {
        law: &'static str,
        alpha_deg: f64,
        phi: f64,
    },
}

/// A phase law: how the brightness of the comet depends on the phase angle α.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PhaseLaw {
    /// Correction β_α α (mag), β_α in mag/deg; Φ(α) = 10^(−0.4 β_α α).
    Linear { coeff_mag_per_deg: f64 },
    /// Schleicher's composite Halley–Marcus dust phase function (table, see the module
    /// documentation and [`SCHLEICHER_MARCUS_PHI`]).
    SchleicherMarcus,
    /// IAU H, G system (Bowell et al. 1989, Eq. A4) with slope parameter G (dimensionless).
    HG { g: f64 },
}

/// Schleicher's composite ("HM", Halley–Marcus) dust phase function Φ(α)/Φ(0°) at
/// α = 0°, 1°, …, 180° (index = α in degrees), as tabulated at 1° intervals by D. Schleicher
/// (2010 May), <https://asteroid.lowell.edu/comet/dustphase.html>, given to five significant
/// figures (four decimals below Φ = 1). Transcribed from the copy of that table in sbpy
/// (`phase_HalleyMarcus` in NASA-Planetary-Science/sbpy, `sbpy/activity/dust.py`, BSD-3;
/// checked identical to sbpy 0.6.0), whose docstring cites the same page; Φ(15°) = 0.5872 is
/// sbpy's own doctest value.
#[rustfmt::skip]
pub const SCHLEICHER_MARCUS_PHI: [f64; 181] = [
    1.0, 0.9596, 0.9217, 0.8859, 0.8522, 0.8205, // 0–5 deg
    0.7906, 0.7624, 0.7358, 0.7107, 0.6871, 0.6647, // 6–11 deg
    0.6436, 0.6237, 0.6049, 0.5872, 0.5704, 0.5546, // 12–17 deg
    0.5396, 0.5255, 0.5122, 0.4996, 0.4877, 0.4765, // 18–23 deg
    0.4659, 0.4559, 0.4465, 0.4377, 0.4293, 0.4215, // 24–29 deg
    0.4142, 0.4073, 0.4009, 0.3949, 0.3893, 0.384, // 30–35 deg
    0.3792, 0.3747, 0.3706, 0.3668, 0.3634, 0.3603, // 36–41 deg
    0.3575, 0.354, 0.3509, 0.3482, 0.3458, 0.3438, // 42–47 deg
    0.3421, 0.3407, 0.3397, 0.3389, 0.3385, 0.3383, // 48–53 deg
    0.3385, 0.3389, 0.3396, 0.3405, 0.3418, 0.3432, // 54–59 deg
    0.345, 0.347, 0.3493, 0.3518, 0.3546, 0.3576, // 60–65 deg
    0.3609, 0.3645, 0.3683, 0.3724, 0.3768, 0.3815, // 66–71 deg
    0.3865, 0.3917, 0.3973, 0.4032, 0.4094, 0.4159, // 72–77 deg
    0.4228, 0.43, 0.4376, 0.4456, 0.454, 0.4627, // 78–83 deg
    0.472, 0.4816, 0.4918, 0.5024, 0.5136, 0.5253, // 84–89 deg
    0.5375, 0.5504, 0.5638, 0.578, 0.5928, 0.6084, // 90–95 deg
    0.6247, 0.6419, 0.6599, 0.6788, 0.6987, 0.7196, // 96–101 deg
    0.7416, 0.7648, 0.7892, 0.8149, 0.842, 0.8706, // 102–107 deg
    0.9008, 0.9327, 0.9664, 1.0021, 1.0399, 1.0799, // 108–113 deg
    1.1223, 1.1673, 1.2151, 1.2659, 1.32, 1.3776, // 114–119 deg
    1.4389, 1.5045, 1.5744, 1.6493, 1.7294, 1.8153, // 120–125 deg
    1.9075, 2.0066, 2.1132, 2.2281, 2.3521, 2.4861, // 126–131 deg
    2.6312, 2.7884, 2.9592, 3.145, 3.3474, 3.5685, // 132–137 deg
    3.8104, 4.0755, 4.3669, 4.6877, 5.0418, 5.4336, // 138–143 deg
    5.8682, 6.3518, 6.8912, 7.4948, 8.1724, 8.9355, // 144–149 deg
    9.7981, 10.777, 11.891, 13.166, 14.631, 16.322, // 150–155 deg
    18.283, 20.57, 23.252, 26.418, 30.177, 34.672, // 156–161 deg
    40.086, 46.659, 54.704, 64.637, 77.015, 92.587, // 162–167 deg
    112.37, 137.75, 170.6, 213.48, 269.73, 343.59, // 168–173 deg
    439.89, 562.92, 713.63, 884.48, 1053.3, 1182.2, // 174–179 deg
    1231.2, // 180–180 deg
];

impl PhaseLaw {
    /// Parse a phase law for the CLI: `name` is one of [`KNOWN_PHASE_LAWS`] (case-insensitive,
    /// `_` accepted for `-`); `coeff` is β_α in mag/deg for `linear` (default
    /// [`DEFAULT_LINEAR_COEFF_MAG_PER_DEG`]), G for `hg` (default [`DEFAULT_HG_G`]), and must be
    /// `None` for `schleicher-marcus`/`halley-marcus` (a given coefficient would silently do
    /// nothing, so it is an error).
    pub fn parse(name: &str, coeff: Option<f64>) -> Result<PhaseLaw, PhaseLawError> {
        let key = name.trim().to_ascii_lowercase().replace('_', "-");
        let finite = |law: &'static str, c: f64| {
            if c.is_finite() {
                Ok(c)
            } else {
                Err(PhaseLawError::NonFiniteCoefficient { law, coeff: c })
            }
        };
        match key.as_str() {
            "linear" => Ok(PhaseLaw::Linear {
                coeff_mag_per_deg: finite(
                    "linear",
                    coeff.unwrap_or(DEFAULT_LINEAR_COEFF_MAG_PER_DEG),
                )?,
            }),
            "schleicher-marcus" | "halley-marcus" => match coeff {
                None => Ok(PhaseLaw::SchleicherMarcus),
                Some(c) => Err(PhaseLawError::UnexpectedCoefficient {
                    law: "schleicher-marcus",
                    coeff: c,
                }),
            },
            "hg" => Ok(PhaseLaw::HG {
                g: finite("hg", coeff.unwrap_or(DEFAULT_HG_G))?,
            }),
            _ => Err(PhaseLawError::UnknownLaw {
                name: name.to_string(),
            }),
        }
    }

    /// The canonical name (`linear`, `schleicher-marcus`, `hg`), as accepted by
    /// [`PhaseLaw::parse`].
    pub fn name(&self) -> &'static str {
        match self {
            PhaseLaw::Linear { .. } => "linear",
            PhaseLaw::SchleicherMarcus => "schleicher-marcus",
            PhaseLaw::HG { .. } => "hg",
        }
    }

    /// Φ(α), normalised to Φ(0) = 1; NaN outside 0 ≤ α ≤ 180 (degrees).
    pub fn phase_function(&self, alpha_deg: f64) -> f64 {
        if !in_domain(alpha_deg) {
            return f64::NAN;
        }
        match *self {
            PhaseLaw::Linear { coeff_mag_per_deg } => {
                10f64.powf(-0.4 * coeff_mag_per_deg * alpha_deg)
            }
            PhaseLaw::SchleicherMarcus => schleicher_marcus_phi(alpha_deg),
            PhaseLaw::HG { g } => {
                let (phi1, phi2) = hg_basis(alpha_deg.to_radians());
                (1.0 - g) * phi1 + g * phi2
            }
        }
    }

    /// The magnitude to SUBTRACT from a magnitude observed at phase angle `alpha_deg` to bring
    /// it to α = 0: β_α α for the linear law (computed as that product, exactly), −2.5 log10 Φ(α)
    /// for the others. Positive where the comet is fainter than at α = 0 (e.g. 0.674 mag at 90°
    /// for Schleicher–Marcus), negative where forward scattering makes it brighter (α ≳ 111°
    /// for Schleicher–Marcus). NaN outside 0 ≤ α ≤ 180 or where Φ ≤ 0 (HG with G outside
    /// [0, 1] at large α), +∞ where Φ = 0 (HG at α = 180°); see
    /// [`PhaseLaw::try_correction_mag`] for the checked version.
    pub fn correction_mag(&self, alpha_deg: f64) -> f64 {
        if !in_domain(alpha_deg) {
            return f64::NAN;
        }
        match *self {
            PhaseLaw::Linear { coeff_mag_per_deg } => coeff_mag_per_deg * alpha_deg,
            _ => -2.5 * self.phase_function(alpha_deg).log10(),
        }
    }

    /// [`PhaseLaw::correction_mag`] with an error instead of a non-finite value.
    pub fn try_correction_mag(&self, alpha_deg: f64) -> Result<f64, PhaseLawError> {
        if !in_domain(alpha_deg) {
            return Err(PhaseLawError::AlphaOutOfRange { alpha_deg });
        }
        let c = self.correction_mag(alpha_deg);
        if c.is_finite() {
            Ok(c)
        } else {
            Err(PhaseLawError::Undefined {
                law: self.name(),
                alpha_deg,
                phi: self.phase_function(alpha_deg),
            })
        }
    }
}

impl fmt::Display for PhaseLaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhaseLaw::Linear { coeff_mag_per_deg } => {
                write!(f, "linear ({coeff_mag_per_deg} mag/deg)")
            }
            PhaseLaw::SchleicherMarcus => write!(
                f,
                "schleicher-marcus (Halley-Marcus composite dust phase function, Schleicher 2010)"
            ),
            PhaseLaw::HG { g } => write!(f, "hg (IAU H,G, G = {g})"),
        }
    }
}

fn in_domain(alpha_deg: f64) -> bool {
    (0.0..=180.0).contains(&alpha_deg)
}

/// Bowell et al. (1989) Eq. A4: the basis functions (Φ1, Φ2) at phase angle `alpha_rad`.
fn hg_basis(alpha_rad: f64) -> (f64, f64) {
    const A: [f64; 2] = [3.332, 1.862];
    const B: [f64; 2] = [0.631, 1.218];
    const C: [f64; 2] = [0.986, 0.238];
    let tan_half = (0.5 * alpha_rad).tan();
    let sin_a = alpha_rad.sin();
    let w = (-90.56 * tan_half * tan_half).exp();
    let s = sin_a / (0.119 + 1.341 * sin_a - 0.754 * sin_a * sin_a);
    let phi = |i: usize| w * (1.0 - C[i] * s) + (1.0 - w) * (-A[i] * tan_half.powf(B[i])).exp();
    (phi(0), phi(1))
}

/// Second derivatives of the not-a-knot cubic spline through [`SCHLEICHER_MARCUS_PHI`]
/// (unit spacing of 1°), computed once.
fn schleicher_marcus_second_derivatives() -> &'static [f64; 181] {
    static M: OnceLock<[f64; 181]> = OnceLock::new();
    M.get_or_init(|| {
        let y = &SCHLEICHER_MARCUS_PHI;
        // n = 180 intervals of 1 deg.
        let n = y.len() - 1;
        // Continuity of the second derivative at the interior nodes (unit spacing):
        // M[i-1] + 4 M[i] + M[i+1] = r[i] = 6 (y[i+1] - 2 y[i] + y[i-1]), i = 1..n-1.
        // Not-a-knot (third derivative continuous at nodes 1 and n-1):
        // M[0] = 2 M[1] - M[2] and M[n] = 2 M[n-1] - M[n-2]; substituted into rows i = 1
        // and i = n-1 these give 6 M[1] = r[1] and 6 M[n-1] = r[n-1].
        let mut r = [0.0; 181];
        for i in 1..n {
            r[i] = 6.0 * (y[i + 1] - 2.0 * y[i] + y[i - 1]);
        }
        let mut m = [0.0; 181];
        m[1] = r[1] / 6.0;
        m[n - 1] = r[n - 1] / 6.0;
        // Rows i = 2..=n-2: tridiagonal (1, 4, 1) with M[1] and M[n-1] moved to the right.
        // Thomas algorithm (the matrix is strictly diagonally dominant).
        let mut rhs = [0.0; 181];
        rhs[2..=(n - 2)].copy_from_slice(&r[2..=(n - 2)]);
        rhs[2] -= m[1];
        rhs[n - 2] -= m[n - 1];
        let mut c_prime = [0.0; 181];
        let mut d_prime = [0.0; 181];
        c_prime[2] = 1.0 / 4.0;
        d_prime[2] = rhs[2] / 4.0;
        for i in 3..=(n - 2) {
            let denom = 4.0 - c_prime[i - 1];
            c_prime[i] = 1.0 / denom;
            d_prime[i] = (rhs[i] - d_prime[i - 1]) / denom;
        }
        m[n - 2] = d_prime[n - 2];
        for i in (2..(n - 2)).rev() {
            m[i] = d_prime[i] - c_prime[i] * m[i + 1];
        }
        m[0] = 2.0 * m[1] - m[2];
        m[n] = 2.0 * m[n - 1] - m[n - 2];
        m
    })
}

/// Φ(α) of the Schleicher–Marcus table by not-a-knot cubic spline, 0 ≤ α ≤ 180.
fn schleicher_marcus_phi(alpha_deg: f64) -> f64 {
    let y = &SCHLEICHER_MARCUS_PHI;
    let m = schleicher_marcus_second_derivatives();
    let i = (alpha_deg.floor() as usize).min(179);
    let t = alpha_deg - i as f64;
    let u = 1.0 - t;
    u * y[i] + t * y[i + 1] + (u * u * u - u) * m[i] / 6.0 + (t * t * t - t) * m[i + 1] / 6.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Φ of Schleicher's composite curve at angles between the 1° nodes, from sbpy 0.6.0
    /// `sbpy.activity.phase_HalleyMarcus` (scipy 1.17.1 `splrep`/`splev` through the same
    /// table), evaluated once in a scratch virtualenv outside the repository; only the numbers
    /// are kept here. (sbpy's spline equals scipy's `CubicSpline(bc_type="not-a-knot")` to
    /// 4e-16 relative on these angles.)
    const SBPY_HALLEY_MARCUS: [(f64, f64); 14] = [
        (0.25, 0.9896376282166987),
        (0.5, 0.9794555036762271),
        (2.5, 0.90354151102868),
        (7.3, 0.7542584751298886),
        (15.5, 0.5786807849420857),
        (33.3, 0.3931842813776296),
        (44.5, 0.3495144678687533),
        (57.7, 0.3413910915286492),
        (90.25, 0.5406663259385766),
        (123.4, 1.680689389242905),
        (150.5, 10.27194408325946),
        (170.1, 174.38777286024828),
        (177.7, 1004.9865050763415),
        (179.5, 1219.1658393246648),
    ];

    /// (G, α in degrees, −2.5 log10 Φ in mag) from sbpy 0.6.0 `sbpy.photometry.HG.evaluate`
    /// (Bowell et al. 1989 Eq. A4) with H = 0, evaluated once in a scratch virtualenv outside
    /// the repository; only the numbers are kept here.
    const SBPY_HG_MAG: [(f64, f64, f64); 44] = [
        (0.15, 0.5, 0.06535257518422874),
        (0.15, 1.0, 0.12339528281394423),
        (0.15, 2.0, 0.22244137555552312),
        (0.15, 5.0, 0.43360249892275854),
        (0.15, 10.0, 0.6584454863528889),
        (0.15, 20.0, 1.000109124743598),
        (0.15, 30.0, 1.2992509821201343),
        (0.15, 45.0, 1.7197338527323196),
        (0.15, 60.0, 2.147343888670187),
        (0.15, 90.0, 3.1757197410609983),
        (0.15, 120.0, 4.839570712421759),
        (0.0, 0.5, 0.07404401732135693),
        (0.0, 1.0, 0.1403514612975144),
        (0.0, 2.0, 0.2548760714897857),
        (0.0, 5.0, 0.506565522370823),
        (0.0, 10.0, 0.7874889279005712),
        (0.0, 20.0, 1.21357987061967),
        (0.0, 30.0, 1.5762857052815236),
        (0.0, 45.0, 2.074425768749953),
        (0.0, 60.0, 2.5579824283895625),
        (0.0, 90.0, 3.617673034254087),
        (0.0, 120.0, 5.116359689386166),
        (0.5, 0.5, 0.04533909319107096),
        (0.5, 1.0, 0.08483126192908524),
        (0.5, 2.0, 0.15032840153922478),
        (0.5, 5.0, 0.2803005655439498),
        (0.5, 10.0, 0.4062462062233957),
        (0.5, 20.0, 0.6220816628563117),
        (0.5, 30.0, 0.8407338029668425),
        (0.5, 45.0, 1.1758452194362796),
        (0.5, 60.0, 1.5492196007748558),
        (0.5, 90.0, 2.5495188009603433),
        (0.5, 120.0, 4.381344839812039),
        (1.0, 0.5, 0.017373569468076357),
        (1.0, 1.0, 0.0320125593485436),
        (1.0, 2.0, 0.05496950051180215),
        (1.0, 5.0, 0.09315351344746746),
        (1.0, 10.0, 0.12463899487105651),
        (1.0, 20.0, 0.2413329501946434),
        (1.0, 30.0, 0.40623985035838195),
        (1.0, 45.0, 0.6910081339914564),
        (1.0, 60.0, 1.035469121672942),
        (1.0, 90.0, 2.021640813259637),
        (1.0, 120.0, 3.947033757253568),
    ];

    #[test]
    fn schleicher_marcus_reproduces_the_table_at_the_nodes() {
        let law = PhaseLaw::SchleicherMarcus;
        for (a, &phi) in SCHLEICHER_MARCUS_PHI.iter().enumerate() {
            assert_eq!(law.phase_function(a as f64), phi, "alpha = {a} deg");
        }
        // Spot values of the published table (and sbpy's doctest value at 15 deg).
        assert_eq!(law.phase_function(0.0), 1.0);
        assert_eq!(law.phase_function(15.0), 0.5872);
        assert_eq!(law.phase_function(90.0), 0.5375);
        assert_eq!(law.phase_function(180.0), 1231.2);
        assert_eq!(law.correction_mag(0.0), 0.0);
    }

    #[test]
    fn schleicher_marcus_table_is_the_halley_curve_up_to_42_deg() {
        // Schleicher, Millis & Birch 1998: log10 Φ = −0.01807 α + 0.000177 α². The table has
        // four decimals, so it must agree to half a unit of the fourth decimal up to 42 deg.
        for (a, &phi) in SCHLEICHER_MARCUS_PHI.iter().enumerate().take(43) {
            let alpha = a as f64;
            let halley = 10f64.powf(-0.01807 * alpha + 0.000177 * alpha * alpha);
            let diff = (phi - halley).abs();
            assert!(
                diff <= 0.5e-4 + 1e-12,
                "alpha = {a}: table differs by {diff}"
            );
        }
        // From 43 deg on the table follows the Marcus curve: the Halley curve is left.
        for (a, &phi) in SCHLEICHER_MARCUS_PHI.iter().enumerate().take(61).skip(43) {
            let alpha = a as f64;
            let halley = 10f64.powf(-0.01807 * alpha + 0.000177 * alpha * alpha);
            assert!((phi - halley).abs() >= 1e-3, "alpha = {a}");
        }
    }

    #[test]
    fn schleicher_marcus_between_nodes_matches_sbpy_spline() {
        let law = PhaseLaw::SchleicherMarcus;
        for &(alpha, phi) in &SBPY_HALLEY_MARCUS {
            let got = law.phase_function(alpha);
            assert!(
                ((got - phi) / phi).abs() < 1e-12,
                "alpha = {alpha}: {got} vs sbpy {phi}"
            );
            let mag = law.correction_mag(alpha);
            assert!((mag + 2.5 * phi.log10()).abs() < 1e-12, "alpha = {alpha}");
        }
    }

    #[test]
    fn schleicher_marcus_correction_sign() {
        let law = PhaseLaw::SchleicherMarcus;
        // −2.5 log10 0.5375 = 0.6740…: fainter at 90 deg than at 0, by ~0.67 mag.
        assert!((law.correction_mag(90.0) - 0.674).abs() < 5e-4);
        // The table crosses 1 between 110 (0.9664) and 111 deg (1.0021): forward scattering.
        assert!(law.correction_mag(110.0) > 0.0);
        assert!(law.correction_mag(111.0) < 0.0);
        // Minimum of Φ (maximum correction) at 53 deg in the table.
        let c53 = law.correction_mag(53.0);
        assert!(c53 > law.correction_mag(52.0) && c53 > law.correction_mag(54.0));
    }

    #[test]
    fn hg_matches_sbpy() {
        for &(g, alpha, mag) in &SBPY_HG_MAG {
            let got = PhaseLaw::HG { g }.correction_mag(alpha);
            assert!(
                (got - mag).abs() < 1e-12,
                "G = {g}, alpha = {alpha}: {got} vs sbpy {mag}"
            );
        }
        assert_eq!(PhaseLaw::HG { g: 0.15 }.phase_function(0.0), 1.0);
        assert_eq!(PhaseLaw::HG { g: 0.15 }.correction_mag(0.0), 0.0);
    }

    #[test]
    fn hg_basis_functions_bracket_the_mixture() {
        // Φ is linear in G: Φ(G) = Φ1 + G (Φ2 − Φ1); check with G = 0 and G = 1.
        for alpha in [3.0, 17.0, 64.0, 101.0] {
            let phi1 = PhaseLaw::HG { g: 0.0 }.phase_function(alpha);
            let phi2 = PhaseLaw::HG { g: 1.0 }.phase_function(alpha);
            let phi = PhaseLaw::HG { g: 0.3 }.phase_function(alpha);
            assert!((phi - (0.7 * phi1 + 0.3 * phi2)).abs() < 1e-15);
            assert!(phi1 < phi2, "Φ1 falls faster than Φ2 at {alpha} deg");
        }
    }

    #[test]
    fn linear_law() {
        let law = PhaseLaw::Linear {
            coeff_mag_per_deg: 0.04,
        };
        assert_eq!(law.correction_mag(0.0), 0.0);
        assert!((law.correction_mag(25.0) - 1.0).abs() < 1e-15);
        assert_eq!(law.correction_mag(33.3), 0.04 * 33.3);
        for alpha in [0.5, 10.0, 47.0, 120.0] {
            let phi = law.phase_function(alpha);
            assert!((-2.5 * phi.log10() - 0.04 * alpha).abs() < 1e-12);
        }
    }

    #[test]
    fn out_of_domain_angles() {
        for law in [
            PhaseLaw::Linear {
                coeff_mag_per_deg: 0.04,
            },
            PhaseLaw::SchleicherMarcus,
            PhaseLaw::HG { g: 0.15 },
        ] {
            for alpha in [-0.1, 180.5, f64::NAN, f64::INFINITY] {
                assert!(law.correction_mag(alpha).is_nan(), "{law} at {alpha}");
                assert!(law.phase_function(alpha).is_nan(), "{law} at {alpha}");
                assert!(matches!(
                    law.try_correction_mag(alpha),
                    Err(PhaseLawError::AlphaOutOfRange { .. })
                ));
            }
            assert!(law.try_correction_mag(180.0).is_ok() || law.name() == "hg");
        }
        // HG at 180 deg: Φ = 0, no finite correction.
        let err = PhaseLaw::HG { g: 0.15 }
            .try_correction_mag(180.0)
            .unwrap_err();
        assert!(
            matches!(err, PhaseLawError::Undefined { law: "hg", .. }),
            "{err}"
        );
        assert_eq!(
            PhaseLaw::SchleicherMarcus.try_correction_mag(90.0),
            Ok(PhaseLaw::SchleicherMarcus.correction_mag(90.0))
        );
    }

    #[test]
    fn parse_names_and_coefficients() {
        assert_eq!(
            PhaseLaw::parse("linear", Some(0.035)),
            Ok(PhaseLaw::Linear {
                coeff_mag_per_deg: 0.035
            })
        );
        assert_eq!(
            PhaseLaw::parse(" Linear ", None),
            Ok(PhaseLaw::Linear {
                coeff_mag_per_deg: DEFAULT_LINEAR_COEFF_MAG_PER_DEG
            })
        );
        for name in [
            "schleicher-marcus",
            "halley-marcus",
            "Halley_Marcus",
            "SCHLEICHER-MARCUS",
        ] {
            assert_eq!(
                PhaseLaw::parse(name, None),
                Ok(PhaseLaw::SchleicherMarcus),
                "{name}"
            );
        }
        assert_eq!(
            PhaseLaw::parse("HG", Some(0.25)),
            Ok(PhaseLaw::HG { g: 0.25 })
        );
        assert_eq!(
            PhaseLaw::parse("hg", None),
            Ok(PhaseLaw::HG { g: DEFAULT_HG_G })
        );
        for name in KNOWN_PHASE_LAWS {
            let coeff = if name.contains("marcus") {
                None
            } else {
                Some(0.1)
            };
            let law = PhaseLaw::parse(name, coeff).unwrap();
            assert_eq!(PhaseLaw::parse(law.name(), coeff), Ok(law));
        }
    }

    #[test]
    fn parse_errors_are_clear() {
        let err = PhaseLaw::parse("lambert", None).unwrap_err();
        assert_eq!(
            err,
            PhaseLawError::UnknownLaw {
                name: "lambert".to_string()
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("'lambert'"), "{msg}");
        for name in KNOWN_PHASE_LAWS {
            assert!(msg.contains(name), "{msg} should list {name}");
        }
        assert!(matches!(
            PhaseLaw::parse("halley-marcus", Some(0.04)),
            Err(PhaseLawError::UnexpectedCoefficient {
                law: "schleicher-marcus",
                ..
            })
        ));
        assert!(matches!(
            PhaseLaw::parse("linear", Some(f64::NAN)),
            Err(PhaseLawError::NonFiniteCoefficient { law: "linear", .. })
        ));
        assert!(matches!(
            PhaseLaw::parse("hg", Some(f64::INFINITY)),
            Err(PhaseLawError::NonFiniteCoefficient { law: "hg", .. })
        ));
    }

    #[test]
    fn display_names_the_law_and_coefficient() {
        assert_eq!(
            PhaseLaw::Linear {
                coeff_mag_per_deg: 0.04
            }
            .to_string(),
            "linear (0.04 mag/deg)"
        );
        assert_eq!(
            PhaseLaw::HG { g: 0.15 }.to_string(),
            "hg (IAU H,G, G = 0.15)"
        );
        assert!(PhaseLaw::SchleicherMarcus
            .to_string()
            .starts_with("schleicher-marcus"));
    }
}
