//! `https://` through the agent's own connections: a TLS server on
//! 127.0.0.1 with a certificate from a throw-away CA (rcgen) that the
//! process trusts, one from a CA it does not, and a `Secure` cookie kept
//! and sent back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use url::Url;

use crate::error::{Error, NoAnswer};
use crate::step::{Expect, Step};
use crate::transport::Transport;
use crate::{Browser, NativeApp};

/// A CA of the test's own: its certificate (PEM) and what signs with it.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn authority(name: &str) -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Authority {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// An HTTPS server on 127.0.0.1 with a certificate for `127.0.0.1` and
/// `localhost` signed by `ca`: `/login` sets a `Secure` session cookie,
/// `/echo` answers with the `Cookie` header it got. Returns its URL and a
/// count of the TLS sessions it accepted.
async fn serve(ca: &Authority) -> (Url, Arc<AtomicUsize>) {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sessions = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&sessions);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::Relaxed);
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service_fn(answer))
                    .await;
            });
        }
    });
    (
        Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap(),
        sessions,
    )
}

async fn answer(
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let response = hyper::Response::builder();
    let response = if request.uri().path() == "/login" {
        response.header(
            "set-cookie",
            "orygate_session=s3cr3t; Path=/; Secure; HttpOnly; SameSite=Lax",
        )
    } else {
        response
    };
    let cookie = request
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok(response.body(Full::new(Bytes::from(cookie))).unwrap())
}

fn get(url: &Url, path: &str) -> (Step, Url) {
    let url = url.join(path).unwrap();
    (Step::get("tls", &url).expecting(Expect::Status(200)), url)
}

#[tokio::test]
async fn https_goes_over_the_agents_connection_with_a_secure_cookie_kept_and_sent() {
    let ca = authority("orygate test CA");
    crate::tls::trust_pem(ca.pem.as_bytes()).unwrap();
    let (base, sessions) = serve(&ca).await;
    let browser = Browser::new().unwrap();

    let (step, login) = get(&base, "login");
    browser
        .send(&step, browser.client().get(login.clone()))
        .await
        .unwrap();
    // The attributes the server set, as the jar keeps them.
    let cookie = browser.cookie(&login, "orygate_session").expect("kept");
    assert_eq!(cookie.value(), "s3cr3t");
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.http_only(), Some(true));

    let (step, echo) = get(&base, "echo");
    let answer = browser
        .send(&step, browser.client().get(echo))
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "orygate_session=s3cr3t");
    // Both requests went over one TLS session, kept alive.
    assert_eq!(sessions.load(Ordering::Relaxed), 1);
    assert_eq!(browser.agent().kept_connections(), 1);
}

#[tokio::test]
async fn a_certificate_from_an_authority_nobody_trusts_is_refused_by_the_handshake() {
    let stranger = authority("a CA nobody trusts");
    let (base, sessions) = serve(&stranger).await;
    let app = NativeApp::new().unwrap();
    let (step, echo) = get(&base, "echo");
    let err = app
        .send(&step, app.client().get(echo))
        .await
        .expect_err("an untrusted certificate");
    match &err {
        Error::Unanswered { failure, at, .. } => {
            assert_eq!(*failure, NoAnswer::Tls, "{err}");
            assert_eq!(at, &format!("127.0.0.1:{}", base.port().unwrap()));
        }
        other => panic!("not a TLS failure: {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("the TLS handshake failed"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert_eq!(sessions.load(Ordering::Relaxed), 0);
}
