//! A check's request: sent through the same agent as every flow, and
//! kept whatever the answer (a check judges the status itself).

use harness::{Agent, Step};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use url::Url;

/// A request a check sent and the answer it got.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `METHOD URL` and the headers that matter to the check.
    pub request: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Probe {
    /// Sends `request` (built from `agent`'s client) as `method url`; the
    /// `note` says what else about it matters (`Origin: ...`). `None`
    /// when no answer came: the error is the evidence then.
    pub async fn send(
        agent: &Agent,
        service: &'static str,
        method: Method,
        url: &Url,
        note: &str,
        request: RequestBuilder,
    ) -> Result<Self, super::Evidence> {
        let described = if note.is_empty() {
            format!("{method} {url}")
        } else {
            format!("{method} {url} ({note})")
        };
        let step = Step::new(service, method, url, harness::Expect::Navigate);
        let response = agent
            .exchange(&step, request)
            .await
            .map_err(|e| super::Evidence {
                request: described.clone(),
                status: None,
                part: format!("no answer: {e}"),
                subject: None,
            })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Ok(Self {
            request: described,
            status,
            headers,
            body,
        })
    }

    /// `GET url`.
    pub async fn get(
        agent: &Agent,
        service: &'static str,
        url: &Url,
    ) -> Result<Self, super::Evidence> {
        let request = agent.client().get(url.clone());
        Self::send(agent, service, Method::GET, url, "", request).await
    }

    /// `GET url` asking for JSON, as an app's fetch does.
    pub async fn get_json(
        agent: &Agent,
        service: &'static str,
        url: &Url,
    ) -> Result<Self, super::Evidence> {
        Self::get_json_within(agent, service, url, None).await
    }

    /// As [`Probe::get_json`], answered within `deadline` when given (what
    /// is left of a poll's bound) instead of the agent's own deadline.
    pub async fn get_json_within(
        agent: &Agent,
        service: &'static str,
        url: &Url,
        deadline: Option<std::time::Duration>,
    ) -> Result<Self, super::Evidence> {
        let mut request = agent
            .client()
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(deadline) = deadline {
            request = request.timeout(deadline);
        }
        Self::send(
            agent,
            service,
            Method::GET,
            url,
            "Accept: application/json",
            request,
        )
        .await
    }

    /// The value of `header`, if there is one and it is text.
    pub fn header(&self, header: &str) -> Option<&str> {
        self.headers.get(header).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` of the answer.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The start of the body, for evidence.
    pub fn body_start(&self) -> String {
        const SHOWN: usize = 240;
        let mut end = self.body.len().min(SHOWN);
        while !self.body.is_char_boundary(end) {
            end -= 1;
        }
        let more = if end < self.body.len() { "..." } else { "" };
        format!("{}{more}", &self.body[..end])
    }
}

/// A cookie as a `Set-Cookie` header sets it: its name and attributes,
/// parsed by the `cookie` crate (as `cookie_store` re-exports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub secure: bool,
    pub http_only: bool,
    /// `Strict`, `Lax` or `None`, as sent.
    pub same_site: Option<String>,
    /// Without a leading dot.
    pub domain: Option<String>,
    /// As sent; `None` when the cookie takes the default path of the
    /// request that set it (RFC 6265 5.1.4).
    pub path: Option<String>,
    /// `Max-Age` in seconds, as sent (0 for a negative one).
    pub max_age: Option<i64>,
    /// Seconds from now to its `Expires` date, negative when it is past.
    pub expires_in: Option<i64>,
    pub raw: String,
}

impl SetCookie {
    /// Whether Ory set it (Kratos' and Hydra's `ory_*` cookies, Kratos'
    /// CSRF cookie), not a proxy in front (an affinity cookie is none of
    /// the checks' business).
    pub fn is_ory(&self) -> bool {
        self.name.starts_with("ory_") || self.name.starts_with("csrf_token")
    }

    /// Whether the browser keeps it past its own end (RFC 6265 5.3:
    /// `Max-Age` decides when given, else `Expires`); a cookie that
    /// `Max-Age=0` or a past date deletes is not.
    pub fn persistent(&self) -> bool {
        match self.max_age {
            Some(seconds) => seconds > 0,
            None => self.expires_in.is_some_and(|s| s > 0),
        }
    }

    /// Parses one `Set-Cookie` value.
    pub fn parse(raw: &str) -> Option<Self> {
        let cookie = cookie_store::RawCookie::parse(raw).ok()?;
        Some(Self {
            name: cookie.name().to_owned(),
            secure: cookie.secure().unwrap_or(false),
            http_only: cookie.http_only().unwrap_or(false),
            same_site: cookie.same_site().map(|s| s.to_string()),
            domain: cookie
                .domain()
                .map(|d| d.trim_start_matches('.').to_owned()),
            path: cookie.path().map(str::to_owned),
            max_age: cookie.max_age().map(|d| d.whole_seconds().max(0)),
            expires_in: cookie.expires_datetime().map(|at| {
                let at = std::time::SystemTime::from(at);
                let now = std::time::SystemTime::now();
                at.duration_since(now).map_or_else(
                    |past| -i64::try_from(past.duration().as_secs()).unwrap_or(i64::MAX),
                    |ahead| i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
                )
            }),
            raw: raw.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_that_deletes_is_not_persistent() {
        let persistent = |raw: &str| SetCookie::parse(raw).unwrap().persistent();
        assert!(persistent("ory_kratos_session=a; Max-Age=86400"));
        assert!(persistent(
            "ory_kratos_session=a; Expires=Fri, 01 Jan 2100 00:00:00 GMT"
        ));
        assert!(!persistent("ory_kratos_session=a"));
        assert!(!persistent("ory_kratos_session=; Max-Age=0"));
        assert!(!persistent("ory_kratos_session=; Max-Age=-1"));
        assert!(!persistent(
            "ory_kratos_session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        ));
        // Max-Age wins over Expires.
        assert!(!persistent(
            "ory_kratos_session=; Max-Age=0; Expires=Fri, 01 Jan 2100 00:00:00 GMT"
        ));
    }

    #[tokio::test]
    async fn a_deadline_given_ends_a_request_to_a_server_that_never_answers() {
        // Accepts the connection and reads, never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!(
            "http://{}/admin/courier/messages",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let app = harness::NativeApp::new().unwrap();
        let started = std::time::Instant::now();
        let deadline = std::time::Duration::from_millis(500);
        let e = Probe::get_json_within(app.agent(), "kratos", &url, Some(deadline))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            took >= deadline && took < std::time::Duration::from_secs(5),
            "{took:?}"
        );
        assert!(e.part.starts_with("no answer"), "{}", e.part);
    }

    #[test]
    fn set_cookie_attributes_are_read_as_sent() {
        let c = SetCookie::parse(
            "ory_kratos_session=abc; Path=/; Domain=.example.com; Expires=Sat, 05 Dec 2026 10:00:00 GMT; Max-Age=86400; HttpOnly; Secure; SameSite=Lax",
        )
        .unwrap();
        assert_eq!(c.name, "ory_kratos_session");
        assert!(c.secure && c.http_only);
        assert_eq!(c.same_site.as_deref(), Some("Lax"));
        assert_eq!(c.domain.as_deref(), Some("example.com"));
        let bare = SetCookie::parse("csrf_token_1=x; Path=/").unwrap();
        assert!(!bare.secure && !bare.http_only && bare.same_site.is_none());
        assert!(SetCookie::parse("no pair here").is_none());
    }
}
