//! The Ory flows and checks, written once.
//!
//! Flows are generic over [`harness::transport::Transport`] and take it beside the
//! [`User`] they act for: tests run them with a [`harness::Browser`] or a
//! [`harness::NativeApp`], the load crate with a Goose user. They hold no
//! globals, spawn nothing and never sleep; waiting happens in the mailbox
//! or a bounded poll.

pub mod checks;
pub mod clients;
pub mod derived;
pub mod flows;
pub mod forms;
pub mod journey;
pub mod migration;
pub mod permissions;
pub mod snapshots;
pub mod user;

pub use user::{Person, User};
