//! Stands up an Ory deployment and talks to it.
//!
//! - [`OryStack`]: Kratos, Hydra and Keto in containers (host networking,
//!   127.0.0.1, free ports), ready-probed, removed on drop.
//! - [`MailSink`] and [`Mailbox`]: the SMTP server Kratos' courier delivers
//!   to, and a per-address inbox.
//! - [`Browser`] and [`NativeApp`]: a virtual user's client, with its own
//!   cookie jar or (for API flows) none, sending through the [`Transport`]
//!   seam as named [`Step`]s that say what answer they expect, on keep-alive
//!   connections of its own (an [`Agent`], in tests and under load alike).
//! - [`kratos`], [`hydra`], [`keto`]: where each service's APIs are, and
//!   serde types for the JSON in use.
//!
//! The harness knows nothing of flows: those are in the `scenarios` crate.

pub mod agent;
mod client;
mod config;
mod error;
pub mod hydra;
mod images;
pub use images::stack_containers;
pub mod keto;
pub mod kratos;
mod logs;
pub mod mail;
pub mod navigate;
mod overlay;
mod ports;
mod postgres;
mod prepare;
mod ready;
pub mod reaper;
pub mod response;
mod service;
pub mod sockets;
mod stack;
pub mod tls;
pub mod transport;
pub mod urls;
pub mod webhook;

pub use agent::{Agent, Limits};
pub use client::{Browser, Cookie, NativeApp, REQUEST_TIMEOUT, client_builder};
pub use error::{Error, NoAnswer, Result};
pub use hydra::Hydra;
pub use keto::Keto;
pub use kratos::Kratos;
pub use logs::Telemetry;
pub use mail::{Mail, MailSink, MailStats, Mailbox, Mailboxes};
pub use overlay::FilledOverlay;
pub use ports::Ports;
pub use service::{Endpoints, HYDRA_VERSION, KETO_VERSION, KRATOS_VERSION, Profile, Service};
pub use stack::{DEFAULT_READY_TIMEOUT, DOCKER_TIMEOUT, OryStack, OryStackBuilder, STACK_LABEL};
pub use transport::{Expect, Step, Transport};
pub use webhook::{Delivery, Reply, WebhookSink};

/// The root of the orygate repository: where `ory/` and `fixtures/` are.
/// `ORYGATE_ROOT` overrides it for a binary run from elsewhere.
pub fn repo_root() -> std::path::PathBuf {
    let root = std::env::var_os("ORYGATE_ROOT").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        std::path::PathBuf::from,
    );
    // Paths in messages read `/src/orygate/fixtures/...`, not `harness/..`.
    root.canonicalize().unwrap_or(root)
}
