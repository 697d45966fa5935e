//! A step: one named request of a flow and the answer it expects. The
//! name (`kratos POST /self-service/login?flow=%`) groups a step's
//! requests in load metrics and names it when a test fails; checking an
//! answer against it is in [`crate::response`].

use std::fmt;
use std::sync::Arc;

use reqwest::Method;
use url::Url;

/// What answer a step accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this status.
    Status(u16),
    /// Any 2xx.
    Success,
    /// Any redirect (301, 302, 303, 307, 308).
    Redirect,
    /// A page or a redirect, as a browser accepts while it navigates.
    Navigate,
    /// Any of these statuses (Keto's check answers 200 or 403).
    OneOf(&'static [u16]),
}

impl Expect {
    /// Whether `status` is an answer this step accepts.
    pub fn accepts(self, status: u16) -> bool {
        match self {
            Self::Status(expected) => status == expected,
            Self::Success => (200..300).contains(&status),
            Self::Redirect => is_redirect(status),
            Self::Navigate => (200..300).contains(&status) || is_redirect(status),
            Self::OneOf(statuses) => statuses.contains(&status),
        }
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "HTTP {status}"),
            Self::Success => f.write_str("a 2xx"),
            Self::Redirect => f.write_str("a redirect"),
            Self::Navigate => f.write_str("a 2xx or a redirect"),
            Self::OneOf(statuses) => {
                let statuses: Vec<String> = statuses.iter().map(u16::to_string).collect();
                write!(f, "HTTP {}", statuses.join(" or "))
            }
        }
    }
}

/// One named request of a flow and the answer it expects. The name is
/// `<service> <METHOD> <target>`, where the target is the path with ids and
/// query values replaced by `%`, so requests group per step in metrics.
/// The name is built once, with the step: a load run sends a step many
/// times and names it each time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    service: &'static str,
    method: Method,
    target: String,
    name: Arc<str>,
    expect: Expect,
    /// The request carries only the `Cookie` header it was built with.
    own_cookies: bool,
}

impl Step {
    /// The step for `method url` on `service`, e.g. `kratos GET
    /// /self-service/verification?flow=%&code=%` or `kratos GET
    /// /admin/identities/%`.
    pub fn new(service: &'static str, method: Method, url: &Url, expect: Expect) -> Self {
        Self::named(service, method, target(url), expect)
    }

    fn named(service: &'static str, method: Method, target: String, expect: Expect) -> Self {
        Self {
            name: format!("{service} {method} {target}").into(),
            service,
            method,
            target,
            expect,
            own_cookies: false,
        }
    }

    /// `GET url`, expecting a 200.
    pub fn get(service: &'static str, url: &Url) -> Self {
        Self::new(service, Method::GET, url, Expect::Status(200))
    }

    /// Something a flow waits on that is not an HTTP request to Ory, e.g.
    /// `mail WAIT code`: named like a step so that it is timed and counted
    /// beside them.
    pub fn wait(service: &'static str, what: &str) -> Self {
        let wait = Method::from_bytes(b"WAIT").expect("WAIT is a valid token");
        Self::named(service, wait, what.to_owned(), Expect::Success)
    }

    /// The same step expecting another answer.
    #[must_use]
    pub fn expecting(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }

    /// The same step, its request carrying only the `Cookie` header it was
    /// built with, none if it has none, instead of the jar's: the caller
    /// chose which of the jar's to send, as a browser's SameSite rules do
    /// ([`crate::form`]). The jar still keeps what the answer sets.
    #[must_use]
    pub fn with_own_cookies(mut self) -> Self {
        self.own_cookies = true;
        self
    }

    /// Whether the request carries only its own cookies.
    pub(crate) fn own_cookies(&self) -> bool {
        self.own_cookies
    }

    /// The same step named apart by a tag (`keto POST
    /// /relation-tuples/check/openapi [inherited]`), for requests to one
    /// endpoint that measure different things.
    #[must_use]
    pub fn tagged(self, tag: &str) -> Self {
        let target = format!("{} [{tag}]", self.target);
        let name = format!("{} {} {target}", self.service, self.method).into();
        Self {
            target,
            name,
            ..self
        }
    }

    /// `kratos`, `hydra`, `keto`, `mail`.
    pub fn service(&self) -> &'static str {
        self.service
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path and query keys with `%` for ids and values.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn expect(&self) -> Expect {
        self.expect
    }

    /// The full name, `<service> <METHOD> <target>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name, shared: a clone costs no copy.
    pub fn shared_name(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    /// The name without the method, `<service> <target>`, for tools that
    /// show the method on their own (Goose prints `POST kratos /...`).
    pub fn label(&self) -> String {
        format!("{} {}", self.service, self.target)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The path with id segments as `%`, then the query keys with `%` values.
fn target(url: &Url) -> String {
    let path: Vec<&str> = url
        .path()
        .split('/')
        .map(|segment| if looks_like_id(segment) { "%" } else { segment })
        .collect();
    let mut target = path.join("/");
    let keys: Vec<String> = url.query_pairs().map(|(k, _)| format!("{k}=%")).collect();
    if !keys.is_empty() {
        target.push('?');
        target.push_str(&keys.join("&"));
    }
    target
}

/// A path segment that is an id rather than a route: a UUID, or a long
/// token with digits in it.
fn looks_like_id(segment: &str) -> bool {
    segment.len() >= 16 && segment.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_hide_ids_and_query_values() {
        let url = Url::parse("http://127.0.0.1:1/self-service/verification?flow=abc&code=123456")
            .unwrap();
        let step = Step::get("kratos", &url);
        assert_eq!(
            step.name(),
            "kratos GET /self-service/verification?flow=%&code=%"
        );
        assert_eq!(
            step.label(),
            "kratos /self-service/verification?flow=%&code=%"
        );
        let url =
            Url::parse("http://127.0.0.1:1/admin/identities/3f1c7a2e-9b7d-4e0a-8c55-0d4f1e2a7b6c")
                .unwrap();
        assert_eq!(
            Step::new("kratos", Method::DELETE, &url, Expect::Status(204)).name(),
            "kratos DELETE /admin/identities/%"
        );
        assert_eq!(Step::wait("mail", "code").name(), "mail WAIT code");
    }

    #[test]
    fn expectations_accept_only_their_statuses() {
        assert!(Expect::Status(401).accepts(401));
        assert!(!Expect::Status(401).accepts(200));
        assert!(Expect::Redirect.accepts(303) && Expect::Redirect.accepts(307));
        assert!(!Expect::Redirect.accepts(200) && !Expect::Redirect.accepts(304));
        assert!(Expect::Success.accepts(204) && !Expect::Success.accepts(303));
        assert!(Expect::Navigate.accepts(200) && Expect::Navigate.accepts(302));
        assert!(!Expect::Navigate.accepts(404));
        assert!(Expect::OneOf(&[200, 403]).accepts(403));
        assert!(!Expect::OneOf(&[200, 403]).accepts(404));
        assert_eq!(Expect::OneOf(&[200, 403]).to_string(), "HTTP 200 or 403");
    }
}
