//! What topten does with live events, on top of the store roles of `topten_store`: the
//! feedback logic, kept apart from persistence so each can be read alone.
//!
//! An event arrives at `POST /api/events`: [`events`] validates the batch, [`attribution`]
//! decides which answer each positive event responds to, the store logs it, and [`realtime`]
//! folds the user's fresh interactions into the active version and writes their list back.
//! Reads of the log drive [`repeats`] (items shown too often without a response sink),
//! [`trending`] and the [`online_report`]. A version written by [`publish`], or switched to by
//! its `*_caught_up` calls, is brought up to date with the events the model did not see before
//! it serves.
//!
//! # Layout
//! - [`events`]: events as the API receives them, validation, conversion to training input.
//! - [`attribution`]: which answer a positive event responds to.
//! - [`repeats`]: the "fewer repeats" rule.
//! - [`trending`]: items by recent, time-decayed interactions.
//! - [`realtime`]: folding a user's fresh events into the active version, writing lists back.
//! - [`item_fold_in`]: an item's factor from its first live events (new and little-known items).
//! - [`publish`]: a model as a new version; activation, rollback and experiments, caught up.
//! - [`online_report`]: hourly figures and the experiment report, summed from events.
//! - [`retention`]: how long data is kept, which events serving versions still need, and the
//!   pass that deletes the rest.
//! - [`forget`]: forgetting a user (tombstones), and merging a visitor into their account.
#![deny(missing_docs)]

pub mod attribution;
pub mod events;
pub mod forget;
pub mod item_fold_in;
pub mod online_report;
pub mod publish;
pub mod realtime;
pub mod repeats;
pub mod retention;
pub mod trending;
