//! The UI check: whether the team's self-service UI, on its own origin,
//! can work with what Kratos gives it. Its hosts are where Kratos sends a
//! browser that starts a flow (the `Location` of each flow's start), not
//! what a config file says. Kratos' cookies must reach those hosts: the
//! UI fetches a browser flow with the browser's CSRF cookie, and asks
//! whoami with its session cookie. And Kratos must take the UI's origin as
//! `return_to`, which Ory's UIs pass to come back to the page a person
//! was on.

use harness::Browser;
use url::Url;

use super::super::probe::SetCookie;
use super::super::someone;
use super::super::{Context, Evidence, Probe, Verdict};
use super::{browser_flows, cookies::session_cookie_name};

/// Whether a browser sends a cookie set with `domain` (or host-only for
/// `kratos_host`, when `None`) to `host` (RFC 6265 5.1.3, 5.4).
fn reaches(domain: Option<&str>, kratos_host: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match domain {
        None => host == kratos_host.to_ascii_lowercase(),
        Some(domain) => {
            let domain = domain.trim_start_matches('.').to_ascii_lowercase();
            let ip = host.parse::<std::net::IpAddr>().is_ok();
            host == domain || (!ip && host.ends_with(&format!(".{domain}")))
        }
    }
}

/// The UI's pages a browser is sent to at each flow's start, by flow.
async fn ui_pages(
    cx: &Context<'_>,
    kratos: &harness::kratos::Kratos,
    evidence: &mut Vec<Evidence>,
) -> Vec<(&'static str, Url)> {
    let mut pages = Vec::new();
    for flow in browser_flows(cx.deployment.config.kratos.as_ref()) {
        let url = kratos.public(&format!("self-service/{flow}/browser"));
        match Probe::get(cx.app.agent(), "kratos", &url).await {
            Ok(probe) => {
                if let Some(to) = probe.header("location").and_then(|l| Url::parse(l).ok()) {
                    pages.push((flow, to));
                }
            }
            Err(e) => evidence.push(e),
        }
    }
    pages
}

/// The host browsers reach Kratos' public API at: the config's
/// `serve.public.base_url`, else the URL the gate used.
fn kratos_host(cx: &Context<'_>, kratos: &harness::kratos::Kratos) -> String {
    cx.deployment
        .config
        .kratos
        .as_ref()
        .and_then(|c| super::super::at(c, "serve.public.base_url"))
        .and_then(serde_json::Value::as_str)
        .and_then(|u| Url::parse(u).ok())
        .or_else(|| Some(kratos.public_base().clone()))
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Evidence for each UI page whose host `cookie` does not reach.
fn unreached(
    probe: &Probe,
    cookie: &SetCookie,
    kratos_host: &str,
    pages: &[(&'static str, Url)],
    needed_for: &str,
    evidence: &mut Vec<Evidence>,
) {
    let mut told = Vec::new();
    for (flow, page) in pages {
        let Some(host) = page.host_str() else {
            continue;
        };
        if reaches(cookie.domain.as_deref(), kratos_host, host) || told.contains(&host) {
            continue;
        }
        told.push(host);
        let scope = cookie.domain.as_ref().map_or_else(
            || format!("host-only for {kratos_host}"),
            |d| format!("Domain={d}"),
        );
        evidence.push(
            Evidence::answer(
                probe,
                format!(
                    "Set-Cookie {} ({scope}) is not sent to {host}, where the {flow} UI is \
                     ({page}): the UI cannot {needed_for}",
                    cookie.name
                ),
            )
            .about(cookie.name.clone()),
        );
    }
}

pub(super) async fn ui_reach(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    let mut evidence = Vec::new();
    let pages = ui_pages(cx, kratos, &mut evidence).await;
    if pages.is_empty() {
        evidence.push(Evidence::config(
            "kratos.yml",
            "selfservice.flows",
            "no flow's start sent the browser to a UI",
        ));
        return Verdict::Failed(evidence);
    }
    let host = kratos_host(cx, kratos);
    let browser = match Browser::new() {
        Ok(b) => b,
        Err(e) => return Verdict::Skipped(format!("no browser: {e}")),
    };

    // The CSRF cookie, from a login flow's start.
    let start = kratos.public("self-service/login/browser");
    match Probe::get_json(browser.agent(), "kratos", &start).await {
        Ok(probe) => {
            for cookie in probe.set_cookies().into_iter().filter_map(SetCookie::parse) {
                if cookie.name.starts_with("csrf_token") {
                    let needed = "fetch the browser's flows (Kratos wants the CSRF cookie)";
                    unreached(&probe, &cookie, &host, &pages, needed, &mut evidence);
                }
            }
        }
        Err(e) => evidence.push(e),
    }

    // The session cookie, from a login, with the admin API to make someone.
    let mut seen = String::new();
    if cx.deployment.admin {
        let login = match someone::created(&cx.app, kratos).await {
            Ok((someone, _)) => someone::browser_login(&browser, kratos, &someone).await,
            Err(e) => Err(e),
        };
        match login {
            Ok((_, post)) => {
                let name = session_cookie_name(cx);
                for cookie in post.set_cookies().into_iter().filter_map(SetCookie::parse) {
                    if cookie.name == name {
                        let needed = "tell who is signed in (whoami with the session cookie)";
                        unreached(&post, &cookie, &host, &pages, needed, &mut evidence);
                    }
                }
            }
            Err(e) => evidence.push(e),
        }
    } else {
        seen.push_str("; the session cookie needs the admin API");
    }

    // The UI's origins as return_to.
    let mut origins: Vec<Url> = Vec::new();
    for (_, page) in &pages {
        let origin = page.join("/").expect("an absolute URL");
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    for origin in &origins {
        let mut url = kratos.public("self-service/login/browser");
        url.query_pairs_mut()
            .append_pair("return_to", origin.as_str());
        match Probe::get_json(cx.app.agent(), "kratos", &url).await {
            Ok(probe) if probe.status == 200 => {}
            Ok(probe) => {
                let reason = probe
                    .json()
                    .and_then(|j| {
                        j.pointer("/error/reason")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| probe.body_start());
                evidence.push(Evidence::answer(
                    &probe,
                    format!(
                        "refused return_to={origin}, the UI's own origin: a login that asks to \
                         come back to the UI fails ({reason})"
                    ),
                ));
            }
            Err(e) => evidence.push(e),
        }
    }
    let hosts: Vec<&str> = origins.iter().filter_map(Url::host_str).collect();
    Verdict::from_evidence(
        evidence,
        format!(
            "Kratos' cookies reach the UI at {} and its origin is taken as return_to{seen}",
            hosts.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::reaches;

    #[test]
    fn a_cookie_reaches_its_domain_and_its_subdomains_and_host_only_its_host() {
        // RFC 6265 5.1.3: the host equals the domain, or ends with it
        // after a dot and is a name, not an address.
        assert!(reaches(
            Some("example.com"),
            "auth.example.com",
            "app.example.com"
        ));
        assert!(reaches(
            Some(".example.com"),
            "auth.example.com",
            "example.com"
        ));
        assert!(!reaches(
            Some("auth.example.com"),
            "auth.example.com",
            "app.example.com"
        ));
        assert!(!reaches(
            Some("example.com"),
            "auth.example.com",
            "badexample.com"
        ));
        assert!(!reaches(Some("0.0.1"), "127.0.0.1", "127.0.0.1"));
        assert!(reaches(None, "auth.example.com", "AUTH.example.com"));
        assert!(!reaches(None, "auth.example.com", "app.example.com"));
    }
}
