//! [`OryStack`]: a set of Ory services in containers, owned by one value.
//!
//! Every container runs with host networking and listens on 127.0.0.1 at
//! ports picked here. Dropping the stack removes every container it started,
//! also when a test panics.

mod builder;
mod containers;
mod files;
mod oathkeeper;
mod replace;
mod running;
mod sqlite;
mod template;
mod ui;

pub use builder::OryStackBuilder;
pub use replace::{Replaced, Replacement};
pub use running::OryStack;

use std::time::Duration;

/// Label put on every container a stack starts; its value is the stack id.
pub const STACK_LABEL: &str = "dev.orygate.stack";

/// The longest the harness waits for the image check and for a container
/// to be created and started.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a service may take to answer its readiness probe by default.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
