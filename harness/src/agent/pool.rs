//! An agent's connections: opened (plain or TLS), kept alive for the next
//! request to the same origin, dropped when closed or idle too long.

use std::time::Instant;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use url::Url;

use super::{
    Agent, BoxError, CONNECT_TIMEOUT, Connection, IDLE_TIMEOUT, MAX_IDLE, failure, within,
};
use crate::error::NoAnswer;

impl Agent {
    /// A ready connection to `origin`: a kept one (true) or a new one.
    pub(super) async fn connection(
        &self,
        origin: &str,
        url: &Url,
        deadline: Instant,
    ) -> Result<(Connection, bool), (NoAnswer, BoxError)> {
        let kept = {
            let mut idle = self.inner.idle.lock().expect("connections lock");
            idle.retain(Connection::usable);
            // A connection still reading its last answer's body (a flow
            // that holds a response while it sends the next request) is
            // passed over, as a browser opens another.
            let ready = idle
                .iter()
                .position(|c| &*c.origin == origin && c.sender.is_ready());
            ready.map(|i| idle.swap_remove(i))
        };
        if let Some(connection) = kept {
            return Ok((connection, true));
        }
        let began = Instant::now();
        let until = deadline.min(began + CONNECT_TIMEOUT);
        match within(until, Box::pin(self.open(origin, url))).await {
            Some(opened) => opened.map(|c| (c, false)),
            None => Err((
                NoAnswer::TimedOut,
                format!(
                    "no connection within {} ms",
                    until.saturating_duration_since(began).as_millis()
                )
                .into(),
            )),
        }
    }

    async fn open(&self, origin: &str, url: &Url) -> Result<Connection, (NoAnswer, BoxError)> {
        let refused = |e: std::io::Error| (NoAnswer::Refused, BoxError::from(e));
        let port = url.port_or_known_default().unwrap_or(80);
        let host = url.host().ok_or_else(|| {
            (
                NoAnswer::Failed,
                BoxError::from(format!("{url} has no host")),
            )
        })?;
        let stream = match &host {
            url::Host::Ipv4(ip) => tokio::net::TcpStream::connect((*ip, port)).await,
            url::Host::Ipv6(ip) => tokio::net::TcpStream::connect((*ip, port)).await,
            // The names a stack's self-service UI, Kratos, Hydra and a
            // client go by ([`crate::ui`]) are this machine; other names,
            // `.test` ones a team's resolver answers included, are looked
            // up as usual.
            url::Host::Domain(name) if crate::ui::is_harness_name(name) => {
                tokio::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port)).await
            }
            url::Host::Domain(name) => tokio::net::TcpStream::connect((*name, port)).await,
        }
        .map_err(refused)?;
        stream.set_nodelay(true).map_err(refused)?;
        let sender = match url.scheme() {
            "http" => handshake(stream, origin).await?,
            "https" => {
                let name = match host {
                    url::Host::Ipv4(ip) => ServerName::IpAddress(std::net::IpAddr::V4(ip).into()),
                    url::Host::Ipv6(ip) => ServerName::IpAddress(std::net::IpAddr::V6(ip).into()),
                    url::Host::Domain(name) => ServerName::try_from(name.to_owned())
                        .map_err(|e| (NoAnswer::Failed, BoxError::from(e)))?,
                };
                // Built at the first https connection: an agent that only
                // speaks http never needs the system's certificates.
                let config = crate::tls::config()
                    .map_err(|e| (NoAnswer::Tls, BoxError::from(e.to_string())))?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| (NoAnswer::Tls, BoxError::from(e)))?;
                handshake(tls, origin).await?
            }
            other => {
                return Err((
                    NoAnswer::Failed,
                    format!("{url}: orygate speaks http and https, not {other}").into(),
                ));
            }
        };
        Ok(Connection {
            origin: origin.into(),
            sender,
            answered: Instant::now(),
        })
    }

    /// Keeps `connection` for the next request; it is ready again once its
    /// answer's body is read.
    pub(super) fn keep(&self, mut connection: Connection) {
        connection.answered = Instant::now();
        let mut idle = self.inner.idle.lock().expect("connections lock");
        idle.retain(Connection::usable);
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }

    /// How many connections the agent keeps open for its next requests.
    pub fn kept_connections(&self) -> usize {
        let idle = self.inner.idle.lock().expect("connections lock");
        idle.iter().filter(|c| c.usable()).count()
    }
}

/// HTTP/1.1 over `io` (plain or TLS), its connection driven by a task of
/// its own until it closes.
async fn handshake<T>(
    io: T,
    origin: &str,
) -> Result<SendRequest<reqwest::Body>, (NoAnswer, BoxError)>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| (failure(&e), BoxError::from(e));
    let (mut sender, connection) = http1::handshake(TokioIo::new(io)).await.map_err(failed)?;
    let at = origin.to_owned();
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(origin = at, %error, "connection ended");
        }
    });
    sender.ready().await.map_err(failed)?;
    Ok(sender)
}

impl Connection {
    /// Open, and not idle so long that the server may be closing it.
    fn usable(&self) -> bool {
        !self.sender.is_closed() && self.answered.elapsed() < IDLE_TIMEOUT
    }
}
