//! Reading Ory's answers: JSON bodies, and Ory's error documents turned
//! into [`Error::Status`] with the error id (or [`Error::Flow`] with the
//! message ids of a rejected self-service flow).

use reqwest::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::step::Step;

/// Ory's generic error body (`{"error": {"id": .., "message": ..}}`) and
/// the OAuth2 one (`{"error": "invalid_client", "error_description": ..}`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OryError {
    Generic {
        error: GenericError,
    },
    OAuth2 {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
struct GenericError {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// The error for a status a step does not accept: an [`Error::Flow`] when
/// the body is a self-service flow with error messages (Kratos answers a
/// rejected API flow with 400 and the flow), otherwise an [`Error::Status`]
/// with Ory's error id and message when the body is one of Ory's error
/// documents.
pub fn status_error(step: &str, status: u16, body: &str) -> Error {
    if let Ok(flow) = serde_json::from_str::<crate::kratos::models::Flow>(body) {
        let messages = flow.errors();
        if !messages.is_empty() {
            return Error::Flow {
                step: step.to_owned(),
                flow_id: flow.id,
                messages,
            };
        }
    }
    let (_, error_id, message) = read_error(body);
    Error::Status {
        step: step.to_owned(),
        status,
        error_id,
        message,
    }
}

/// Builds [`Error::Status`] from an error document Kratos recorded (as its
/// error UI shows it): the status is the one in the document, `fallback`
/// when it has none.
pub fn recorded_error(step: &str, fallback: u16, body: &str) -> Error {
    let (code, error_id, message) = read_error(body);
    Error::Status {
        step: step.to_owned(),
        status: code.unwrap_or(fallback),
        error_id,
        message,
    }
}

/// The status code, error id and message an error body carries: Ory's
/// generic document, the OAuth2 one, or (neither) the start of the body.
fn read_error(body: &str) -> (Option<u16>, Option<String>, String) {
    match serde_json::from_str::<OryError>(body) {
        Ok(OryError::Generic { error }) => {
            let message = [error.message, error.reason]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            (error.code, error.id, message)
        }
        Ok(OryError::OAuth2 {
            error,
            error_description,
        }) => (None, Some(error), error_description.unwrap_or_default()),
        Err(_) => (None, None, snippet(body)),
    }
}

/// Decodes the JSON body of an answer the step accepted.
pub async fn json<T: DeserializeOwned>(step: &Step, response: Response) -> Result<T> {
    let body = response.text().await.map_err(|e| Error::Http {
        step: step.name().to_owned(),
        source: e,
    })?;
    serde_json::from_str(&body).map_err(|e| {
        Error::unexpected(
            step.name(),
            format!("undecodable body ({e}): {}", snippet(&body)),
        )
    })
}

/// The body of an answer as text, for errors and messages.
pub async fn text(step: &Step, response: Response) -> Result<String> {
    response.text().await.map_err(|e| Error::Http {
        step: step.name().to_owned(),
        source: e,
    })
}

fn snippet(body: &str) -> String {
    const MAX: usize = 300;
    let body = body.trim();
    match body.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

impl Step {
    /// Checks `response` against what the step expects: the response when
    /// its status is accepted, otherwise an [`Error::Status`] with Ory's
    /// error id and message read from the body (or an [`Error::Flow`] when
    /// the body is a flow that was rejected).
    pub async fn check(&self, response: Response) -> Result<Response> {
        let status = response.status().as_u16();
        if self.expect().accepts(status) {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(status_error(self.name(), status, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kratos_and_oauth2_errors() {
        let e = status_error(
            "s",
            403,
            r#"{"error":{"id":"security_csrf_violation","code":403,"message":"the request was rejected","reason":"csrf token missing"}}"#,
        );
        assert_eq!(e.ory_id().as_deref(), Some("security_csrf_violation"));
        assert!(
            e.to_string()
                .contains("the request was rejected: csrf token missing")
        );

        let e = status_error(
            "s",
            401,
            r#"{"error":"invalid_client","error_description":"bad secret"}"#,
        );
        assert_eq!(e.ory_id().as_deref(), Some("invalid_client"));

        let recorded = r#"{"id":"e1","error":{"code":403,"id":"security_csrf_violation","message":"rejected"}}"#;
        assert_eq!(recorded_error("s", 303, recorded).status(), Some(403));
        assert_eq!(status_error("s", 303, recorded).status(), Some(303));
        assert_eq!(
            recorded_error("s", 303, r#"{"error":{"message":"m"}}"#).status(),
            Some(303)
        );

        let rejected = r#"{"id":"f1","type":"api","expires_at":"","issued_at":"","request_url":"","ui":{"action":"","method":"POST","nodes":[],"messages":[{"id":4000006,"type":"error","text":"The provided credentials are invalid."}]}}"#;
        let e = status_error("s", 400, rejected);
        assert!(matches!(e, Error::Flow { .. }), "{e}");
        assert_eq!(e.ory_id().as_deref(), Some("4000006"));

        let e = status_error("s", 502, "<html>bad gateway</html>");
        assert_eq!(e.ory_id(), None);
        assert!(e.to_string().contains("HTTP 502: <html>bad gateway</html>"));
    }
}
