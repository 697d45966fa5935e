//! Stands up an Ory deployment and talks to it.
//!
//! - [`OryStack`]: Kratos, Hydra and Keto in containers (host networking,
//!   127.0.0.1, free ports), ready-probed, removed on drop.
//! - [`MailSink`] and [`Mailbox`]: the SMTP server Kratos' courier delivers
//!   to, and a per-address inbox.
//! - [`Browser`] and [`NativeApp`]: a virtual user's client, with its own
//!   cookie jar or (for API flows) none, sending through the
//!   [`Transport`](transport::Transport) seam as named [`Step`]s that say
//!   what answer they expect, on keep-alive connections of its own (an
//!   [`Agent`], in tests and under load alike).
//! - [`kratos`], [`hydra`], [`keto`]: where each service's APIs are, and
//!   serde types for the JSON in use.
//!
//! The harness knows nothing of flows: those are in the `scenarios` crate.
//!
//! # Words
//!
//! - **Step**: one named request and the answer it expects
//!   ([`Step`], [`Expect`]): `kratos POST /self-service/login?flow=%`.
//! - **Flow**: one of Ory's self-service or OAuth2 procedures as a browser
//!   or an app walks it, a few steps (`scenarios::flows::login::browser`).
//! - **Journey**: flows in a row, as a person goes through them (sign up,
//!   verify, log in, log out: `scenarios::journey`).
//! - **Transport**: what sends a step: a [`Browser`] or a [`NativeApp`]
//!   in tests, a Goose user's `GooseTransport` under load; each sends
//!   through its **agent** ([`Agent`]).
//! - **Tuning** ([`Tuning`]): how a stack runs Ory (dev, or tuned for
//!   load: data in PostgreSQL, quieter logs, a faster courier).
//! - **Load profile** (`loadtests::profiles`): what a load run's users do
//!   (`whoami`, `signup`, `keto-check`, ...).
//! - **Round**: one pass of a load tuning's measured transaction; in the
//!   open model rounds start at their intended times.
//!
//! # The life of one request
//!
//! A flow builds a request with
//! [`Transport::client`](transport::Transport::client) (reqwest: the form,
//! the JSON, the query) and hands it to
//! [`Transport::send`](transport::Transport::send) with its [`Step`]
//! (`transport.rs`). The browser
//! or app (`client.rs`), or under load the Goose transport, passes it to
//! its [`Agent`] (`agent/`): the jar adds `Cookie`, a kept connection to the
//! origin or a new one (`agent/pool.rs`, TLS from `tls.rs`) carries it, the
//! answer's head comes back within the deadline, `Set-Cookie` goes to the
//! jar, and the body is read within the deadline and the limit
//! (`agent/body.rs`); a GET whose connection closed unanswered goes out
//! once more. The step checks the status (`response.rs`: a status it does
//! not accept becomes an [`Error::Status`] with Ory's error id, or an
//! [`Error::Flow`] with its messages), and the flow reads what it needs.
//! Under load the transport also times the request and records it in the
//! step's histogram.

mod agent;
mod certs;
mod client;
mod config;
pub mod confine;
mod error;
pub mod form;
pub mod hydra;
mod images;
pub use images::stack_containers;
pub mod keto;
pub mod kratos;
mod logs;
mod mail;
pub mod navigate;
pub mod oathkeeper;
mod overlay;
pub mod poll;
mod ports;
mod postgres;
mod prepare;
mod ready;
pub mod reaper;
pub mod response;
mod service;
pub mod sockets;
mod stack;
mod step;
pub mod tls;
pub mod transport;
pub mod ui;
pub mod urls;
mod webhook;

pub use agent::{Agent, BODY_LIMIT, CONNECT_TIMEOUT, Cookie, Limits};
pub use certs::StackCertificates;
pub use client::{Browser, NativeApp, REQUEST_TIMEOUT, client_builder};
pub use config::merged_config;
pub use error::{Error, NoAnswer, Result, TooLarge};
pub use logs::Telemetry;
pub use mail::{
    DEFAULT_MAIL_TIMEOUT, KEEP_FOR, MAX_KEPT, Mail, MailSink, MailStats, Mailbox, Mailboxes,
};
pub use overlay::FilledOverlay;
pub use ports::Ports;
pub use postgres::folder as database_folder;
pub use service::{
    Endpoints, HYDRA_VERSION, KETO_VERSION, KRATOS_VERSION, OATHKEEPER_VERSION, Service, Tuning,
};
pub use stack::{
    DEFAULT_READY_TIMEOUT, DOCKER_TIMEOUT, OryStack, OryStackBuilder, Replaced, Replacement,
    STACK_LABEL,
};
pub use step::{Expect, Step};
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
