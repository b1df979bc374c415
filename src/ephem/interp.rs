//! Cubic Hermite interpolation of a trajectory between two nodes that carry positions and
//! velocities: exact at the nodes, continuous in position and velocity, and exact for any
//! cubic motion. With nodes Δt apart its error is ≈ Δt⁴·|r⁗|/384.

use super::Vec3;

/// A trajectory node: time, position, velocity (any consistent units).
pub type Node = (f64, Vec3, Vec3);

/// Position and velocity at `t` from the nodes `a` and `b` (t₀ < t₁), with the Hermite basis
/// h₀₀ = 2s³ − 3s² + 1, h₁₀ = s³ − 2s² + s, h₀₁ = −2s³ + 3s², h₁₁ = s³ − s², s = (t − t₀)/Δt.
pub fn hermite(a: Node, b: Node, t: f64) -> (Vec3, Vec3) {
    let (t0, p0, v0) = a;
    let (t1, p1, v1) = b;
    let h = t1 - t0;
    let s = (t - t0) / h;
    let (s2, s3) = (s * s, s * s * s);
    let h00 = 2.0 * s3 - 3.0 * s2 + 1.0;
    let h10 = s3 - 2.0 * s2 + s;
    let h01 = -2.0 * s3 + 3.0 * s2;
    let h11 = s3 - s2;
    let position = p0 * h00 + v0 * (h10 * h) + p1 * h01 + v1 * (h11 * h);
    let d00 = 6.0 * s2 - 6.0 * s;
    let d10 = 3.0 * s2 - 4.0 * s + 1.0;
    let d11 = 3.0 * s2 - 2.0 * s;
    let velocity = (p0 - p1) * (d00 / h) + v0 * d10 + v1 * d11;
    (position, velocity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_cubic_motion() {
        let p = |t: f64| Vec3::new(t * t * t, -2.0 * t * t, 0.5 * t - 1.0);
        let v = |t: f64| Vec3::new(3.0 * t * t, -4.0 * t, 0.5);
        let (t0, t1) = (1.0, 3.0);
        for t in [1.0, 1.3, 2.0, 2.9, 3.0] {
            let (pi, vi) = hermite((t0, p(t0), v(t0)), (t1, p(t1), v(t1)), t);
            assert!(
                (pi - p(t)).norm() < 1e-12 && (vi - v(t)).norm() < 1e-12,
                "t = {t}"
            );
        }
    }
}
