//! `cometphot ephem`: the observing geometry of a comet on a grid of UTC times.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use cometphot::ephem::ephemeris::{ephemeris, time_grid, to_dataframe, GeometrySource, OrbitModel};
use cometphot::ephem::horizons;
use cometphot::ephem::site::Site;
use cometphot::ephem::time::{parse_duration_s, UtcInstant};
use cometphot::table::write_table_or_stdout;

use super::{Verbosity, EXIT_OK};

#[derive(Debug, Args)]
#[command(after_help = "\
Columns: time_utc,jd_tdb,ra_deg,dec_deg,rh_au,delta_au,phase_deg,elong_deg,sun_pa_deg,
neg_vel_pa_deg,rate_arcsec_per_min,rate_pa_deg. RA/Dec are astrometric (ICRF, light-time
corrected); sun_pa_deg and neg_vel_pa_deg are Horizons' PsAng and PsAMV; position angles are
east of north. Quantities a Horizons observer table lacks are left empty.

Examples:
  cometphot ephem --object 3I --start 2025-07-01T00:00:00Z --stop 2025-09-30T00:00:00Z --step 6h
  cometphot ephem --object 2I --start 2019-12-01 --stop 2019-12-31 --step 1d --site NOT --out 2I.parquet
  cometphot ephem --elements CometEls.txt --object 3I --start 2025-08-01 --stop 2025-08-02 --step 30min
  cometphot ephem --horizons horizons_vectors.txt --start 2025-08-01 --stop 2025-08-10 --site -17.885,28.757,2382")]
pub struct EphemArgs {
    /// Comet: a built-in orbit (3I, 3I/ATLAS, "C/2025 N1", 2I, 2I/Borisov, "C/2019 Q4"), or the
    /// name to pick from --elements.
    #[arg(long)]
    pub object: Option<String>,
    /// First time (UTC, ISO 8601: 2025-07-01 or 2025-07-01T00:00:00Z).
    #[arg(long)]
    pub start: String,
    /// Last time (UTC, inclusive when on the grid).
    #[arg(long)]
    pub stop: String,
    /// Time step with a unit: s, min, h or d (e.g. 30min, 6h, 1d).
    #[arg(long, default_value = "1d")]
    pub step: String,
    /// Observer: geocentric (default), a site name or MPC code (NOT, Z23, 809, ...), or
    /// LON,LAT,ALT_M (east longitude and latitude in degrees, altitude in metres).
    #[arg(long, default_value = "geocentric", allow_hyphen_values = true)]
    pub site: String,
    /// Orbital elements: a TOML elements file or MPC comet-format lines (CometEls.txt).
    #[arg(long, conflicts_with = "horizons")]
    pub elements: Option<PathBuf>,
    /// A JPL Horizons table (vector or observer table, text or CSV form) to use instead of
    /// an orbit.
    #[arg(long)]
    pub horizons: Option<PathBuf>,
    /// Propagate the orbit with the Sun alone (default: Sun and planets, integrated from the
    /// epoch of osculation; needed for accuracy beyond a few weeks from it).
    #[arg(long, conflicts_with = "horizons")]
    pub two_body: bool,
    /// Output table (.csv or .parquet); standard output (CSV) without it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn geometry_source(
    args: &EphemArgs,
    first: UtcInstant,
    last: UtcInstant,
) -> anyhow::Result<GeometrySource> {
    if let Some(path) = &args.horizons {
        let table = horizons::read(path)?;
        return GeometrySource::from_horizons(table)
            .with_context(|| format!("cannot use {}", path.display()));
    }
    let Some(elements) = super::comet_elements(args.elements.as_deref(), args.object.as_deref())?
    else {
        bail!("say which comet: --object 3I|2I|NAME, --elements FILE or --horizons FILE")
    };
    let model = if args.two_body {
        OrbitModel::TwoBody
    } else {
        OrbitModel::Perturbed
    };
    GeometrySource::orbit(elements, model, first, last)
        .context("cannot propagate the orbit (--two-body works without an epoch of osculation)")
}

pub fn run(args: EphemArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let start = UtcInstant::parse_iso(&args.start).context("--start")?;
    let stop = UtcInstant::parse_iso(&args.stop).context("--stop")?;
    let step_s = parse_duration_s(&args.step).context("--step")?;
    let site = Site::parse(&args.site).context("--site")?;
    let times = time_grid(start, stop, step_s)?;
    let last = times.last().copied().unwrap_or(start);
    let source = geometry_source(&args, start, last)?;
    let rows = ephemeris(&source, &site, &times)?;
    let mut df = to_dataframe(&rows)?;
    write_table_or_stdout(&mut df, args.out.as_deref()).with_context(|| match &args.out {
        Some(path) => format!("cannot write {}", path.display()),
        None => "cannot write the table to standard output".to_string(),
    })?;
    if verbosity != Verbosity::Quiet {
        if let Some(path) = &args.out {
            eprintln!(
                "{} rows ({}Z .. {}Z, site {}) written to {}",
                rows.len(),
                start,
                times.last().copied().unwrap_or(start),
                site.label(),
                path.display()
            );
        }
    }
    Ok(EXIT_OK)
}
