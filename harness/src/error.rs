//! The harness's one error type. Messages are lowercase fragments that read
//! well after "failed to", and name what failed: the service, the step, the
//! HTTP status and Ory's own error or message ids.

use std::time::Duration;

use crate::service::Service;

/// A crate-wide result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while standing up or talking to Ory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Docker daemon did not answer.
    #[error("reach the Docker daemon: {reason}")]
    Docker { reason: String },

    /// The image a service runs from is not in the local image store.
    #[error("find image {image}: it is not present locally. {hint}")]
    ImageMissing { image: String, hint: String },

    /// A config directory or file could not be used.
    #[error("use config {path}: {reason}")]
    Config { path: String, reason: String },

    /// testcontainers could not create or start the container.
    #[error("start {service}: {source}")]
    Start {
        service: Service,
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },

    /// A container could not be removed.
    #[error("remove the {service} container: {reason}")]
    Remove { service: Service, reason: String },

    /// The service exited before it answered its readiness probe, which is
    /// what Ory does with a config it rejects.
    #[error(
        "start {service}: it exited with code {code} before it was ready; the end of its log:\n{log}"
    )]
    Exited {
        service: Service,
        code: i64,
        log: String,
    },

    /// The readiness probe did not succeed within the deadline.
    #[error(
        "start {service}: {url} was not ready within {timeout:?} (last answer: {last}); the end of its log:\n{log}"
    )]
    NotReady {
        service: Service,
        url: String,
        timeout: Duration,
        last: String,
        log: String,
    },

    /// Something else listens on a port the service was given: its own
    /// listener never came up, and answers would come from someone else.
    #[error(
        "start {service}: port {port} on 127.0.0.1 is held by another process ({holder}), not this stack's container; the end of its log:\n{log}"
    )]
    PortTaken {
        service: Service,
        port: u16,
        holder: String,
        log: String,
    },

    /// The request itself failed: connection refused, timeout, bad URL.
    /// reqwest's own message says only "error sending request"; the
    /// causes under it (connection refused, reset, timed out) follow it.
    #[error("{step}: {}", causes(.source))]
    Http {
        step: String,
        #[source]
        source: reqwest::Error,
    },

    /// A request an [`Agent`](crate::Agent) sent on its own connection got
    /// no answer: no connection, no answer in time, or the connection
    /// closed first.
    #[error("{step}: {failure} ({at}): {}", causes(.source.as_ref()))]
    Unanswered {
        step: String,
        /// `host:port`.
        at: String,
        failure: NoAnswer,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A request was answered with a status the step does not accept.
    #[error("{step}: HTTP {status}{}: {message}", id_suffix(.error_id.as_deref()))]
    Status {
        step: String,
        status: u16,
        error_id: Option<String>,
        message: String,
    },

    /// A self-service flow came back with messages instead of moving on:
    /// wrong password, unverified address, invalid code.
    #[error("{step}: flow {flow_id} was rejected: {}", format_messages(.messages))]
    Flow {
        step: String,
        flow_id: String,
        messages: Vec<(i64, String)>,
    },

    /// A response was not what the step expected (missing node, field,
    /// cookie or redirect).
    #[error("{step}: {reason}")]
    Unexpected { step: String, reason: String },

    /// A token failed validation: signature, issuer, audience, expiry,
    /// nonce or `at_hash`.
    #[error("validate the {what}: {reason}")]
    Token { what: &'static str, reason: String },

    /// No mail arrived for an address in time.
    #[error("receive mail for {address}: nothing arrived within {timeout:?}")]
    MailTimeout { address: String, timeout: Duration },

    /// A mail arrived but does not hold what the step needs.
    #[error("read mail for {address} ({subject:?}): {reason}")]
    Mail {
        address: String,
        subject: String,
        reason: String,
    },

    /// The machine could not be made ready for a stack (`scripts/prepare.sh`
    /// failed: Docker needs root to install, an image did not build).
    #[error("prepare this machine: {reason}")]
    Prepare { reason: String },

    /// The load tuning's PostgreSQL could not be found, started or used.
    #[error("{action} the load tuning's PostgreSQL: {reason}")]
    Postgres { action: String, reason: String },

    /// Local I/O: binding the SMTP sink, reading config files.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// No connection: refused or unreachable.
    Refused,
    /// No connection or no answer in time.
    TimedOut,
    /// The connection closed (or was reset) before the answer.
    Closed,
    /// The TLS handshake failed: a certificate not trusted or not for
    /// this host, no protocol in common.
    Tls,
    /// Anything else: a request that could not be written, a malformed
    /// answer.
    Failed,
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Refused => "no connection",
            Self::TimedOut => "no answer in time",
            Self::Closed => "the connection closed before the answer",
            Self::Tls => "the TLS handshake failed",
            Self::Failed => "the request failed",
        })
    }
}

impl Error {
    /// Ory's error id (for example `session_inactive`), or the first message
    /// id of a rejected flow (for example `4000010`), when there is one.
    pub fn ory_id(&self) -> Option<String> {
        match self {
            Self::Status { error_id, .. } => error_id.clone(),
            Self::Flow { messages, .. } => messages.first().map(|(id, _)| id.to_string()),
            _ => None,
        }
    }

    /// The limit an answer's body went over, when that is what failed.
    pub fn body_too_large(&self) -> Option<usize> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(large) = e.downcast_ref::<TooLarge>() {
                return Some(large.limit);
            }
            cause = e.source();
        }
        None
    }

    /// The HTTP status of a rejected request.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Http { source, .. } => source.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// The step that failed, for errors raised while talking to a service.
    pub fn step(&self) -> Option<&str> {
        match self {
            Self::Http { step, .. }
            | Self::Unanswered { step, .. }
            | Self::Status { step, .. }
            | Self::Flow { step, .. }
            | Self::Unexpected { step, .. } => Some(step),
            _ => None,
        }
    }

    /// Whether the same request may well succeed when it is tried again:
    /// no answer (refused, timed out, closed), an answer of 5xx, 429 or
    /// 408, a store that was busy with another write (Kratos' in-memory
    /// SQLite answers 400 or 500 "database table is locked", PostgreSQL
    /// "could not serialize access"), or mail that has not arrived yet. A
    /// 4xx otherwise, a rejected flow, an answer of the wrong shape, a
    /// certificate not trusted or a body over the limit is the same the
    /// next time: not transient.
    pub fn is_transient(&self) -> bool {
        let transient_status = |status: u16| status >= 500 || status == 429 || status == 408;
        match self {
            Self::Unanswered { failure, .. } => *failure != NoAnswer::Tls,
            Self::MailTimeout { .. } => true,
            Self::Status {
                status, message, ..
            } => transient_status(*status) || is_contention(message),
            Self::Http { source, .. } => {
                self.body_too_large().is_none()
                    && source
                        .status()
                        .is_none_or(|status| transient_status(status.as_u16()))
            }
            _ => false,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// An [`Error::Unexpected`] for `step`.
    pub fn unexpected(step: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Unexpected {
            step: step.into(),
            reason: reason.into(),
        }
    }
}

/// An answer's body longer than the agent reads.
#[derive(Debug)]
pub struct TooLarge {
    pub limit: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the answer's body is over the limit of {} bytes",
            self.limit
        )
    }
}

impl std::error::Error for TooLarge {}

/// Whether Ory's message says its database was busy with a concurrent
/// write, whatever the status it came with.
fn is_contention(message: &str) -> bool {
    const BUSY: [&str; 4] = [
        "database table is locked",
        "database is locked",
        "Unable to serialize access",
        "could not serialize access",
    ];
    BUSY.iter().any(|busy| message.contains(busy))
}

/// An error and the errors under it, on one line.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

fn id_suffix(id: Option<&str>) -> String {
    id.map(|id| format!(" ({id})")).unwrap_or_default()
}

fn format_messages(messages: &[(i64, String)]) -> String {
    if messages.is_empty() {
        return "no message".to_owned();
    }
    messages
        .iter()
        .map(|(id, text)| format!("[{id}] {text}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_error_names_step_status_and_ory_id() {
        let err = Error::Status {
            step: "kratos GET /sessions/whoami".into(),
            status: 401,
            error_id: Some("session_inactive".into()),
            message: "No active session was found in this request.".into(),
        };
        assert_eq!(
            err.to_string(),
            "kratos GET /sessions/whoami: HTTP 401 (session_inactive): No active session was found in this request."
        );
        assert_eq!(err.ory_id().as_deref(), Some("session_inactive"));
        assert!(!err.is_transient(), "a 401 is the same the next time");
    }

    #[test]
    fn no_answer_a_5xx_a_429_and_late_mail_are_transient_a_4xx_and_a_flow_are_not() {
        let status = |status: u16| Error::Status {
            step: "kratos POST /self-service/registration?flow=%".into(),
            status,
            error_id: None,
            message: "database table is locked".into(),
        };
        for transient in [500, 502, 503, 429, 408] {
            assert!(status(transient).is_transient(), "{transient}");
        }
        let lasting = |status: u16| Error::Status {
            step: "kratos POST /self-service/registration?flow=%".into(),
            status,
            error_id: None,
            message: "The request was malformed or contained invalid parameters".into(),
        };
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!lasting(code).is_transient(), "{code}");
        }
        // Kratos v1.3.1 on SQLite, two sign-ups at once.
        assert!(status(400).is_transient(), "a 400 for a locked table");
        let refused = Error::Unanswered {
            step: "kratos GET /health/alive".into(),
            at: "127.0.0.1:1".into(),
            failure: NoAnswer::Refused,
            source: "connection refused".into(),
        };
        assert!(refused.is_transient());
        let untrusted = Error::Unanswered {
            step: "kratos GET /health/alive".into(),
            at: "127.0.0.1:1".into(),
            failure: NoAnswer::Tls,
            source: "invalid peer certificate: UnknownIssuer".into(),
        };
        assert!(!untrusted.is_transient());
        let late = Error::MailTimeout {
            address: "a@example.org".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(late.is_transient());
        let rejected = Error::Flow {
            step: "kratos POST /self-service/login?flow=%".into(),
            flow_id: "f".into(),
            messages: vec![(4000006, "The provided credentials are invalid".into())],
        };
        assert!(!rejected.is_transient());
        assert!(!Error::unexpected("s", "no csrf_token node").is_transient());
    }

    #[test]
    fn flow_error_lists_every_message_id() {
        let err = Error::Flow {
            step: "kratos POST /self-service/login?flow=%".into(),
            flow_id: "f1".into(),
            messages: vec![(4000010, "Account not active yet.".into())],
        };
        assert!(
            err.to_string()
                .contains("[4000010] Account not active yet.")
        );
        assert_eq!(err.ory_id().as_deref(), Some("4000010"));
    }
}
