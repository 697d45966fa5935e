//! The load crate's error type. Messages read well after "failed to" or on
//! their own after "error:".

/// A crate-wide result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something that cannot run.
    #[error("{0}")]
    Usage(String),

    /// The target is unreachable, or is not Kratos.
    #[error("{0}")]
    Target(String),

    /// The stack, a flow or a client failed.
    #[error(transparent)]
    Harness(#[from] harness::Error),

    /// Too few users could start: the run failed before any load.
    #[error("{0}")]
    Setup(String),

    /// Goose could not set up or run the load.
    #[error("run the load: {0}")]
    Goose(String),

    /// Reading, writing or merging results.
    #[error("{0}")]
    Report(String),

    /// Ctrl-C or SIGTERM before the load started.
    #[error("interrupted during {0}; the stack was removed")]
    Interrupted(&'static str),
}

impl From<goose::GooseError> for Error {
    fn from(e: goose::GooseError) -> Self {
        Self::Goose(e.to_string())
    }
}
