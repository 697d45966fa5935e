//! The flows' [`Transport`] for a Goose user: each step is sent from that
//! user's own client and cookie jar, timed, and recorded by orygate's
//! [`Recorder`](crate::record::Recorder) under its step name, a failure
//! exactly when the flow would fail in a test. Goose runs the users and
//! their transactions; the requests bypass its metrics, which judge a
//! request by its status alone and cost more CPU than the request.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goose::goose::{GooseUser, TransactionError};
use harness::{Agent, Error, NoAnswer, Result, Step, transport::Transport};
use reqwest::{Client, RequestBuilder, Response};

use crate::context::{Context, Counters};
use crate::record::Outcome;

/// The method shown for a failure a flow found before sending the step it
/// names.
pub const FLOW_METHOD: &str = "FLOW";

/// Borrows a Goose user's client for one transaction. A failure a flow
/// finds later (a form that came back with errors after its 303, an error
/// page) is charged to the step the flow names, through
/// [`GooseTransport::finish`].
#[derive(Debug)]
pub struct GooseTransport<'u> {
    agent: Agent,
    /// The last request of each step in this transaction, by step name
    /// (a few steps: a list is quicker than a map).
    sent: Mutex<Vec<(Arc<str>, Sent)>>,
    counters: &'u Counters,
}

/// What became of a step's request in this transaction.
#[derive(Debug, Clone, Copy)]
enum Sent {
    /// Recorded, ending at `at`.
    Recorded { success: bool, at: Instant },
    /// Sent outside the measured part: a failure found later is not
    /// counted either.
    Unmeasured,
}

impl<'u> GooseTransport<'u> {
    /// The transport of `user`'s agent (see [`Context::seat`]) for one
    /// transaction.
    pub fn new(
        user: &GooseUser,
        ctx: &'u Context,
    ) -> std::result::Result<Self, Box<TransactionError>> {
        Ok(Self {
            agent: ctx.agent(user).map_err(crate::glue::custom)?,
            sent: Mutex::new(Vec::new()),
            counters: &ctx.counters,
        })
    }

    /// Ends the transaction with the flow's result: a failure is charged to
    /// the step it names (if that step's request was recorded a success),
    /// and the transaction fails with the error's text.
    pub fn finish<T>(self, result: Result<T>) -> std::result::Result<T, Box<TransactionError>> {
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        tracing::debug!(%error, "a flow failed under load");
        let tag = tag(&error);
        let sent = self.sent.into_inner().expect("step registry lock");
        let recorder = &self.counters.recorder;
        let now = Instant::now();
        let last = |step: &str| sent.iter().find(|(s, _)| &**s == step).map(|(_, x)| x);
        match error.step().map(|step| (step, last(step))) {
            Some((step, Some(Sent::Recorded { success: true, at }))) => {
                self.counters.failed(step);
                recorder.overturn(step, *at, &tag);
            }
            // Mail waits are recorded by `record`; an error before any
            // request (a form without an action) is recorded as its step
            // with the method `FLOW`, with no time.
            Some((step, None)) if !is_mail(&error) => {
                let (service, target) = service_and_target(step);
                let name = format!("{service} {FLOW_METHOD} {target}");
                self.counters.failed(&name);
                recorder.record(
                    &name,
                    now,
                    Outcome {
                        latency: None,
                        status: None,
                        error: Some(&tag),
                    },
                );
            }
            // Recorded failed already, sent before the measured part began,
            // a mail wait, or no step named.
            _ => {}
        }
        Err(Box::new(TransactionError::Custom(error.to_string())))
    }
}

impl Transport for GooseTransport<'_> {
    fn client(&self) -> &Client {
        self.agent.client()
    }

    async fn send(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        let name = step.name();
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let began = Instant::now();
        let answered = self.agent.exchange(step, request).await;
        let ended = Instant::now();
        let (status, checked) = match answered {
            Ok(response) => (Some(response.status().as_u16()), step.check(response).await),
            Err(error) => (None, Err(error)),
        };
        let error = checked.as_ref().err().map(tag);
        if error.is_some() {
            self.counters.failed(name);
        }
        let kept = self.counters.recorder.record(
            name,
            ended,
            Outcome {
                latency: Some(ended - began),
                status,
                error: error.as_deref(),
            },
        );
        self.remember(step, kept, error.is_none(), ended);
        checked
    }

    fn cookies_for(&self, url: &url::Url) -> Vec<harness::Cookie> {
        self.agent.cookies_for(url)
    }

    async fn record(&self, step: &Step, elapsed: Duration, error: Option<&Error>) {
        let name = step.name();
        if error.is_some() {
            self.counters.failed(name);
        }
        let tag = error.map(tag);
        self.counters.recorder.record(
            name,
            Instant::now(),
            Outcome {
                latency: Some(elapsed),
                status: None,
                error: tag.as_deref(),
            },
        );
    }
}

impl GooseTransport<'_> {
    /// Notes a step's request of this transaction.
    fn remember(&self, step: &Step, recorded: bool, success: bool, at: Instant) {
        let sent = if recorded {
            Sent::Recorded { success, at }
        } else {
            Sent::Unmeasured
        };
        let mut steps = self.sent.lock().expect("step registry lock");
        match steps.iter_mut().find(|(s, _)| &**s == step.name()) {
            Some((_, last)) => *last = sent,
            None => steps.push((step.shared_name(), sent)),
        }
    }
}

fn is_mail(error: &Error) -> bool {
    matches!(error, Error::MailTimeout { .. } | Error::Mail { .. })
}

/// `kratos POST /self-service/login?flow=%` → (`kratos`,
/// `/self-service/login?flow=%`): the step without its method.
fn service_and_target(step: &str) -> (&str, &str) {
    let mut words = step.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some(service), Some(_), Some(target)) => (service, target),
        _ => ("flow", step),
    }
}

/// A short kind for Goose's error table: the status and Ory's id, the
/// message ids of a rejected flow, or what went wrong.
pub fn tag(error: &Error) -> String {
    match error {
        Error::Status {
            status, error_id, ..
        } => match error_id {
            Some(id) => format!("HTTP {status} ({id})"),
            None => format!("HTTP {status}"),
        },
        Error::Flow { messages, .. } => {
            let ids: Vec<String> = messages.iter().map(|(id, _)| id.to_string()).collect();
            format!("flow rejected ({})", ids.join(", "))
        }
        Error::Http { .. } if error.body_too_large().is_some() => "body over the limit".into(),
        Error::Http { source, .. } if source.is_timeout() => "timed out".into(),
        Error::Http { source, .. } if source.is_connect() => "connection refused".into(),
        Error::Http { .. } => "request failed".into(),
        Error::Unanswered { failure, .. } => match failure {
            NoAnswer::Refused => "connection refused".into(),
            NoAnswer::TimedOut => "timed out".into(),
            NoAnswer::Closed => "connection closed".into(),
            NoAnswer::Tls => "TLS handshake failed".into(),
            NoAnswer::Failed => "request failed".into(),
        },
        Error::MailTimeout { .. } => "no mail in time".into(),
        Error::Mail { .. } => "mail without a code".into(),
        Error::Unexpected { reason, .. } => {
            let short: String = reason.chars().take(80).collect();
            format!("unexpected: {short}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_lose_their_method_for_goose() {
        assert_eq!(
            service_and_target("kratos POST /self-service/login?flow=%"),
            ("kratos", "/self-service/login?flow=%")
        );
        assert_eq!(service_and_target("mail WAIT code"), ("mail", "code"));
    }

    #[test]
    fn tags_name_the_status_and_ory_id() {
        let e = Error::Status {
            step: "s".into(),
            status: 401,
            error_id: Some("session_inactive".into()),
            message: String::new(),
        };
        assert_eq!(tag(&e), "HTTP 401 (session_inactive)");
        let e = Error::Flow {
            step: "s".into(),
            flow_id: "f".into(),
            messages: vec![(4000010, "not verified".into())],
        };
        assert_eq!(tag(&e), "flow rejected (4000010)");
    }
}
