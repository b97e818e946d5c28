//! Online experiments between two model versions: which arm a user is in, and whether the
//! arms differ.
//!
//! An experiment serves a share of users from a candidate version and the rest from the
//! active one ("control"). Two questions need exact answers:
//!
//! - **Who is in which arm** ([`assignment`]): a stable hash of the experiment's salt and the
//!   user id, so a user stays in one arm on every instance and every request, without a
//!   lookup; a new salt per experiment reshuffles users, so one experiment's losers are not
//!   the next one's by construction.
//! - **Do the arms differ** ([`stats`]): per arm, sums over users of what each user did
//!   (answers, clicks, conversions) give rates with 95% intervals and the difference between
//!   arms with its interval and p-value. Users, not answers, are the independent units: one
//!   user's answers are correlated (the same taste, the same page), so ratio metrics such as
//!   clicks per answer use the delta method over users, and per-user outcomes (converted or
//!   not) the two-proportion z-test. The simulation tests (`tests/simulation.rs`) check the
//!   false-positive rate over many A/A experiments and the power at a documented size.
//!
//! Which answer a click belongs to is the signed answer id of `topten_edge::answer_id`, which
//! every target (the WebAssembly component too) writes.
//!
//! # Layout
//! - [`assignment`]: arms and the stable split;
//! - [`stats`]: sums, estimates, comparisons.

pub mod assignment;
pub mod stats;

pub use assignment::{assign, Arm};
pub use stats::{
    answers_needed, compare_proportions, compare_ratios, Comparison, Estimate, Proportion,
    RatioSums,
};
