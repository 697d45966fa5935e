//! The Ory flows and checks, written once.
//!
//! Flows are generic over [`harness::Transport`]: tests run them with a
//! [`harness::Browser`], the load crate with a Goose user. They hold no
//! globals, spawn nothing and never sleep; waiting happens in the mailbox
//! or a bounded poll.

pub mod flows;
pub mod journey;
pub mod user;

pub use user::{Person, VirtualUser};
