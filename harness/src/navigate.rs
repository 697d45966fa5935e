//! Following redirects one hop at a time, as a browser does, so that every
//! hop is a named step of its own.

use reqwest::Response;
use url::Url;

use crate::error::{Error, Result};
use crate::step::{Expect, Step};
use crate::transport::Transport;

/// One redirect answered on the way.
#[derive(Debug, Clone)]
pub struct Hop {
    pub status: u16,
    pub from: Url,
    pub to: Url,
}

/// Where following redirects ended.
#[derive(Debug)]
pub struct Landing {
    /// The redirects, in order.
    pub hops: Vec<Hop>,
    /// The last URL: either one outside the followed origin (not fetched),
    /// or the URL that answered without a redirect.
    pub url: Url,
    /// The final response, when the last URL was fetched.
    pub response: Option<Response>,
}

/// The most redirects a walk follows before it gives up.
pub const MAX_HOPS: usize = 10;

/// Follows redirects from `first`, the answer to `first_step`, while they
/// stay on `origin` (scheme, host and port); a redirect elsewhere (to the
/// UI, to a client's callback) ends the walk without being fetched. Every
/// hop is a `GET` step on the first step's service that accepts a page or a
/// redirect. A bad redirect is charged to the step that answered it.
pub async fn follow<T: Transport>(
    transport: &T,
    origin: &Url,
    first_step: &Step,
    first: Response,
) -> Result<Landing> {
    follow_across(
        transport,
        &[(origin, first_step.service())],
        first_step,
        first,
    )
    .await
}

/// [`follow`] across several origins, as a browser crosses a stack's
/// services in an OAuth2 dance (Hydra → Kratos → Hydra): a redirect to any
/// of `origins` is fetched as a step of the service that origin belongs to
/// (`hydra GET /oauth2/auth?...`); the first redirect anywhere else (a
/// login or consent app, the client's callback) ends the walk unfetched.
pub async fn follow_across<T: Transport>(
    transport: &T,
    origins: &[(&Url, &'static str)],
    first_step: &Step,
    first: Response,
) -> Result<Landing> {
    let mut hops = Vec::new();
    let mut response = first;
    let mut step = first_step.clone();
    loop {
        let from = response.url().clone();
        if !response.status().is_redirection() {
            return Ok(Landing {
                hops,
                url: from,
                response: Some(response),
            });
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::unexpected(
                    step.name(),
                    format!("HTTP {} without a Location", response.status()),
                )
            })?;
        let to = from.join(location).map_err(|e| {
            Error::unexpected(step.name(), format!("bad Location {location:?}: {e}"))
        })?;
        hops.push(Hop {
            status: response.status().as_u16(),
            from,
            to: to.clone(),
        });
        let Some(service) = origins
            .iter()
            .find(|(origin, _)| origin.origin() == to.origin())
            .map(|(_, service)| *service)
        else {
            return Ok(Landing {
                hops,
                url: to,
                response: None,
            });
        };
        if hops.len() > MAX_HOPS {
            return Err(Error::unexpected(
                step.name(),
                format!("more than {MAX_HOPS} redirects, last to {to}"),
            ));
        }
        step = Step::get(service, &to).expecting(Expect::Navigate);
        response = transport.send(&step, transport.client().get(to)).await?;
    }
}
#[cfg(test)]
mod follow_tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::Browser;

    /// A loopback server that answers every request with a redirect to
    /// the location `to(path)` gives.
    async fn redirector(to: fn(&str) -> String) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let reply = format!(
                    "HTTP/1.1 303 See Other\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    to(&path)
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        base
    }

    #[tokio::test]
    async fn a_redirect_loop_ends_with_an_error_naming_the_step() {
        let base = redirector(|_| "/again".to_owned()).await;
        let browser = Browser::new().unwrap();
        let first = browser.client().get(base.clone()).send().await.unwrap();
        let err = follow(&browser, &base, &Step::get("kratos", &base), first)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than 10 redirects"), "{err}");
        assert_eq!(err.step(), Some("kratos GET /again"));
    }

    #[tokio::test]
    async fn a_redirect_to_another_origin_ends_the_walk_unfetched() {
        let base = redirector(|path| match path {
            "/" => "/next?flow=1".to_owned(),
            _ => "http://127.0.0.1:9/ui/login?flow=1".to_owned(),
        })
        .await;
        let browser = Browser::new().unwrap();
        let first = browser.client().get(base.clone()).send().await.unwrap();
        let landing = follow(&browser, &base, &Step::get("kratos", &base), first)
            .await
            .unwrap();
        assert_eq!(landing.url.as_str(), "http://127.0.0.1:9/ui/login?flow=1");
        assert!(landing.response.is_none());
        assert_eq!(landing.hops.len(), 2);
        assert_eq!(landing.hops[0].to.path(), "/next");
    }
}
