//! The flows' [`Transport`] over a Goose user: each step is a named Goose
//! request, sent from that user's own client and cookie jar, and counted a
//! failure exactly when the flow would fail in a test.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use goose::goose::{GooseRequest, GooseUser, TransactionError};
use goose::metrics::GooseRequestMetric;
use harness::{Error, Expect, Result, Step, Transport};
use reqwest::{Client, RequestBuilder, Response};

use crate::context::Counters;

/// The label Goose shows before a wait's name, as it shows `GET` before a
/// request's.
pub const WAIT_METHOD: &str = "WAIT";

/// The label of a failure a flow found before sending the step it names.
pub const FLOW_METHOD: &str = "FLOW";

/// Borrows a Goose user for one transaction. Goose judges a request by its
/// status alone (any non-2xx fails unless one expected status is named);
/// this transport judges it by the step's [`Expect`] instead and corrects
/// Goose's verdict both ways. A failure a flow finds later (a form that
/// came back with errors after its 303, an error page) is charged to the
/// step the flow names, through [`GooseTransport::finish`].
#[derive(Debug)]
pub struct GooseTransport<'u> {
    user: tokio::sync::Mutex<&'u mut GooseUser>,
    client: Client,
    /// The last request of each step in this transaction, by step name.
    sent: Mutex<HashMap<String, GooseRequestMetric>>,
    counters: &'u Counters,
}

impl<'u> GooseTransport<'u> {
    pub fn new(user: &'u mut GooseUser, counters: &'u Counters) -> Self {
        Self {
            client: user.client.clone(),
            user: tokio::sync::Mutex::new(user),
            sent: Mutex::new(HashMap::new()),
            counters,
        }
    }

    /// Ends the transaction with the flow's result: a failure is charged to
    /// the step it names (if Goose counted that step's request a success),
    /// and the transaction fails with the error's text.
    pub async fn finish<T>(
        self,
        result: Result<T>,
    ) -> std::result::Result<T, Box<TransactionError>> {
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        tracing::debug!(%error, "a flow failed under load");
        let tag = tag(&error);
        let mut sent = self.sent.into_inner().expect("step registry lock");
        let user = self.user.into_inner();
        match error
            .step()
            .and_then(|step| sent.get_mut(step).map(|m| (step, m)))
        {
            Some((step, metric)) if metric.success => {
                self.counters.failed(step);
                // Goose returns the failure it records; the transaction
                // fails below with the flow's own message.
                let _ = user.set_failure(&tag, metric, None, None);
            }
            // Goose counted it failed already.
            Some(_) => {}
            // Mail waits are recorded by `record`; an error before any
            // request (a form without an action) is recorded as its step
            // with the method `FLOW`, so that no time of zero is mixed into
            // a real request's histogram.
            None => {
                if let Some(step) = error.step().filter(|_| !is_mail(&error)) {
                    let (service, target) = service_and_target(step);
                    self.counters
                        .failed(&format!("{service} {FLOW_METHOD} {target}"));
                    let _ = user
                        .record_custom_request_duration(
                            FLOW_METHOD,
                            &format!("{service} {target}"),
                            Duration::ZERO,
                            false,
                            None,
                            Some(&tag),
                        )
                        .await;
                }
            }
        }
        Err(Box::new(TransactionError::Custom(error.to_string())))
    }
}

impl Transport for GooseTransport<'_> {
    fn client(&self) -> &Client {
        &self.client
    }

    async fn send(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        let label = step.label();
        let mut goose = GooseRequest::builder()
            .name(label.as_str())
            .set_request_builder(request);
        goose = match step.expect() {
            Expect::Status(status) => goose.expect_status_code(status),
            // Kratos redirects browsers with 303 See Other; another redirect
            // is accepted below.
            Expect::Redirect => goose.expect_status_code(303),
            Expect::Success | Expect::Navigate | Expect::OneOf(_) => goose,
        };
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut user = self.user.lock().await;
        let answered = user
            .request(goose.build())
            .await
            .map_err(|e| Error::unexpected(step.name(), format!("goose could not send it: {e}")))?;
        let mut metric = answered.request;
        let response = match answered.response {
            Ok(response) => response,
            Err(source) => {
                self.counters.failed(&step.name());
                self.remember(step, metric);
                return Err(Error::Http {
                    step: step.name(),
                    source,
                });
            }
        };
        let accepted = step.expect().accepts(response.status().as_u16());
        if accepted && !metric.success {
            // Goose judged the status alone; its error text would be
            // recorded again with the correction, and its error table
            // keeps the first verdict: the summary takes it out.
            self.counters.overturn(&metric.name, &metric.error);
            metric.error.clear();
            let _ = user.set_success(&mut metric);
        }
        let checked = step.check(response).await;
        if let Err(error) = &checked {
            self.counters.failed(&step.name());
            if metric.success {
                let _ = user.set_failure(&tag(error), &mut metric, None, None);
            }
        }
        drop(user);
        self.remember(step, metric);
        checked
    }

    async fn record(&self, step: &Step, elapsed: Duration, error: Option<&Error>) {
        if error.is_some() {
            self.counters.failed(&step.name());
        }
        let tag = error.map(tag);
        let _ = self
            .user
            .lock()
            .await
            .record_custom_request_duration(
                WAIT_METHOD,
                &step.label(),
                elapsed,
                error.is_none(),
                None,
                tag.as_deref(),
            )
            .await;
    }
}

impl GooseTransport<'_> {
    fn remember(&self, step: &Step, metric: GooseRequestMetric) {
        self.sent
            .lock()
            .expect("step registry lock")
            .insert(step.name(), metric);
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
        Error::Http { source, .. } if source.is_timeout() => "timed out".into(),
        Error::Http { source, .. } if source.is_connect() => "connection refused".into(),
        Error::Http { .. } => "request failed".into(),
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
