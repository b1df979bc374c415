//! Observing geometry. For now: UTC instants and their Julian dates; the orbit propagator,
//! Earth ephemeris and observer geometry build on these.

pub mod time;
