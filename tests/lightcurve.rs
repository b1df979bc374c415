//! The lightcurve step: fits on synthetic data with known truth, the numpy reference on real
//! lightcurves, and honest errors over many simulated campaigns.

#[path = "lightcurve/campaigns.rs"]
mod campaigns;
#[path = "lightcurve/fit.rs"]
mod fit;
#[path = "lightcurve/reference.rs"]
mod reference;
