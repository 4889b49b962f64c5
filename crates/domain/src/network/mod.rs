//! The store network on China's real map: divisions, coverage, gaps, the expansion planner
//! and the store locator. Pure: the division table and the store list are handed in.

pub mod coverage;
pub mod divisions;
pub mod locator;
pub mod planner;

pub use coverage::{Coverage, StoreSite, coverage, gaps};
pub use divisions::{Division, DivisionKind, DivisionLevel, Divisions};
pub use locator::{Locator, NEAREST_MAX};
pub use planner::{PlannedSite, plan};

/// Township stores the brand aims for (the article's 10,000).
pub const TOWNSHIP_TARGET_DEFAULT: i64 = 10_000;
/// The largest township-store target a coverage answer takes.
pub const TOWNSHIP_TARGET_MAX: i64 = 1_000_000;
