//! Refinement of an approximate header WCS on stars matched to a reference catalogue, and SIP
//! distortion.
//!
//! ALFOSC's header WCS is only approximate (pointing errors of several arcsec, DESIGN §5).
//! [`refine_wcs`] corrects it:
//!
//! 1. The catalogue is projected through the header WCS; stars within the image (plus a
//!    margin of `max_offset_arcsec`) are kept, brightest first.
//! 2. **Coarse shift by voting**: every pairwise offset `catalogue − detection` between the
//!    `vote_count` brightest clean detections and the `2 × vote_count` brightest catalogue
//!    stars, within `max_offset_arcsec`, is a vote; the offset with most votes within
//!    `vote_radius_px` wins and is refined as the mean of those votes (a histogram of pairwise
//!    offsets, as in the classical "offset histogram" of pointing-correction codes; it absorbs
//!    pointing errors up to `max_offset_arcsec` whatever the field). At least 3 votes agreeing
//!    are required.
//! 3. **Matching**: mutual nearest neighbours between the shifted detections and the
//!    projected catalogue within a tolerance (`2 × vote_radius_px` at first, then
//!    `match_tolerance_px`).
//! 4. **Fit**: a 4-parameter similarity (shift, rotation, scale) or a 6-parameter affine
//!    transform of the pixel plane, `p_cat ≈ A (p − c) + c + t` with c = CRPIX, by linear least
//!    squares (nalgebra SVD) with iterative clipping of matches whose residual exceeds
//!    `clip_sigma × σ` (σ the per-axis rms residual; never below 0.05 px).
//! 5. The transform is folded into the WCS: `CD' = CD·A`; the reference pixel stays at the
//!    header's CRPIX and CRVAL becomes the sky position of that pixel. Steps 3–5 are repeated
//!    (re-projecting the catalogue about the new tangent point) until the matches no longer
//!    change.
//! 6. A solution whose rotation or scale differs from the header's by more than
//!    `max_rotation_deg` / `max_scale_change` is rejected as a false match.
//! 7. **Small fields** (a standard-star field of 3–5 catalogue stars, fewer than
//!    `min_matches`): when steps 2–4 fail for too few stars, a **shift alone** is fitted
//!    ([`WcsModel::Shift`]: the header's rotation and scale kept, `CD' = CD`), on at least
//!    [`MIN_SHIFT_MATCHES`] = 2 stars. Two stars are the fewest that check each other: each
//!    predicts the shift on its own, and their agreement within `vote_radius_px` is the
//!    evidence of a true match (one star pairs with any detection within the search radius,
//!    and nothing could refute it). Guards against a false match: the vote searches only
//!    `shift_max_offset_arcsec` (tighter than `max_offset_arcsec`: the chance that two random
//!    detections repeat the separation of two catalogue stars grows with the area searched);
//!    no other shift, farther than `2 × vote_radius_px`, may gather as many votes; the matches
//!    are one-to-one (mutual nearest neighbours) and each within `match_tolerance_px` of the
//!    fitted shift; and at least half of the catalogue stars that the shift puts on the image
//!    must be matched (a rich field where only 2 of many stars agree is a coincidence, not a
//!    pointing). [`RefinedWcs::model`] says which model was used.
//!
//! Everything happens in the tangent plane of the current WCS, so the TAN projection itself
//! is never approximated. Detections flagged with any of `excluded_flags` (saturated, masked,
//! blended, …) are not used.
//!
//! SIP (Shupe et al. 2005, "The SIP Convention for Representing Distortion in FITS Image
//! Headers", ASP Conf. Ser. 347, 491): `u' = u + Σ A_p_q u^p v^q`, `v' = v + Σ B_p_q u^p v^q`
//! with `(u, v)` the pixel offsets from CRPIX; the CD matrix then applies to `(u', v')`.
//! [`SipDistortion`] reads `A_ORDER`, `A_p_q`, `B_ORDER`, `B_p_q` (the inverse `AP/BP`
//! polynomials are ignored: the inverse is computed by Newton iteration), and
//! [`refine_wcs_with_sip`] refines the linear part of a SIP WCS. `TanWcs` itself carries no
//! distortion; ALFOSC headers have none.

use nalgebra::{DMatrix, DVector};
use thiserror::Error;

use super::detect::{source_flag, Source};
use crate::frame::header::Header;
use crate::wcs::TanWcs;

/// A reference star (ICRS position in degrees at the epoch of the observation, magnitude in
/// the catalogue's band).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceStar {
    pub ra_deg: f64,
    pub dec_deg: f64,
    pub mag: f64,
}

impl From<&crate::simulate::CatalogueStar> for ReferenceStar {
    fn from(s: &crate::simulate::CatalogueStar) -> Self {
        ReferenceStar {
            ra_deg: s.ra_deg,
            dec_deg: s.dec_deg,
            mag: s.mag,
        }
    }
}

impl From<&super::catalogue::CatalogueStar> for ReferenceStar {
    fn from(s: &super::catalogue::CatalogueStar) -> Self {
        ReferenceStar {
            ra_deg: s.ra_deg,
            dec_deg: s.dec_deg,
            mag: s.mag,
        }
    }
}

/// Why the WCS could not be refined.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AstrometryError {
    #[error(
        "too few stars matched to the reference catalogue: {found} (at least {needed} needed); \
         check the catalogue covers the field and the pointing error is below max_offset_arcsec"
    )]
    TooFewMatches { found: usize, needed: usize },
    #[error("the header WCS is unusable: {0}")]
    InvalidWcs(String),
    #[error("astrometry parameter {name}: {message}")]
    InvalidParameter { name: &'static str, message: String },
    #[error("SIP distortion keywords: {0}")]
    InvalidSip(String),
    #[error(
        "the best match implies a rotation of {rotation_deg:.2} deg and a scale ratio of \
         {scale_ratio:.4} relative to the header WCS, beyond the allowed range: probably a false \
         match"
    )]
    Implausible { rotation_deg: f64, scale_ratio: f64 },
    #[error(
        "too few stars for a fit of shift, rotation and scale, and a shift alone on {matched} \
         stars was refused as a possible false match: {reason}"
    )]
    ShiftRefused { matched: usize, reason: String },
}

/// Fewest stars, agreeing on the shift, that make a shift-only solution (see the module
/// notes, step 7).
pub const MIN_SHIFT_MATCHES: usize = 2;

/// The transform fitted between detections and catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WcsModel {
    /// Shift, rotation and scale (4 parameters).
    Similarity,
    /// A full linear transform plus shift (6 parameters: also shear and different scales).
    Affine,
    /// A shift alone (2 parameters): the header's rotation and scale are kept. Used when too
    /// few stars match for the requested model (module notes, step 7), or when requested.
    Shift,
}

impl WcsModel {
    /// Lower-case name, as in tables: `similarity`, `affine`, `shift`.
    pub fn label(self) -> &'static str {
        match self {
            WcsModel::Similarity => "similarity",
            WcsModel::Affine => "affine",
            WcsModel::Shift => "shift",
        }
    }

    /// Parameters of the transform.
    fn n_parameters(self) -> usize {
        match self {
            WcsModel::Similarity => 4,
            WcsModel::Affine => 6,
            WcsModel::Shift => 2,
        }
    }
}

/// Settings of [`refine_wcs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineParams {
    pub model: WcsModel,
    /// Brightest usable detections used for matching.
    pub max_sources: usize,
    /// Brightest catalogue stars in the field used for matching.
    pub max_reference: usize,
    /// Detections in the offset vote (catalogue stars: twice as many).
    pub vote_count: usize,
    /// Largest pointing error to search for (arcsec).
    pub max_offset_arcsec: f64,
    /// Largest pointing error searched by a shift-only solution (arcsec; at most
    /// `max_offset_arcsec`): fewer stars need a smaller search to keep chance agreements out.
    pub shift_max_offset_arcsec: f64,
    /// Votes within this distance of each other agree (px).
    pub vote_radius_px: f64,
    /// Final match tolerance (px).
    pub match_tolerance_px: f64,
    /// Clipping of outlying matches (σ) and its largest number of passes.
    pub clip_sigma: f64,
    pub max_clip_iterations: usize,
    /// Fewest matches that make a solution.
    pub min_matches: usize,
    /// Detections with any of these flags are ignored.
    pub excluded_flags: u16,
    /// Largest change of rotation (deg) and of pixel scale (fraction) accepted relative to the
    /// header WCS; larger ones mean a false match.
    pub max_rotation_deg: f64,
    pub max_scale_change: f64,
}

impl Default for RefineParams {
    fn default() -> Self {
        RefineParams {
            model: WcsModel::Similarity,
            max_sources: 200,
            max_reference: 500,
            vote_count: 30,
            max_offset_arcsec: 40.0,
            // 4 × the ALFOSC pointing error of the simulator (5″, "several arcsec", DESIGN
            // §5): a quarter of the area of the 40″ search.
            shift_max_offset_arcsec: 20.0,
            vote_radius_px: 3.0,
            match_tolerance_px: 2.0,
            clip_sigma: 3.0,
            max_clip_iterations: 5,
            min_matches: 6,
            excluded_flags: source_flag::NOT_CLEAN,
            max_rotation_deg: 5.0,
            max_scale_change: 0.05,
        }
    }
}

/// A refined WCS and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct RefinedWcs {
    pub wcs: TanWcs,
    /// The transform fitted: the requested one, or [`WcsModel::Shift`] when too few stars
    /// matched for it (module notes, step 7).
    pub model: WcsModel,
    /// Matches kept by the final fit.
    pub n_matched: usize,
    /// RMS of the distances between detections and their matched stars (arcsec, total of
    /// both axes).
    pub rms_arcsec: f64,
    /// `(index in sources, index in catalogue)` of the kept matches.
    pub matches: Vec<(usize, usize)>,
    /// The sky position of the reference pixel moved by this much from the header's
    /// (refined − header, arcsec east and north): minus the header's pointing error.
    pub shift_east_arcsec: f64,
    pub shift_north_arcsec: f64,
    /// Change of the position angle of the image +y axis (deg, east of north) and of the
    /// pixel scale (refined / header).
    pub rotation_deg: f64,
    pub scale_ratio: f64,
    /// Coarse shift found by the vote (px, catalogue − detection) and its number of votes.
    pub vote_shift_px: (f64, f64),
    pub votes: usize,
}

/// Position angle (deg, east of north) of the image +y axis in a CD matrix.
pub fn y_axis_position_angle_deg(wcs: &TanWcs) -> f64 {
    let cd = &wcs.cd_deg_per_px;
    cd[0][1].atan2(cd[1][1]).to_degrees()
}

/// Standard coordinates (ξ, η) in arcsec of `(ra, dec)` in the tangent plane at `(ra0, dec0)`
/// (gnomonic projection; Calabretta & Greisen 2002).
fn standard_coordinates_arcsec(ra0: f64, dec0: f64, ra: f64, dec: f64) -> Option<(f64, f64)> {
    let probe = TanWcs {
        crpix_px: [0.0, 0.0],
        crval_deg: [ra0, dec0],
        cd_deg_per_px: [[1.0 / 3600.0, 0.0], [0.0, 1.0 / 3600.0]],
    };
    probe.world_to_pixel(ra, dec)
}

/// Refines `header_wcs` on `sources` (detected on this image, `width × height` px) matched to
/// `catalogue` (see the module notes).
pub fn refine_wcs(
    sources: &[Source],
    catalogue: &[ReferenceStar],
    header_wcs: &TanWcs,
    width: usize,
    height: usize,
    params: &RefineParams,
) -> Result<RefinedWcs, AstrometryError> {
    refine_wcs_with_sip(sources, catalogue, header_wcs, None, width, height, params)
}

/// [`refine_wcs`] for a WCS with SIP distortion: detections are first moved to undistorted
/// pixel positions, and the linear part (`CD`, `CRVAL`) is refined with the SIP polynomials
/// kept as they are (they stay relative to the unchanged CRPIX).
pub fn refine_wcs_with_sip(
    sources: &[Source],
    catalogue: &[ReferenceStar],
    header_wcs: &TanWcs,
    sip: Option<&SipDistortion>,
    width: usize,
    height: usize,
    params: &RefineParams,
) -> Result<RefinedWcs, AstrometryError> {
    check_wcs(header_wcs)?;
    check_params(params)?;
    let stars = Candidates::new(sources, catalogue, header_wcs, sip, width, height, params);
    if params.model == WcsModel::Shift {
        let needed = params.min_matches.max(MIN_SHIFT_MATCHES);
        return stars.refine_shift(catalogue, header_wcs, params, needed);
    }
    let needed = params.min_matches.max(match params.model {
        WcsModel::Similarity => 3,
        WcsModel::Affine => 4,
        WcsModel::Shift => MIN_SHIFT_MATCHES,
    });
    match stars.refine(catalogue, header_wcs, params, needed) {
        Err(too_few @ AstrometryError::TooFewMatches { .. }) => {
            match stars.refine_shift(catalogue, header_wcs, params, MIN_SHIFT_MATCHES) {
                Ok(refined) => Ok(refined),
                Err(refused @ AstrometryError::ShiftRefused { .. }) => Err(refused),
                Err(_) => Err(too_few),
            }
        }
        other => other,
    }
}

/// The usable detections and catalogue stars of a refinement.
struct Candidates {
    /// Indices in `sources` of the usable detections, brightest first, and their undistorted
    /// positions (px).
    order: Vec<usize>,
    src_px: Vec<(f64, f64)>,
    /// Indices in `catalogue` of the stars in the field (plus margin), brightest first.
    cat: Vec<usize>,
    width: usize,
    height: usize,
}

impl Candidates {
    fn new(
        sources: &[Source],
        catalogue: &[ReferenceStar],
        header_wcs: &TanWcs,
        sip: Option<&SipDistortion>,
        width: usize,
        height: usize,
        params: &RefineParams,
    ) -> Candidates {
        let crpix = header_wcs.crpix_px;
        let scale_arcsec = header_wcs.scale_arcsec_per_px();
        // Usable detections, brightest first, at undistorted positions.
        let mut order: Vec<usize> = (0..sources.len())
            .filter(|&i| {
                let s = &sources[i];
                s.flags & params.excluded_flags == 0 && s.x.is_finite() && s.y.is_finite()
            })
            .collect();
        order.sort_by(|&a, &b| sources[b].flux.total_cmp(&sources[a].flux));
        order.truncate(params.max_sources);
        let src_px: Vec<(f64, f64)> = order
            .iter()
            .map(|&i| {
                let (x, y) = (sources[i].x, sources[i].y);
                match sip {
                    Some(sip) => {
                        let (u, v) = sip.distort(x - crpix[0], y - crpix[1]);
                        (u + crpix[0], v + crpix[1])
                    }
                    None => (x, y),
                }
            })
            .collect();

        // Catalogue stars in the field (plus margin), brightest first.
        let margin_px = params.max_offset_arcsec / scale_arcsec + params.vote_radius_px;
        let in_field = |(x, y): (f64, f64)| {
            x >= -0.5 - margin_px
                && y >= -0.5 - margin_px
                && x <= width as f64 - 0.5 + margin_px
                && y <= height as f64 - 0.5 + margin_px
        };
        let mut cat: Vec<usize> = (0..catalogue.len())
            .filter(|&k| {
                let s = &catalogue[k];
                s.ra_deg.is_finite()
                    && s.dec_deg.is_finite()
                    && header_wcs
                        .world_to_pixel(s.ra_deg, s.dec_deg)
                        .is_some_and(in_field)
            })
            .collect();
        cat.sort_by(|&a, &b| {
            let (ma, mb) = (catalogue[a].mag, catalogue[b].mag);
            let key = |m: f64| if m.is_finite() { m } else { f64::INFINITY };
            key(ma).total_cmp(&key(mb))
        });
        cat.truncate(params.max_reference);
        Candidates {
            order,
            src_px,
            cat,
            width,
            height,
        }
    }

    /// The catalogue stars' pixel positions under `wcs`.
    fn project(&self, catalogue: &[ReferenceStar], wcs: &TanWcs) -> Vec<Option<(f64, f64)>> {
        self.cat
            .iter()
            .map(|&k| wcs.world_to_pixel(catalogue[k].ra_deg, catalogue[k].dec_deg))
            .collect()
    }

    /// Every offset `catalogue − detection` within `max_offset_px` between the `vote_count`
    /// brightest detections and the `2 × vote_count` brightest catalogue stars.
    fn offsets(
        &self,
        cat_px: &[Option<(f64, f64)>],
        vote_count: usize,
        max_offset_px: f64,
    ) -> Vec<(f64, f64)> {
        let mut offsets = Vec::new();
        for &(sx, sy) in self.src_px.iter().take(vote_count) {
            for &(cx, cy) in cat_px.iter().take(2 * vote_count).flatten() {
                let (dx, dy) = (cx - sx, cy - sy);
                if dx.hypot(dy) <= max_offset_px {
                    offsets.push((dx, dy));
                }
            }
        }
        offsets
    }

    /// Steps 2–6 of the module notes with `params.model`.
    fn refine(
        &self,
        catalogue: &[ReferenceStar],
        header_wcs: &TanWcs,
        params: &RefineParams,
        needed: usize,
    ) -> Result<RefinedWcs, AstrometryError> {
        let too_few = |found: usize| AstrometryError::TooFewMatches { found, needed };
        if self.src_px.len() < needed {
            return Err(too_few(self.src_px.len()));
        }
        if self.cat.len() < needed {
            return Err(too_few(self.cat.len()));
        }
        let cat_px = self.project(catalogue, header_wcs);
        let max_offset_px = params.max_offset_arcsec / header_wcs.scale_arcsec_per_px();
        let offsets = self.offsets(&cat_px, params.vote_count, max_offset_px);
        let (vote_shift, votes) = vote(&offsets, params.vote_radius_px);
        if votes < 3 {
            return Err(too_few(votes));
        }
        let (wcs, kept) = self.fit(catalogue, header_wcs, params, vote_shift, needed)?;
        self.result(catalogue, header_wcs, params, wcs, kept, vote_shift, votes)
    }

    /// Step 7 of the module notes: a shift alone on at least `needed` (≥ 2) stars.
    fn refine_shift(
        &self,
        catalogue: &[ReferenceStar],
        header_wcs: &TanWcs,
        params: &RefineParams,
        needed: usize,
    ) -> Result<RefinedWcs, AstrometryError> {
        let needed = needed.max(MIN_SHIFT_MATCHES);
        let too_few = |found: usize| AstrometryError::TooFewMatches { found, needed };
        if self.src_px.len() < needed {
            return Err(too_few(self.src_px.len()));
        }
        if self.cat.len() < needed {
            return Err(too_few(self.cat.len()));
        }
        let params = RefineParams {
            model: WcsModel::Shift,
            ..*params
        };
        let cat_px = self.project(catalogue, header_wcs);
        let max_offset_px = params.shift_max_offset_arcsec.min(params.max_offset_arcsec)
            / header_wcs.scale_arcsec_per_px();
        let offsets = self.offsets(&cat_px, params.vote_count, max_offset_px);
        let (vote_shift, votes) = vote(&offsets, params.vote_radius_px);
        if votes < needed {
            return Err(too_few(votes));
        }
        if let Some((rival, rival_votes)) =
            rival_vote(&offsets, vote_shift, votes, params.vote_radius_px)
        {
            return Err(AstrometryError::ShiftRefused {
                matched: votes,
                reason: format!(
                    "a shift of ({:.1}, {:.1}) px has {rival_votes} votes, as many as the best \
                     ({:.1}, {:.1}) px with {votes}: ambiguous",
                    rival.0, rival.1, vote_shift.0, vote_shift.1
                ),
            });
        }
        let (wcs, kept) = self.fit(catalogue, header_wcs, &params, vote_shift, needed)?;
        // At least half of the catalogue stars that the shift puts on the image are matched.
        let (w, h) = (self.width as f64, self.height as f64);
        let on_image = self
            .project(catalogue, &wcs)
            .iter()
            .flatten()
            .filter(|&&(x, y)| x >= -0.5 && y >= -0.5 && x <= w - 0.5 && y <= h - 0.5)
            .count();
        if 2 * kept.len() < on_image {
            return Err(AstrometryError::ShiftRefused {
                matched: kept.len(),
                reason: format!(
                    "only {} of the {on_image} catalogue stars on the image matched (at least \
                     half must)",
                    kept.len()
                ),
            });
        }
        self.result(catalogue, header_wcs, &params, wcs, kept, vote_shift, votes)
    }

    /// Steps 3–5: match, fit `params.model`, fold into the WCS; repeat until the matches are
    /// stable. Returns the WCS and the kept matches (indices in `src_px` and `cat`).
    fn fit(
        &self,
        catalogue: &[ReferenceStar],
        header_wcs: &TanWcs,
        params: &RefineParams,
        vote_shift: (f64, f64),
        needed: usize,
    ) -> Result<(TanWcs, Vec<(usize, usize)>), AstrometryError> {
        let too_few = |found: usize| AstrometryError::TooFewMatches { found, needed };
        let crpix = header_wcs.crpix_px;
        let mut wcs = header_wcs.clone();
        let mut shift = vote_shift;
        let mut tolerance = 2.0 * params.vote_radius_px;
        let mut previous: Vec<(usize, usize)> = Vec::new();
        let mut kept: Vec<(usize, usize)> = Vec::new();
        for round in 0..10 {
            let cat_px = self.project(catalogue, &wcs);
            let predicted: Vec<(f64, f64)> = self
                .src_px
                .iter()
                .map(|&(x, y)| (x + shift.0, y + shift.1))
                .collect();
            let pairs = mutual_nearest(&predicted, &cat_px, tolerance);
            if pairs.len() < needed {
                return Err(too_few(pairs.len()));
            }
            let c = wcs.crpix_px;
            let (transform, good) = fit_clipped(&pairs, &self.src_px, &cat_px, c, params)?;
            if good.len() < needed {
                return Err(too_few(good.len()));
            }
            wcs = apply_transform(&wcs, &transform, crpix)?;
            shift = (0.0, 0.0);
            kept = good;
            tolerance = params.match_tolerance_px;
            if round > 0 && kept == previous {
                break;
            }
            previous = kept.clone();
        }
        Ok((wcs, kept))
    }

    /// The refined WCS with its statistics (step 6: refused when implausible).
    #[allow(clippy::too_many_arguments)]
    fn result(
        &self,
        catalogue: &[ReferenceStar],
        header_wcs: &TanWcs,
        params: &RefineParams,
        wcs: TanWcs,
        kept: Vec<(usize, usize)>,
        vote_shift: (f64, f64),
        votes: usize,
    ) -> Result<RefinedWcs, AstrometryError> {
        // Final residuals with the refined WCS.
        let cat_px = self.project(catalogue, &wcs);
        let mut sum2 = 0.0;
        for &(i, k) in &kept {
            let (sx, sy) = self.src_px[i];
            let (cx, cy) = cat_px[k].expect("matched stars project");
            sum2 += (cx - sx).powi(2) + (cy - sy).powi(2);
        }
        let rms_px = (sum2 / kept.len() as f64).sqrt();
        let (shift_east, shift_north) = standard_coordinates_arcsec(
            header_wcs.crval_deg[0],
            header_wcs.crval_deg[1],
            wcs.crval_deg[0],
            wcs.crval_deg[1],
        )
        .unwrap_or((f64::NAN, f64::NAN));
        let mut rotation = y_axis_position_angle_deg(&wcs) - y_axis_position_angle_deg(header_wcs);
        rotation = (rotation + 180.0).rem_euclid(360.0) - 180.0;
        let scale_ratio = wcs.scale_arcsec_per_px() / header_wcs.scale_arcsec_per_px();
        if !(rotation.abs() <= params.max_rotation_deg
            && (scale_ratio - 1.0).abs() <= params.max_scale_change)
        {
            return Err(AstrometryError::Implausible {
                rotation_deg: rotation,
                scale_ratio,
            });
        }
        let mut matches: Vec<(usize, usize)> = kept
            .iter()
            .map(|&(i, k)| (self.order[i], self.cat[k]))
            .collect();
        matches.sort_unstable();
        Ok(RefinedWcs {
            model: params.model,
            n_matched: kept.len(),
            rms_arcsec: rms_px * wcs.scale_arcsec_per_px(),
            matches,
            shift_east_arcsec: shift_east,
            shift_north_arcsec: shift_north,
            rotation_deg: rotation,
            scale_ratio,
            vote_shift_px: vote_shift,
            votes,
            wcs,
        })
    }
}

fn check_wcs(wcs: &TanWcs) -> Result<(), AstrometryError> {
    let cd = &wcs.cd_deg_per_px;
    let finite = wcs.crpix_px.iter().all(|v| v.is_finite())
        && wcs.crval_deg.iter().all(|v| v.is_finite())
        && cd.iter().flatten().all(|v| v.is_finite());
    if !finite {
        return Err(AstrometryError::InvalidWcs(
            "non-finite CRPIX, CRVAL or CD".into(),
        ));
    }
    let det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
    if det == 0.0 {
        return Err(AstrometryError::InvalidWcs(
            "the CD matrix is singular".into(),
        ));
    }
    if wcs.crval_deg[1].abs() > 90.0 {
        return Err(AstrometryError::InvalidWcs(format!(
            "CRVAL2 = {} is not a declination",
            wcs.crval_deg[1]
        )));
    }
    Ok(())
}

fn check_params(p: &RefineParams) -> Result<(), AstrometryError> {
    let bad = |name: &'static str, message: &str| {
        Err(AstrometryError::InvalidParameter {
            name,
            message: message.to_string(),
        })
    };
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(p.max_offset_arcsec) {
        return bad("max_offset_arcsec", "must be finite and > 0");
    }
    if !positive(p.shift_max_offset_arcsec) {
        return bad("shift_max_offset_arcsec", "must be finite and > 0");
    }
    if !positive(p.vote_radius_px) || !positive(p.match_tolerance_px) {
        return bad(
            "vote_radius_px",
            "vote radius and match tolerance must be > 0",
        );
    }
    if !positive(p.clip_sigma) {
        return bad("clip_sigma", "must be finite and > 0");
    }
    if !(p.max_rotation_deg >= 0.0 && p.max_scale_change >= 0.0) {
        return bad("max_rotation_deg", "rotation and scale limits must be >= 0");
    }
    if p.vote_count == 0 || p.max_sources == 0 || p.max_reference == 0 {
        return bad(
            "vote_count",
            "vote_count, max_sources and max_reference must be >= 1",
        );
    }
    Ok(())
}

/// The offset with most other offsets within `radius` of it, refined as their mean; returns
/// it and the number of votes (0 when there are no offsets).
fn vote(offsets: &[(f64, f64)], radius: f64) -> ((f64, f64), usize) {
    let r2 = radius * radius;
    let mut best = ((0.0, 0.0), 0usize);
    for &(x, y) in offsets {
        let (mut n, mut sx, mut sy) = (0usize, 0.0, 0.0);
        for &(u, v) in offsets {
            if (u - x).powi(2) + (v - y).powi(2) <= r2 {
                n += 1;
                sx += u;
                sy += v;
            }
        }
        if n > best.1 {
            best = ((sx / n as f64, sy / n as f64), n);
        }
    }
    best
}

/// Another offset than `best` (farther than `2 × radius` from it) with at least `votes`
/// offsets within `radius`: the shift is then ambiguous. Returns it and its votes.
fn rival_vote(
    offsets: &[(f64, f64)],
    best: (f64, f64),
    votes: usize,
    radius: f64,
) -> Option<((f64, f64), usize)> {
    let r2 = radius * radius;
    offsets
        .iter()
        .filter(|&&(x, y)| (x - best.0).hypot(y - best.1) > 2.0 * radius)
        .map(|&(x, y)| {
            let n = offsets
                .iter()
                .filter(|&&(u, v)| (u - x).powi(2) + (v - y).powi(2) <= r2)
                .count();
            ((x, y), n)
        })
        .find(|&(_, n)| n >= votes)
}

/// Pairs `(i, k)` where catalogue star k is the nearest to prediction i within `tolerance`
/// and prediction i the nearest to star k.
fn mutual_nearest(
    predicted: &[(f64, f64)],
    cat_px: &[Option<(f64, f64)>],
    tolerance: f64,
) -> Vec<(usize, usize)> {
    let t2 = tolerance * tolerance;
    let nearest_star = |&(x, y): &(f64, f64)| -> Option<(usize, f64)> {
        cat_px
            .iter()
            .enumerate()
            .filter_map(|(k, c)| c.map(|(cx, cy)| (k, (cx - x).powi(2) + (cy - y).powi(2))))
            .filter(|(_, d2)| *d2 <= t2)
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let mut pairs = Vec::new();
    for (i, p) in predicted.iter().enumerate() {
        let Some((k, _)) = nearest_star(p) else {
            continue;
        };
        let (cx, cy) = cat_px[k].expect("nearest star projects");
        let back = predicted
            .iter()
            .enumerate()
            .map(|(j, &(x, y))| (j, (cx - x).powi(2) + (cy - y).powi(2)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(j, _)| j);
        if back == Some(i) {
            pairs.push((i, k));
        }
    }
    pairs
}

/// `p ↦ A (p − c) + c + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PixelTransform {
    a: [[f64; 2]; 2],
    t: [f64; 2],
    c: [f64; 2],
}

impl PixelTransform {
    fn apply(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let (u, v) = (x - self.c[0], y - self.c[1]);
        (
            self.a[0][0] * u + self.a[0][1] * v + self.c[0] + self.t[0],
            self.a[1][0] * u + self.a[1][1] * v + self.c[1] + self.t[1],
        )
    }
}

/// Least-squares fit of the model to the pairs (no clipping).
fn fit_once(
    pairs: &[(usize, usize)],
    src_px: &[(f64, f64)],
    cat_px: &[Option<(f64, f64)>],
    c: [f64; 2],
    model: WcsModel,
) -> Option<PixelTransform> {
    let n = pairs.len();
    let cols = model.n_parameters();
    let mut m = DMatrix::<f64>::zeros(2 * n, cols);
    let mut rhs = DVector::<f64>::zeros(2 * n);
    for (row, &(i, k)) in pairs.iter().enumerate() {
        let (u, v) = (src_px[i].0 - c[0], src_px[i].1 - c[1]);
        let (cx, cy) = cat_px[k]?;
        let (r0, r1) = (2 * row, 2 * row + 1);
        rhs[r0] = cx - c[0];
        rhs[r1] = cy - c[1];
        match model {
            // [a −b; b a] (u, v) + (tx, ty); unknowns (a, b, tx, ty).
            WcsModel::Similarity => {
                m[(r0, 0)] = u;
                m[(r0, 1)] = -v;
                m[(r0, 2)] = 1.0;
                m[(r1, 0)] = v;
                m[(r1, 1)] = u;
                m[(r1, 3)] = 1.0;
            }
            // Unknowns (a00, a01, a10, a11, tx, ty).
            WcsModel::Affine => {
                m[(r0, 0)] = u;
                m[(r0, 1)] = v;
                m[(r0, 4)] = 1.0;
                m[(r1, 2)] = u;
                m[(r1, 3)] = v;
                m[(r1, 5)] = 1.0;
            }
            // (u, v) + (tx, ty): the mean offset; unknowns (tx, ty).
            WcsModel::Shift => {
                rhs[r0] -= u;
                rhs[r1] -= v;
                m[(r0, 0)] = 1.0;
                m[(r1, 1)] = 1.0;
            }
        }
    }
    let sol = m.svd(true, true).solve(&rhs, 1e-12).ok()?;
    if !sol.iter().all(|v| v.is_finite()) {
        return None;
    }
    let (a, t) = match model {
        WcsModel::Similarity => ([[sol[0], -sol[1]], [sol[1], sol[0]]], [sol[2], sol[3]]),
        WcsModel::Affine => ([[sol[0], sol[1]], [sol[2], sol[3]]], [sol[4], sol[5]]),
        WcsModel::Shift => ([[1.0, 0.0], [0.0, 1.0]], [sol[0], sol[1]]),
    };
    Some(PixelTransform { a, t, c })
}

/// Fit with iterative clipping; returns the transform and the kept pairs.
fn fit_clipped(
    pairs: &[(usize, usize)],
    src_px: &[(f64, f64)],
    cat_px: &[Option<(f64, f64)>],
    c: [f64; 2],
    params: &RefineParams,
) -> Result<(PixelTransform, Vec<(usize, usize)>), AstrometryError> {
    let degenerate =
        || AstrometryError::InvalidWcs("the star positions do not constrain the fit".into());
    let mut kept = pairs.to_vec();
    let mut transform = fit_once(&kept, src_px, cat_px, c, params.model).ok_or_else(degenerate)?;
    for _ in 0..params.max_clip_iterations {
        let residual = |&(i, k): &(usize, usize)| {
            let (px, py) = transform.apply(src_px[i]);
            let (cx, cy) = cat_px[k].expect("matched stars project");
            (px - cx).hypot(py - cy)
        };
        let sum2: f64 = kept.iter().map(|p| residual(p).powi(2)).sum();
        let sigma = (sum2 / (2.0 * kept.len() as f64)).sqrt();
        let limit = (params.clip_sigma * sigma).max(0.05);
        let before = kept.len();
        kept.retain(|p| residual(p) <= limit);
        if kept.len() == before || kept.len() < 3 {
            break;
        }
        transform = fit_once(&kept, src_px, cat_px, c, params.model).ok_or_else(degenerate)?;
    }
    Ok((transform, kept))
}

/// Folds a pixel transform (detections → pixels of `wcs`) into the WCS, keeping the reference
/// pixel at `crpix`.
fn apply_transform(
    wcs: &TanWcs,
    tr: &PixelTransform,
    crpix: [f64; 2],
) -> Result<TanWcs, AstrometryError> {
    let a = &tr.a;
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    if !(det.is_finite() && det.abs() > 1e-12) {
        return Err(AstrometryError::InvalidWcs(
            "the fitted transform is singular".into(),
        ));
    }
    let cd = &wcs.cd_deg_per_px;
    let new_cd = [
        [
            cd[0][0] * a[0][0] + cd[0][1] * a[1][0],
            cd[0][0] * a[0][1] + cd[0][1] * a[1][1],
        ],
        [
            cd[1][0] * a[0][0] + cd[1][1] * a[1][0],
            cd[1][0] * a[0][1] + cd[1][1] * a[1][1],
        ],
    ];
    // A detection at p lies where `wcs` puts T(p), i.e. CD·(A (p − c) + t): the same as
    // CD'·(p − c'), c' = c − A⁻¹ t. Then move the reference pixel back to `crpix`.
    let inv = [
        [a[1][1] / det, -a[0][1] / det],
        [-a[1][0] / det, a[0][0] / det],
    ];
    let c = tr.c;
    let shifted_crpix = [
        c[0] - (inv[0][0] * tr.t[0] + inv[0][1] * tr.t[1]),
        c[1] - (inv[1][0] * tr.t[0] + inv[1][1] * tr.t[1]),
    ];
    let intermediate = TanWcs {
        crpix_px: shifted_crpix,
        crval_deg: wcs.crval_deg,
        cd_deg_per_px: new_cd,
    };
    let (ra, dec) = intermediate.pixel_to_world(crpix[0], crpix[1]);
    Ok(TanWcs {
        crpix_px: crpix,
        crval_deg: [ra, dec],
        cd_deg_per_px: new_cd,
    })
}

// ---------------------------------------------------------------------------------------
// SIP distortion
// ---------------------------------------------------------------------------------------

/// One SIP coefficient: `coef · u^p · v^q`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SipTerm {
    pub p: u32,
    pub q: u32,
    pub coef: f64,
}

/// SIP forward distortion polynomials (Shupe et al. 2005): `f(u, v) = Σ A_p_q u^p v^q`,
/// `g(u, v) = Σ B_p_q u^p v^q` with `p + q ≤ order`, `(u, v)` the pixel offsets from CRPIX
/// (the same in 0-based and FITS 1-based pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct SipDistortion {
    pub a_order: u32,
    pub b_order: u32,
    pub a: Vec<SipTerm>,
    pub b: Vec<SipTerm>,
}

fn polynomial(terms: &[SipTerm], u: f64, v: f64) -> (f64, f64, f64) {
    // Value and partial derivatives.
    let (mut f, mut fu, mut fv) = (0.0, 0.0, 0.0);
    for t in terms {
        let (p, q) = (t.p as i32, t.q as i32);
        f += t.coef * u.powi(p) * v.powi(q);
        if p > 0 {
            fu += t.coef * p as f64 * u.powi(p - 1) * v.powi(q);
        }
        if q > 0 {
            fv += t.coef * q as f64 * u.powi(p) * v.powi(q - 1);
        }
    }
    (f, fu, fv)
}

impl SipDistortion {
    /// Reads SIP keywords. `Ok(None)` when there is no `A_ORDER`, or when CTYPE1/CTYPE2 do not
    /// end in `-SIP` (the keywords are then ignored, as astropy and wcslib do). An `A_ORDER`
    /// without `B_ORDER`, or an order outside 0–9, is an error.
    pub fn from_header(header: &Header) -> Result<Option<SipDistortion>, AstrometryError> {
        let Some(a_order) = header.number("A_ORDER") else {
            return Ok(None);
        };
        let sip_ctype = |k: &str| {
            header
                .text(k)
                .is_some_and(|t| t.trim_end().ends_with("-SIP"))
        };
        if !(sip_ctype("CTYPE1") && sip_ctype("CTYPE2")) {
            return Ok(None);
        }
        let b_order = header
            .number("B_ORDER")
            .ok_or_else(|| AstrometryError::InvalidSip("A_ORDER without B_ORDER".into()))?;
        let order = |v: f64, name: &str| -> Result<u32, AstrometryError> {
            if v.fract() == 0.0 && (0.0..=9.0).contains(&v) {
                Ok(v as u32)
            } else {
                Err(AstrometryError::InvalidSip(format!(
                    "{name} = {v} is not an order 0–9"
                )))
            }
        };
        let (a_order, b_order) = (order(a_order, "A_ORDER")?, order(b_order, "B_ORDER")?);
        let terms = |prefix: &str, n: u32| -> Vec<SipTerm> {
            let mut out = Vec::new();
            for p in 0..=n {
                for q in 0..=(n - p) {
                    if let Some(coef) = header.number(&format!("{prefix}_{p}_{q}")) {
                        if coef != 0.0 {
                            out.push(SipTerm { p, q, coef });
                        }
                    }
                }
            }
            out
        };
        Ok(Some(SipDistortion {
            a_order,
            b_order,
            a: terms("A", a_order),
            b: terms("B", b_order),
        }))
    }

    /// `(u + f(u, v), v + g(u, v))`: distorted pixel offsets to the linear ("intermediate")
    /// offsets on which the CD matrix acts.
    pub fn distort(&self, u: f64, v: f64) -> (f64, f64) {
        (
            u + polynomial(&self.a, u, v).0,
            v + polynomial(&self.b, u, v).0,
        )
    }

    /// Inverse of [`SipDistortion::distort`] by Newton iteration (to 1e-10 px); `None` when it
    /// does not converge.
    pub fn undistort(&self, up: f64, vp: f64) -> Option<(f64, f64)> {
        let (mut u, mut v) = (up, vp);
        for _ in 0..50 {
            let (f, fu, fv) = polynomial(&self.a, u, v);
            let (g, gu, gv) = polynomial(&self.b, u, v);
            let (ru, rv) = (u + f - up, v + g - vp);
            if ru.hypot(rv) < 1e-10 {
                return Some((u, v));
            }
            let (j00, j01, j10, j11) = (1.0 + fu, fv, gu, 1.0 + gv);
            let det = j00 * j11 - j01 * j10;
            if !(det.is_finite() && det.abs() > 1e-12) {
                return None;
            }
            u -= (j11 * ru - j01 * rv) / det;
            v -= (-j10 * ru + j00 * rv) / det;
        }
        None
    }

    /// Sky position of a 0-based pixel under `wcs` with this distortion.
    pub fn pixel_to_world(&self, wcs: &TanWcs, x_px: f64, y_px: f64) -> (f64, f64) {
        let c = wcs.crpix_px;
        let (u, v) = self.distort(x_px - c[0], y_px - c[1]);
        wcs.pixel_to_world(u + c[0], v + c[1])
    }

    /// 0-based pixel of a sky position under `wcs` with this distortion.
    pub fn world_to_pixel(&self, wcs: &TanWcs, ra_deg: f64, dec_deg: f64) -> Option<(f64, f64)> {
        let c = wcs.crpix_px;
        let (xl, yl) = wcs.world_to_pixel(ra_deg, dec_deg)?;
        let (u, v) = self.undistort(xl - c[0], yl - c[1])?;
        Some((u + c[0], v + c[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::header::HeaderValue;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64;

    fn source(x: f64, y: f64, flux: f64) -> Source {
        Source {
            x,
            y,
            x_iso: x,
            y_iso: y,
            flux,
            peak: flux / 20.0,
            area_px: 20,
            a_px: 2.0,
            b_px: 2.0,
            theta_deg: 0.0,
            fwhm_px: 4.0,
            flags: 0,
            label: 0,
        }
    }

    /// A random catalogue around (ra0, dec0) and its detections through `truth` (+ optional
    /// SIP), with position noise and a few spurious detections.
    fn scene(
        truth: &TanWcs,
        sip: Option<&SipDistortion>,
        n: usize,
        noise_px: f64,
        seed: u64,
    ) -> (Vec<ReferenceStar>, Vec<Source>) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let noise = Normal::new(0.0, noise_px.max(1e-12)).unwrap();
        let mut catalogue = Vec::new();
        let mut sources = Vec::new();
        for k in 0..n {
            let (x, y) = (
                rng.random_range(-50.0..1050.0),
                rng.random_range(-50.0..1050.0),
            );
            let (ra, dec) = match sip {
                Some(s) => s.pixel_to_world(truth, x, y),
                None => truth.pixel_to_world(x, y),
            };
            let mag = 14.0 + 6.0 * rng.random::<f64>();
            catalogue.push(ReferenceStar {
                ra_deg: ra,
                dec_deg: dec,
                mag,
            });
            // Stars off the image or fainter than the detection limit are not detected.
            if (0.0..1000.0).contains(&x) && (0.0..1000.0).contains(&y) && mag < 19.5 && k % 7 != 0
            {
                let flux = 10f64.powf(-0.4 * (mag - 25.0));
                let (nx, ny) = (noise.sample(&mut rng), noise.sample(&mut rng));
                sources.push(source(x + nx, y + ny, flux));
            }
        }
        for _ in 0..10 {
            sources.push(source(
                rng.random_range(0.0..1000.0),
                rng.random_range(0.0..1000.0),
                rng.random_range(1e2..1e4),
            ));
        }
        (catalogue, sources)
    }

    fn offset_crval(w: &TanWcs, east_arcsec: f64, north_arcsec: f64) -> TanWcs {
        let probe = TanWcs {
            crpix_px: [0.0, 0.0],
            crval_deg: w.crval_deg,
            cd_deg_per_px: [[1.0 / 3600.0, 0.0], [0.0, 1.0 / 3600.0]],
        };
        let (ra, dec) = probe.pixel_to_world(east_arcsec, north_arcsec);
        TanWcs {
            crval_deg: [ra, dec],
            ..w.clone()
        }
    }

    #[test]
    fn recovers_shift_rotation_and_scale() {
        let truth = TanWcs::north_up([500.0, 500.0], [265.0, -18.5], 0.2138, 0.3);
        let (catalogue, sources) = scene(&truth, None, 300, 0.03, 1);
        // Header: 25″ off, no rotation, scale 0.2 % off.
        let mut header = offset_crval(
            &TanWcs::north_up([500.0, 500.0], [265.0, -18.5], 0.2138 * 1.002, 0.0),
            15.0,
            -20.0,
        );
        header.crpix_px = truth.crpix_px;
        let r = refine_wcs(
            &sources,
            &catalogue,
            &header,
            1000,
            1000,
            &RefineParams::default(),
        )
        .unwrap();
        let (e, n) = standard_coordinates_arcsec(
            truth.crval_deg[0],
            truth.crval_deg[1],
            r.wcs.crval_deg[0],
            r.wcs.crval_deg[1],
        )
        .unwrap();
        assert!(e.hypot(n) < 0.01, "crval error {e} {n} arcsec");
        assert!((y_axis_position_angle_deg(&r.wcs) - 0.3).abs() < 0.001);
        let scale_err = r.wcs.scale_arcsec_per_px() / 0.2138 - 1.0;
        assert!(scale_err.abs() < 3e-5, "scale error {scale_err}");
        assert!(
            (r.shift_east_arcsec + 15.0).abs() < 0.01 && (r.shift_north_arcsec - 20.0).abs() < 0.01
        );
        assert!((r.rotation_deg - 0.3).abs() < 0.001);
        assert!(r.rms_arcsec < 0.05 * 0.2138 * 2.0, "rms {}", r.rms_arcsec);
        assert!(r.n_matched > 50);
        for &(i, k) in &r.matches {
            let (x, y) = truth
                .world_to_pixel(catalogue[k].ra_deg, catalogue[k].dec_deg)
                .unwrap();
            assert!((sources[i].x - x).hypot(sources[i].y - y) < 0.3);
        }
        // Affine model too.
        let affine = RefineParams {
            model: WcsModel::Affine,
            ..RefineParams::default()
        };
        let r = refine_wcs(&sources, &catalogue, &header, 1000, 1000, &affine).unwrap();
        for (a, b) in r
            .wcs
            .cd_deg_per_px
            .iter()
            .flatten()
            .zip(truth.cd_deg_per_px.iter().flatten())
        {
            assert!((a - b).abs() < 1e-4 * 0.2138 / 3600.0);
        }
    }

    #[test]
    fn too_few_stars_and_bad_inputs_are_errors() {
        let truth = TanWcs::north_up([500.0, 500.0], [10.0, 40.0], 0.2138, 0.0);
        let (catalogue, sources) = scene(&truth, None, 300, 0.03, 2);
        let p = RefineParams::default();
        assert!(matches!(
            refine_wcs(&[], &catalogue, &truth, 1000, 1000, &p),
            Err(AstrometryError::TooFewMatches { found: 0, .. })
        ));
        assert!(matches!(
            refine_wcs(&sources, &[], &truth, 1000, 1000, &p),
            Err(AstrometryError::TooFewMatches { found: 0, .. })
        ));
        assert!(matches!(
            refine_wcs(&sources[..3], &catalogue, &truth, 1000, 1000, &p),
            Err(AstrometryError::TooFewMatches { .. })
        ));
        // The three brightest detections of a rich field: too few for the similarity; they
        // agree on a shift, but 3 of ~250 catalogue stars on the image is no evidence of a
        // pointing.
        let mut brightest = sources.clone();
        brightest.sort_by(|a, b| b.flux.total_cmp(&a.flux));
        brightest.truncate(3);
        let err = refine_wcs(&brightest, &catalogue, &truth, 1000, 1000, &p).unwrap_err();
        assert!(
            matches!(&err, AstrometryError::ShiftRefused { matched: 3, reason } if reason.contains("only 3 of the")),
            "{err:?}"
        );
        // A catalogue of another field.
        let elsewhere: Vec<ReferenceStar> = catalogue
            .iter()
            .map(|s| ReferenceStar {
                dec_deg: s.dec_deg + 1.0,
                ..*s
            })
            .collect();
        assert!(matches!(
            refine_wcs(&sources, &elsewhere, &truth, 1000, 1000, &p),
            Err(AstrometryError::TooFewMatches { .. })
        ));
        // Pointing error beyond the search radius: no consistent shift.
        let far = offset_crval(&truth, 120.0, 0.0);
        assert!(refine_wcs(&sources, &catalogue, &far, 1000, 1000, &p).is_err());
        let broken = TanWcs {
            cd_deg_per_px: [[0.0, 0.0], [0.0, 0.0]],
            ..truth.clone()
        };
        assert!(matches!(
            refine_wcs(&sources, &catalogue, &broken, 1000, 1000, &p),
            Err(AstrometryError::InvalidWcs(_))
        ));
        let nan = TanWcs {
            crval_deg: [f64::NAN, 0.0],
            ..truth.clone()
        };
        assert!(refine_wcs(&sources, &catalogue, &nan, 1000, 1000, &p).is_err());
        // All sources flagged: none usable.
        let flagged: Vec<Source> = sources
            .iter()
            .map(|s| Source {
                flags: source_flag::SATURATED,
                ..s.clone()
            })
            .collect();
        assert!(matches!(
            refine_wcs(&flagged, &catalogue, &truth, 1000, 1000, &p),
            Err(AstrometryError::TooFewMatches { found: 0, .. })
        ));
    }

    /// A standard-star field: catalogue stars at `pixels` of `truth` (magnitudes 12, 12.5,
    /// ...), detected there with 0.03 px of noise, and two uncatalogued field stars.
    fn small_field(truth: &TanWcs, pixels: &[(f64, f64)]) -> (Vec<ReferenceStar>, Vec<Source>) {
        let mut rng = Pcg64::seed_from_u64(7);
        let noise = Normal::new(0.0, 0.03).unwrap();
        let mut catalogue = Vec::new();
        let mut sources = Vec::new();
        for (k, &(x, y)) in pixels.iter().enumerate() {
            let (ra_deg, dec_deg) = truth.pixel_to_world(x, y);
            let mag = 12.0 + 0.5 * k as f64;
            catalogue.push(ReferenceStar {
                ra_deg,
                dec_deg,
                mag,
            });
            let flux = 10f64.powf(-0.4 * (mag - 25.0));
            sources.push(source(
                x + noise.sample(&mut rng),
                y + noise.sample(&mut rng),
                flux,
            ));
        }
        sources.push(source(120.0, 830.0, 3e4));
        sources.push(source(700.0, 90.0, 2e4));
        (catalogue, sources)
    }

    /// Largest distance (px) between where `refined` and `truth` put the catalogue stars.
    fn worst_error_px(refined: &TanWcs, truth: &TanWcs, catalogue: &[ReferenceStar]) -> f64 {
        catalogue
            .iter()
            .map(|s| {
                let (x, y) = refined.world_to_pixel(s.ra_deg, s.dec_deg).unwrap();
                let (xt, yt) = truth.world_to_pixel(s.ra_deg, s.dec_deg).unwrap();
                (x - xt).hypot(y - yt)
            })
            .fold(0.0, f64::max)
    }

    const LANDOLT_PIXELS: [(f64, f64); 5] = [
        (310.0, 420.0),
        (640.0, 250.0),
        (520.0, 760.0),
        (180.0, 130.0),
        (850.0, 600.0),
    ];

    #[test]
    fn a_small_field_is_refined_by_a_shift_alone() {
        let truth = TanWcs::north_up([500.0, 500.0], [250.0, 0.5], 0.2138, 0.3);
        // Pointing error 3″ east, 2.5″ south (~18 px): refined − header = (−3, +2.5).
        let header = offset_crval(&truth, 3.0, -2.5);
        let p = RefineParams::default();
        for n in [3, 4] {
            let (catalogue, sources) = small_field(&truth, &LANDOLT_PIXELS[..n]);
            let before = worst_error_px(&header, &truth, &catalogue);
            let r = refine_wcs(&sources, &catalogue, &header, 1000, 1000, &p).unwrap();
            let after = worst_error_px(&r.wcs, &truth, &catalogue);
            eprintln!(
                "{n} stars: header off by {before:.2} px, refined {after:.4} px; shift \
                 ({:.4}, {:.4})″, {} votes, rms {:.4}″",
                r.shift_east_arcsec, r.shift_north_arcsec, r.votes, r.rms_arcsec
            );
            assert_eq!(r.model, WcsModel::Shift);
            assert_eq!((r.n_matched, r.votes), (n, n));
            assert!(before > 15.0);
            assert!(after < 0.1, "{n} stars: {after} px");
            assert!(
                (r.shift_east_arcsec + 3.0).abs() < 0.02
                    && (r.shift_north_arcsec - 2.5).abs() < 0.02,
                "{r:?}"
            );
            // Rotation and scale are the header's.
            assert_eq!(r.wcs.cd_deg_per_px, header.cd_deg_per_px);
            assert_eq!((r.rotation_deg, r.scale_ratio), (0.0, 1.0));
            let mut matched: Vec<usize> = r.matches.iter().map(|&(i, _)| i).collect();
            matched.sort_unstable();
            assert_eq!(matched, (0..n).collect::<Vec<_>>());
            assert!(r.matches.iter().all(|&(i, k)| i == k));
        }
        // Six stars: the similarity fit, as before.
        let six = [LANDOLT_PIXELS.as_slice(), &[(420.0, 520.0)]].concat();
        let (catalogue, sources) = small_field(&truth, &six);
        let r = refine_wcs(&sources, &catalogue, &header, 1000, 1000, &p).unwrap();
        assert_eq!((r.model, r.n_matched), (WcsModel::Similarity, 6));
        // A shift can also be asked for.
        let shift = RefineParams {
            model: WcsModel::Shift,
            ..p
        };
        let r = refine_wcs(&sources, &catalogue, &header, 1000, 1000, &shift).unwrap();
        assert_eq!((r.model, r.n_matched), (WcsModel::Shift, 6));
        assert!(worst_error_px(&r.wcs, &truth, &catalogue) < 0.1);
    }

    #[test]
    fn a_shift_from_one_star_or_a_doubtful_match_is_refused() {
        let truth = TanWcs::north_up([500.0, 500.0], [250.0, 0.5], 0.2138, 0.0);
        let header = offset_crval(&truth, 3.0, -2.5);
        let p = RefineParams::default();
        // One star (and two field stars): nothing checks the match; the similarity's error.
        let (catalogue, sources) = small_field(&truth, &LANDOLT_PIXELS[..1]);
        assert_eq!(
            refine_wcs(&sources, &catalogue, &header, 1000, 1000, &p),
            Err(AstrometryError::TooFewMatches {
                found: 3,
                needed: 6
            })
        );
        let shift = RefineParams {
            model: WcsModel::Shift,
            ..p
        };
        assert!(matches!(
            refine_wcs(&sources, &catalogue, &header, 1000, 1000, &shift),
            Err(AstrometryError::TooFewMatches { .. })
        ));
        // Two stars of which one is not detected: one vote.
        let (catalogue, sources) = small_field(&truth, &LANDOLT_PIXELS[..2]);
        assert!(matches!(
            refine_wcs(&sources[1..], &catalogue, &header, 1000, 1000, &p),
            Err(AstrometryError::TooFewMatches { .. })
        ));
        // The two-star pattern seen twice, 10″ apart: two shifts with two votes each.
        let mut doubled = sources[..2].to_vec();
        doubled.extend(sources[..2].iter().map(|s| source(s.x + 47.0, s.y, s.flux)));
        let err = refine_wcs(&doubled, &catalogue, &header, 1000, 1000, &p).unwrap_err();
        assert!(
            matches!(&err, AstrometryError::ShiftRefused { reason, .. } if reason.contains("ambiguous")),
            "{err}"
        );
        // Two detections repeating the separation of two of five catalogue stars 30 px away
        // from them, and the other three stars missing: not half of the field.
        let (catalogue, sources) = small_field(&truth, &LANDOLT_PIXELS);
        let false_pair: Vec<Source> = sources[..2]
            .iter()
            .map(|s| source(s.x + 30.0, s.y - 20.0, s.flux))
            .collect();
        let err = refine_wcs(&false_pair, &catalogue, &truth, 1000, 1000, &p).unwrap_err();
        assert!(
            matches!(&err, AstrometryError::ShiftRefused { matched: 2, reason } if reason.contains("only 2 of the 5")),
            "{err}"
        );
        // A pointing error beyond shift_max_offset_arcsec (30″ > 20″) is not searched.
        let (catalogue, sources) = small_field(&truth, &LANDOLT_PIXELS[..4]);
        let far = offset_crval(&truth, 30.0, 0.0);
        assert!(matches!(
            refine_wcs(&sources, &catalogue, &far, 1000, 1000, &p),
            Err(AstrometryError::TooFewMatches { .. })
        ));
        let wider = RefineParams {
            shift_max_offset_arcsec: 40.0,
            ..p
        };
        let r = refine_wcs(&sources, &catalogue, &far, 1000, 1000, &wider).unwrap();
        assert!(worst_error_px(&r.wcs, &truth, &catalogue) < 0.1);
    }

    fn sip_header() -> Header {
        let mut h = Header::default();
        let f = HeaderValue::Float;
        let s = |t: &str| HeaderValue::Str(t.to_string());
        h.set("CTYPE1", s("RA---TAN-SIP"), "");
        h.set("CTYPE2", s("DEC--TAN-SIP"), "");
        h.set("CRPIX1", f(501.0), "");
        h.set("CRPIX2", f(501.0), "");
        h.set("CRVAL1", f(150.0), "");
        h.set("CRVAL2", f(2.0), "");
        h.set("CD1_1", f(-0.2138 / 3600.0), "");
        h.set("CD1_2", f(0.0), "");
        h.set("CD2_1", f(0.0), "");
        h.set("CD2_2", f(0.2138 / 3600.0), "");
        h.set("A_ORDER", HeaderValue::Int(3), "");
        h.set("B_ORDER", HeaderValue::Int(3), "");
        h.set("A_2_0", f(2.0e-6), "");
        h.set("A_1_1", f(-1.0e-6), "");
        h.set("A_3_0", f(3.0e-9), "");
        h.set("B_0_2", f(1.5e-6), "");
        h.set("B_1_2", f(-2.0e-9), "");
        h
    }

    #[test]
    fn sip_from_header_and_round_trips() {
        let h = sip_header();
        let wcs = TanWcs::from_header(&h).unwrap();
        let sip = SipDistortion::from_header(&h).unwrap().unwrap();
        assert_eq!(
            (sip.a_order, sip.b_order, sip.a.len(), sip.b.len()),
            (3, 3, 3, 2)
        );
        // Distortion by hand at one pixel: u = 400, v = −300 (0-based x = 900, y = 200).
        let (u, v) = (400.0, -300.0);
        let f = 2.0e-6 * u * u - 1.0e-6 * u * v + 3.0e-9 * u * u * u;
        let g = 1.5e-6 * v * v - 2.0e-9 * u * v * v;
        let (up, vp) = sip.distort(u, v);
        assert!((up - (u + f)).abs() < 1e-12 && (vp - (v + g)).abs() < 1e-12);
        let (ra, dec) = sip.pixel_to_world(&wcs, 900.0, 200.0);
        let (ra_lin, dec_lin) = wcs.pixel_to_world(900.0 + f, 200.0 + g);
        assert!((ra - ra_lin).abs() < 1e-12 && (dec - dec_lin).abs() < 1e-12);
        for (x, y) in [(0.0, 0.0), (900.0, 200.0), (500.0, 500.0), (999.0, 999.0)] {
            let (ra, dec) = sip.pixel_to_world(&wcs, x, y);
            let (x2, y2) = sip.world_to_pixel(&wcs, ra, dec).unwrap();
            assert!(
                (x2 - x).abs() < 1e-7 && (y2 - y).abs() < 1e-7,
                "{x} {y} → {x2} {y2}"
            );
        }
        // Without the -SIP suffix the keywords are ignored; B_ORDER missing is an error.
        let mut plain = h.clone();
        plain.set("CTYPE1", HeaderValue::Str("RA---TAN".into()), "");
        plain.set("CTYPE2", HeaderValue::Str("DEC--TAN".into()), "");
        assert_eq!(SipDistortion::from_header(&plain).unwrap(), None);
        let mut broken = h.clone();
        broken.set("B_ORDER", HeaderValue::Str("x".into()), "");
        assert!(SipDistortion::from_header(&broken).is_err());
        assert_eq!(
            SipDistortion::from_header(&Header::default()).unwrap(),
            None
        );
    }

    #[test]
    fn refinement_with_sip_distortion() {
        let h = sip_header();
        let truth = TanWcs::from_header(&h).unwrap();
        let sip = SipDistortion::from_header(&h).unwrap().unwrap();
        let (catalogue, sources) = scene(&truth, Some(&sip), 300, 0.02, 3);
        let header = offset_crval(&truth, -10.0, 8.0);
        let p = RefineParams::default();
        let with =
            refine_wcs_with_sip(&sources, &catalogue, &header, Some(&sip), 1000, 1000, &p).unwrap();
        let (e, n) = standard_coordinates_arcsec(
            truth.crval_deg[0],
            truth.crval_deg[1],
            with.wcs.crval_deg[0],
            with.wcs.crval_deg[1],
        )
        .unwrap();
        assert!(e.hypot(n) < 0.01, "{e} {n}");
        assert!(with.rms_arcsec < 0.02, "{}", with.rms_arcsec);
        // Ignoring the distortion leaves residuals of the order of the distortion (~1 px).
        let loose = RefineParams {
            match_tolerance_px: 5.0,
            ..p
        };
        let without = refine_wcs(&sources, &catalogue, &header, 1000, 1000, &loose).unwrap();
        assert!(
            without.rms_arcsec > 5.0 * with.rms_arcsec,
            "{} vs {}",
            without.rms_arcsec,
            with.rms_arcsec
        );
    }
}
