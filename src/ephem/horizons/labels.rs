//! What Horizons column labels mean: time columns, text columns, RA/Dec, angles that wrap at
//! 360°, and plain-text labels that hold two quantities.

pub(super) fn is_jd_label(label: &str) -> bool {
    label.starts_with("Date") && label.contains("JD")
}

pub(super) fn is_calendar_label(label: &str) -> bool {
    label.starts_with("Date__(") || label.starts_with("Calendar Date")
}

/// Columns kept as text: calendar dates, `/r`-type flags, the constellation.
pub(super) fn is_text_label(label: &str) -> bool {
    is_calendar_label(label) || label.starts_with('/') || label == "Cnst"
}

/// Label with underscores and blanks removed, e.g. `R.A.__(ICRF)` → `R.A.(ICRF)`.
fn squeezed(label: &str) -> String {
    label
        .chars()
        .filter(|c| *c != '_' && !c.is_whitespace())
        .collect()
}

/// `R.A._(ICRF)`, `R.A.__(ICRF)`, `R.A._(J2000.0)`, `R.A._(a-apparent)`, `RA`, `RA_(ICRF)`.
pub(super) fn is_ra_label(label: &str) -> bool {
    let s = squeezed(label);
    s.starts_with("R.A.") || s == "RA" || s.starts_with("RA(")
}

/// `DEC_(ICRF)`, `DEC__(ICRF)`, `DEC_(J2000.0)`, `DEC`.
pub(super) fn is_dec_label(label: &str) -> bool {
    let s = squeezed(label);
    s == "DEC" || s.starts_with("DEC(")
}

/// Period (degrees) of columns whose values wrap at 360: RA, longitudes, position angles,
/// azimuth. Others are interpolated as they are.
pub(super) fn wrap_period(label: &str) -> Option<f64> {
    let l = label.to_ascii_lowercase();
    let wraps = is_ra_label(label)
        || l.contains("lon")
        || l.starts_with("psang")
        || l.starts_with("psamv")
        || l.starts_with("azi")
        || l.ends_with(".ang")
        || l == "sky_mot_pa"
        || l == "satpang";
    wraps.then_some(360.0)
}

/// A plain-text label holding two quantities, `head_(note)_tail` with underscores on both
/// sides of the parenthesis (e.g.
/// `R.A._____(ICRF)_____DEC`, `Azi_(a-appr)_Elev`), becomes `head_(note)` and `tail_(note)`,
/// the names Horizons uses for the same columns in CSV. Other labels stay as they are.
pub(super) fn split_pair_label(label: &str) -> Vec<String> {
    pair_label_parts(label).unwrap_or_else(|| vec![label.to_string()])
}

fn pair_label_parts(label: &str) -> Option<Vec<String>> {
    if label.starts_with("Date") {
        return None;
    }
    let open = label.find('(')?;
    let close = label.rfind(')').filter(|&c| c > open)?;
    let head = label.get(..open)?.strip_suffix('_')?.trim_end_matches('_');
    let note = label.get(open..=close)?;
    let tail = label
        .get(close + 1..)?
        .strip_prefix('_')?
        .trim_start_matches('_');
    (!head.is_empty() && !tail.is_empty())
        .then(|| vec![format!("{head}_{note}"), format!("{tail}_{note}")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_labels_split_like_csv_names() {
        assert_eq!(
            split_pair_label("R.A._____(ICRF)_____DEC"),
            ["R.A._(ICRF)", "DEC_(ICRF)"]
        );
        assert_eq!(
            split_pair_label("Azi_(a-appr)_Elev"),
            ["Azi_(a-appr)", "Elev_(a-appr)"]
        );
        assert_eq!(split_pair_label("Date__(UT)__HR:MN"), ["Date__(UT)__HR:MN"]);
        assert_eq!(split_pair_label("R.A._(ICRF)"), ["R.A._(ICRF)"]);
        assert_eq!(split_pair_label("d(DEC)/dt"), ["d(DEC)/dt"]);
        assert!(is_ra_label("R.A.__(ICRF)") && is_ra_label("RA") && !is_ra_label("dRA*cosD"));
        assert!(is_dec_label("DEC__(ICRF)") && !is_dec_label("d(DEC)/dt"));
    }
}
