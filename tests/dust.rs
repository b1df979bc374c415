//! The dust physics (check values of DESIGN §4, trends, syndynes) and the grain inference.

#[path = "dust/grains.rs"]
mod grains;
#[path = "dust/physics.rs"]
mod physics;
