//! The seam between flows and how their requests are sent.
//!
//! A flow builds a request with [`Transport::client`] and sends it through
//! [`Transport::send`] as a [`Step`]: a stable name (`kratos POST
//! /self-service/login?flow=%`) and the answer it expects ([`Expect`](crate::Expect)). The
//! transport checks the answer: a status the step does not accept is an
//! [`Error::Status`] carrying Ory's error id, the same
//! in every transport. In tests the transport is a [`crate::Browser`] or a
//! [`crate::NativeApp`]; under load it wraps a Goose user, so each step is a
//! named request that fails exactly when the test would.

use std::future::Future;
use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response};
use url::Url;

use crate::error::{Error, Result};
use crate::step::Step;

/// Sends a flow's requests.
pub trait Transport: Send + Sync {
    /// The client requests are built with: it carries the user's cookie jar
    /// (or none, for API flows) and never follows redirects by itself.
    fn client(&self) -> &Client;

    /// Sends `request` as `step` and checks the answer against what the
    /// step expects (see [`Step::check`]).
    fn send(
        &self,
        step: &Step,
        request: RequestBuilder,
    ) -> impl Future<Output = Result<Response>> + Send;

    /// The cookies the user's jar would send to `url` (none for an app,
    /// which has no jar). A browser-like flow chooses among them by their
    /// SameSite attribute ([`crate::form`]).
    fn cookies_for(&self, url: &Url) -> Vec<crate::agent::Cookie>;

    /// Notes a wait that is not a request (see [`Step::wait`]): how long it
    /// took and whether it failed. Tests log it; load runs count and time it
    /// as a step.
    fn record(
        &self,
        step: &Step,
        elapsed: Duration,
        error: Option<&Error>,
    ) -> impl Future<Output = ()> + Send {
        tracing::debug!(
            step = %step,
            ms = elapsed.as_millis(),
            failed = error.is_some(),
            "wait"
        );
        std::future::ready(())
    }
}

/// Runs `wait` as the step `step`, recording its time and outcome through
/// the transport.
pub async fn timed<T: Transport, R>(
    transport: &T,
    step: &Step,
    wait: impl Future<Output = Result<R>> + Send,
) -> Result<R> {
    let started = std::time::Instant::now();
    let result = wait.await;
    transport
        .record(step, started.elapsed(), result.as_ref().err())
        .await;
    result
}

/// `GET url` as JSON on `service`, expecting a 200; anything else is an
/// error carrying Ory's error id.
pub async fn get_json<T: Transport, R: serde::de::DeserializeOwned>(
    transport: &T,
    service: &'static str,
    url: Url,
) -> Result<R> {
    let step = Step::get(service, &url);
    let request = transport
        .client()
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    let response = transport.send(&step, request).await?;
    crate::response::json(&step, response).await
}
