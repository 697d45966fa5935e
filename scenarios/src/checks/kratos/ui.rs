//! The UI check: whether the team's self-service UI, on its own origin,
//! can work with what Kratos gives it. Its pages are where Kratos sends a
//! browser that starts a flow (the `Location` of each flow's start), not
//! what a config file says. Kratos' cookies must reach those pages: the
//! UI fetches a browser flow with the browser's CSRF cookie, and asks
//! whoami with its session cookie. And Kratos must take the UI as
//! `return_to`, which Ory's UIs pass to come back to the page a person
//! was on.

use std::fmt::Write as _;

use harness::Browser;
use url::Url;

use super::super::probe::SetCookie;
use super::super::someone;
use super::super::{Context, Evidence, Probe, Verdict};
use super::{browser_flows, cookies::session_cookie_name, is_loopback};

/// Whether `host` domain-matches `domain` (RFC 6265 5.1.3): it is the
/// domain, or a name ending with it after a dot.
fn domain_matches(host: &str, domain: &str) -> bool {
    let (host, domain) = (host.to_ascii_lowercase(), domain.to_ascii_lowercase());
    let ip = host.parse::<std::net::IpAddr>().is_ok();
    host == domain || (!ip && host.ends_with(&format!(".{domain}")))
}

/// Why a browser does not keep `cookie` that Kratos at `kratos_host` set
/// (RFC 6265 5.3 step 5 and 6): a `Domain` that does not cover the host,
/// or that is a public suffix. `None` when it keeps it.
fn dropped(cookie: &SetCookie, kratos_host: &str) -> Option<String> {
    let domain = cookie.domain.as_deref()?;
    if harness::urls::is_public_suffix(domain) {
        return Some(format!("Domain={domain} is a public suffix"));
    }
    (!domain_matches(kratos_host, domain))
        .then(|| format!("Domain={domain} does not cover Kratos' host {kratos_host}"))
}

/// The path a cookie set without `Path` takes: the directory of the path
/// that set it (RFC 6265 5.1.4).
fn default_path(set_at: &Url) -> String {
    match set_at.path().rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(at) => set_at.path()[..at].to_owned(),
    }
}

/// Why a browser does not send `cookie` (kept, set at `set_at`) to `page`
/// (RFC 6265 5.4): its host, its path, or plain http for a Secure cookie
/// (loopback counts as secure, as browsers have it). `None` when it does.
fn unsent(cookie: &SetCookie, kratos_host: &str, set_at: &Url, page: &Url) -> Option<String> {
    let host = page.host_str().unwrap_or_default();
    let reached = match &cookie.domain {
        Some(domain) => domain_matches(host, domain),
        None => host.eq_ignore_ascii_case(kratos_host),
    };
    if !reached {
        let scope = cookie.domain.as_ref().map_or_else(
            || format!("host-only for {kratos_host}"),
            |d| format!("Domain={d}"),
        );
        return Some(format!("({scope}) is not sent to {host}"));
    }
    let path = cookie.path.clone().unwrap_or_else(|| default_path(set_at));
    let on_path = page.path() == path
        || (page.path().starts_with(&path)
            && (path.ends_with('/') || page.path()[path.len()..].starts_with('/')));
    if !on_path {
        return Some(format!("(Path={path}) is not sent to {}", page.path()));
    }
    if cookie.secure && page.scheme() != "https" && !is_loopback(page) {
        return Some(format!(
            "(Secure) is not sent to the plain http page {host}"
        ));
    }
    None
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
                if let Some(to) = probe.header("location").and_then(|l| url.join(l).ok()) {
                    pages.push((flow, to));
                }
            }
            Err(e) => evidence.push(e),
        }
    }
    pages
}

/// The host browsers reach Kratos' public API at: the URL the gate used,
/// unless that is loopback (a stack the gate started from the team's
/// config), where the config's `serve.public.base_url` says it.
fn kratos_host(cx: &Context<'_>, kratos: &harness::kratos::Kratos) -> String {
    let used = kratos.public_base();
    let configured = cx
        .deployment
        .config
        .kratos
        .as_ref()
        .and_then(|c| super::super::at(c, "serve.public.base_url"))
        .and_then(serde_json::Value::as_str)
        .and_then(|u| Url::parse(u).ok());
    match configured {
        Some(url) if is_loopback(used) => url,
        _ => used.clone(),
    }
    .host_str()
    .unwrap_or_default()
    .to_owned()
}

/// What one cookie of Kratos' is to the UI.
struct Judged<'a> {
    kratos_host: &'a str,
    pages: &'a [(&'static str, Url)],
    /// What the UI cannot do without it.
    needed_for: &'a str,
}

impl Judged<'_> {
    /// Evidence when a browser drops `cookie` (set by `probe`'s request to
    /// `set_at`) or does not send it to one of the UI's pages.
    fn judge(&self, probe: &Probe, cookie: &SetCookie, set_at: &Url, out: &mut Vec<Evidence>) {
        let said = |part: String| Evidence::answer(probe, part).about(cookie.name.clone());
        if let Some(why) = dropped(cookie, self.kratos_host) {
            out.push(said(format!(
                "Set-Cookie {}: a browser drops it ({why}): the UI cannot {}",
                cookie.name, self.needed_for
            )));
            return;
        }
        let mut told = Vec::new();
        for (flow, page) in self.pages {
            let Some(why) = unsent(cookie, self.kratos_host, set_at, page) else {
                continue;
            };
            if told.contains(&why) {
                continue;
            }
            out.push(said(format!(
                "Set-Cookie {} {why}, where the {flow} UI is ({page}): the UI cannot {}",
                cookie.name, self.needed_for
            )));
            told.push(why);
        }
    }
}

/// The UI's URLs a login may ask to return to: each page without its
/// query, and its origin.
fn return_candidates(pages: &[(&'static str, Url)]) -> Vec<Url> {
    let mut candidates: Vec<Url> = Vec::new();
    for (_, page) in pages {
        let mut bare = page.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        for url in [bare, page.join("/").expect("an absolute URL")] {
            if !candidates.contains(&url) {
                candidates.push(url);
            }
        }
    }
    candidates
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
    let seen = match cookies_to_the_ui(cx, kratos, &host, &pages, &mut evidence).await {
        Ok(seen) => seen,
        Err(skipped) => return skipped,
    };
    let taken = ui_as_return_to(cx, kratos, &pages, &mut evidence).await;
    let hosts: Vec<&str> = pages.iter().filter_map(|(_, p)| p.host_str()).collect();
    let mut said = format!(
        "{} reach the UI at {}",
        if seen.is_empty() {
            "no cookie of Kratos' seen to".to_owned()
        } else {
            seen.join(" and ")
        },
        hosts.join(", ")
    );
    if !cx.deployment.admin {
        said.push_str("; the session cookie needs the admin API");
    }
    if let Some(taken) = taken {
        let _ = write!(said, "; return_to={taken} taken");
    }
    if seen.is_empty() {
        evidence.push(Evidence::config(
            "kratos",
            "Set-Cookie",
            "Kratos set no CSRF or session cookie to judge",
        ));
    }
    Verdict::from_evidence(evidence, said)
}

/// Judges the CSRF cookie (from a login flow's start) and, with the admin
/// API to make someone, the session cookie (from a login) against the
/// UI's `pages`: which of them were seen, or the check skipped.
async fn cookies_to_the_ui(
    cx: &Context<'_>,
    kratos: &harness::kratos::Kratos,
    host: &str,
    pages: &[(&'static str, Url)],
    evidence: &mut Vec<Evidence>,
) -> Result<Vec<&'static str>, Verdict> {
    let browser = Browser::new().map_err(|e| Verdict::Skipped(format!("no browser: {e}")))?;
    let mut seen = Vec::new();
    let start = kratos.public("self-service/login/browser");
    let csrf = Judged {
        kratos_host: host,
        pages,
        needed_for: "fetch the browser's flows (Kratos wants the CSRF cookie)",
    };
    match Probe::get_json(browser.agent(), "kratos", &start).await {
        Ok(probe) => {
            let cookies = probe.set_cookies().into_iter().filter_map(SetCookie::parse);
            for cookie in cookies.filter(|c| c.name.starts_with("csrf_token")) {
                csrf.judge(&probe, &cookie, &start, evidence);
                seen.push("the CSRF cookie");
            }
        }
        Err(e) => evidence.push(e),
    }
    if !cx.deployment.admin {
        return Ok(seen);
    }
    let session = Judged {
        needed_for: "tell who is signed in (whoami with the session cookie)",
        ..csrf
    };
    let login = match someone::created(&cx.app, kratos).await {
        Ok((someone, _)) => someone::browser_login(&browser, kratos, &someone).await,
        Err(e) => Err(e),
    };
    match login {
        Ok((_, post)) => {
            let name = session_cookie_name(cx);
            let set_at = kratos.public("self-service/login");
            let cookies = post.set_cookies().into_iter().filter_map(SetCookie::parse);
            for cookie in cookies.filter(|c| c.name == name) {
                session.judge(&post, &cookie, &set_at, evidence);
                seen.push("the session cookie");
            }
        }
        Err(e) => evidence.push(e),
    }
    Ok(seen)
}

/// Asks Kratos to return to each of the UI's URLs in turn: the first it
/// takes, or evidence that it took none.
async fn ui_as_return_to(
    cx: &Context<'_>,
    kratos: &harness::kratos::Kratos,
    pages: &[(&'static str, Url)],
    evidence: &mut Vec<Evidence>,
) -> Option<Url> {
    let candidates = return_candidates(pages);
    let mut refused = None;
    for candidate in &candidates {
        let mut url = kratos.public("self-service/login/browser");
        url.query_pairs_mut()
            .append_pair("return_to", candidate.as_str());
        match Probe::get_json(cx.app.agent(), "kratos", &url).await {
            Ok(probe) if probe.status == 200 => return Some(candidate.clone()),
            Ok(probe) => {
                refused.get_or_insert(probe);
            }
            Err(e) => evidence.push(e),
        }
    }
    let probe = refused?;
    let reason = probe
        .json()
        .and_then(|j| {
            j.pointer("/error/reason")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| probe.body_start());
    let (origins, pages): (Vec<&Url>, Vec<&Url>) = candidates.iter().partition(|u| u.path() == "/");
    let list = |urls: &[&Url]| {
        urls.iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    evidence.push(Evidence::answer(
        &probe,
        format!(
            "refused the UI as return_to: its origin {} and each of its pages ({}): a login \
             that asks to come back to the UI fails ({reason})",
            list(&origins),
            list(&pages)
        ),
    ));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(raw: &str) -> SetCookie {
        SetCookie::parse(raw).unwrap()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn a_host_domain_matches_its_domain_and_names_under_it_only() {
        // RFC 6265 5.1.3.
        assert!(domain_matches("app.example.com", "example.com"));
        assert!(domain_matches("example.com", "EXAMPLE.com"));
        assert!(!domain_matches("app.example.com", "auth.example.com"));
        assert!(!domain_matches("badexample.com", "example.com"));
        assert!(!domain_matches("127.0.0.1", "0.0.1"));
    }

    #[test]
    fn a_browser_drops_a_cookie_for_another_domain_or_a_public_suffix() {
        let host = "auth.example.io";
        assert!(dropped(&cookie("a=1; Domain=example.io"), host).is_none());
        assert!(dropped(&cookie("a=1"), host).is_none());
        let other = dropped(&cookie("a=1; Domain=example.com"), host).unwrap();
        assert!(
            other.contains("does not cover Kratos' host auth.example.io"),
            "{other}"
        );
        let suffix = dropped(&cookie("a=1; Domain=github.io"), "team.github.io").unwrap();
        assert!(suffix.contains("public suffix"), "{suffix}");
    }

    #[test]
    fn a_kept_cookie_reaches_a_page_by_host_path_and_scheme() {
        let set_at = url("https://auth.example.com/self-service/login");
        let page = url("https://app.example.com/login?flow=1");
        let host = "auth.example.com";
        assert!(
            unsent(
                &cookie("a=1; Domain=example.com; Path=/"),
                host,
                &set_at,
                &page
            )
            .is_none()
        );
        let host_only = unsent(&cookie("a=1; Path=/"), host, &set_at, &page).unwrap();
        assert!(
            host_only.contains("host-only for auth.example.com"),
            "{host_only}"
        );
        let path = unsent(
            &cookie("a=1; Domain=example.com; Path=/kratos"),
            host,
            &set_at,
            &page,
        );
        assert!(path.unwrap().contains("Path=/kratos"));
        // Without Path: the directory of the path that set it.
        let default = unsent(&cookie("a=1; Domain=example.com"), host, &set_at, &page);
        assert!(default.unwrap().contains("Path=/self-service"));
        let http = url("http://app.example.com/login");
        let secure = unsent(
            &cookie("a=1; Domain=example.com; Path=/; Secure"),
            host,
            &set_at,
            &http,
        );
        assert!(secure.unwrap().contains("Secure"));
        let loopback = url("http://127.0.0.1:4455/login");
        assert!(
            unsent(
                &cookie("a=1; Path=/; Secure"),
                "127.0.0.1",
                &set_at,
                &loopback
            )
            .is_none()
        );
    }
}
