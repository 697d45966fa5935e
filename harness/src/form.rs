//! A browser that reads pages instead of JSON: it opens a URL and follows
//! redirects hop by hop across origins (the app's, Kratos', Hydra's, a
//! client's), reads the page with `scraper`, finds its form, keeps its
//! hidden inputs (the CSRF token), fills fields by name and submits as the
//! form says. Its cookies are the user's jar's ([`Transport::cookies_for`]),
//! chosen for each request as a browser chooses them by their SameSite
//! attribute, so what it shows is what a browser's cookies make of the
//! app and Ory on their hosts.
//!
//! SameSite, as RFC 6265bis (section 5.2) and browsers have it: every
//! request here is a top-level navigation. It is same-site when the site
//! of the page that started the navigation (the page a form or link is
//! on; the first URL for one typed in) and the site of every URL of the
//! navigation so far, redirects included, are the same. A same-site
//! request carries every cookie; a cross-site one `SameSite=None` cookies,
//! and `Lax` ones (or ones without the attribute, which browsers treat as
//! `Lax`) only when it is a GET. A site is the scheme and the registrable
//! domain ([`crate::urls::site`]).

use reqwest::Method;
use reqwest::header::{ACCEPT, COOKIE, HeaderValue, LOCATION};
use scraper::{Html, Selector};
use url::Url;

use crate::error::{Error, Result};
use crate::transport::Transport;
use crate::urls::site;
use crate::{Cookie, Expect, Step};

/// The most redirects one navigation follows.
const MAX_HOPS: usize = 10;

/// A page the browser landed on.
#[derive(Debug, Clone)]
pub struct Page {
    /// Where it landed, after the redirects.
    pub url: Url,
    pub status: u16,
    pub html: String,
    /// The redirects on the way: their status and where each came from.
    pub hops: Vec<(u16, Url)>,
}

/// A page's form, its fields as the page filled them.
#[derive(Debug, Clone)]
pub struct Form {
    /// The page it is on, which starts the navigation its submit makes.
    pub page: Url,
    pub action: Url,
    pub method: Method,
    /// Every named input, in order (hidden ones included).
    pub fields: Vec<(String, String)>,
    /// The submit buttons' names and values.
    pub buttons: Vec<(String, String)>,
}

impl Page {
    /// Opens `url` as a browser does when it is typed in (asking for a
    /// page) and follows the redirects.
    pub async fn open<T: Transport>(transport: &T, url: &Url) -> Result<Self> {
        navigate(transport, url, Method::GET, url.clone(), None).await
    }

    /// Follows the link `to` on this page: a navigation this page starts,
    /// cross-site when `to` is on another site.
    pub async fn follow<T: Transport>(&self, transport: &T, to: &Url) -> Result<Self> {
        navigate(transport, &self.url, Method::GET, to.clone(), None).await
    }

    /// The text of every element `selector` matches.
    ///
    /// # Panics
    /// If `selector` is not a CSS selector.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let selector = Selector::parse(selector).expect("a CSS selector");
        Html::parse_document(&self.html)
            .select(&selector)
            .map(|e| e.text().collect::<String>().trim().to_owned())
            .collect()
    }

    /// The `href` of the first link `selector` matches.
    ///
    /// # Panics
    /// If `selector` is not a CSS selector.
    pub fn link(&self, selector: &str) -> Option<Url> {
        let selector = Selector::parse(selector).expect("a CSS selector");
        let document = Html::parse_document(&self.html);
        let href = document.select(&selector).next()?.value().attr("href")?;
        self.url.join(href).ok()
    }

    /// The page's first form; an error naming the page if it has none.
    pub fn form(&self) -> Result<Form> {
        let document = Html::parse_document(&self.html);
        let selector = |s| Selector::parse(s).expect("a static selector");
        let unexpected = |why: &str| {
            Error::unexpected(
                format!("the page {}", self.url),
                format!("{why} (HTTP {}): {}", self.status, start(&self.html)),
            )
        };
        let form = document
            .select(&selector("form"))
            .next()
            .ok_or_else(|| unexpected("no form"))?;
        let action = form.value().attr("action").unwrap_or_default();
        let action = self
            .url
            .join(action)
            .map_err(|e| unexpected(&format!("its form's action {action:?}: {e}")))?;
        let method = match form
            .value()
            .attr("method")
            .unwrap_or("GET")
            .to_ascii_uppercase()
            .as_str()
        {
            "POST" => Method::POST,
            _ => Method::GET,
        };
        let mut fields = Vec::new();
        let mut buttons = Vec::new();
        for input in form.select(&selector("input[name], button[name]")) {
            let e = input.value();
            let pair = (
                e.attr("name").unwrap_or_default().to_owned(),
                e.attr("value").unwrap_or_default().to_owned(),
            );
            if e.name() == "button" || e.attr("type") == Some("submit") {
                buttons.push(pair);
            } else {
                fields.push(pair);
            }
        }
        Ok(Form {
            page: self.url.clone(),
            action,
            method,
            fields,
            buttons,
        })
    }
}

impl Form {
    /// Sets the field `name` (it must be one of the form's).
    pub fn fill(&mut self, name: &str, value: &str) -> Result<&mut Self> {
        let Some(at) = self.fields.iter().position(|(n, _)| n == name) else {
            return Err(Error::unexpected(
                format!("the form to {}", self.action),
                format!(
                    "no field {name:?}; it has {}",
                    self.fields
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        value.clone_into(&mut self.fields[at].1);
        Ok(self)
    }

    /// Submits the form by its button `name=value` (as a click on it
    /// does), form-encoded, and follows the redirects.
    pub async fn submit<T: Transport>(&self, transport: &T, button: (&str, &str)) -> Result<Page> {
        if !self
            .buttons
            .iter()
            .any(|(n, v)| n == button.0 && v == button.1)
        {
            return Err(Error::unexpected(
                format!("the form to {}", self.action),
                format!(
                    "no button {}={}; it has {:?}",
                    button.0, button.1, self.buttons
                ),
            ));
        }
        let mut pairs = self.fields.clone();
        pairs.push((button.0.to_owned(), button.1.to_owned()));
        if self.method == Method::GET {
            let mut url = self.action.clone();
            url.query_pairs_mut().extend_pairs(&pairs);
            return navigate(transport, &self.page, Method::GET, url, None).await;
        }
        let action = self.action.clone();
        navigate(transport, &self.page, Method::POST, action, Some(pairs)).await
    }
}

/// Sends the request of a navigation a page at `from` starts, and follows
/// the redirects (as GETs, but for 307 and 308) to the page. Each request
/// is a step of `browser`, expecting a page or a redirect.
async fn navigate<T: Transport>(
    transport: &T,
    from: &Url,
    method: Method,
    url: Url,
    form: Option<Vec<(String, String)>>,
) -> Result<Page> {
    let mut hops = Vec::new();
    let (mut method, mut url, mut form) = (method, url, form);
    let initiator = site(from);
    let mut same_site = true;
    loop {
        same_site &= site(&url) == initiator;
        let mut request = transport
            .client()
            .request(method.clone(), url.clone())
            .header(ACCEPT, "text/html,application/xhtml+xml");
        if let Some(cookies) = cookie_header(&transport.cookies_for(&url), same_site, &method) {
            request = request.header(COOKIE, cookies);
        }
        if let Some(pairs) = &form {
            request = request.form(pairs);
        }
        let step = Step::new("browser", method.clone(), &url, Expect::Navigate).with_own_cookies();
        let answer = transport.send(&step, request).await?;
        let status = answer.status().as_u16();
        let location = answer
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(to) if (300..400).contains(&status) => {
                if hops.len() >= MAX_HOPS {
                    return Err(Error::unexpected(
                        format!("{method} {url}"),
                        format!("more than {MAX_HOPS} redirects"),
                    ));
                }
                let next = url.join(&to).map_err(|e| {
                    Error::unexpected(format!("{method} {url}"), format!("Location {to:?}: {e}"))
                })?;
                hops.push((status, url));
                // 307 and 308 keep the method and body; the others are GETs.
                if !matches!(status, 307 | 308) {
                    method = Method::GET;
                    form = None;
                }
                url = next;
            }
            _ => {
                let html = answer.text().await.unwrap_or_default();
                return Ok(Page {
                    url,
                    status,
                    html,
                    hops,
                });
            }
        }
    }
}

/// The `Cookie` header a browser sends with a top-level navigation of
/// `method`, same-site or not, from the cookies the jar matched; `None`
/// when none goes.
fn cookie_header(cookies: &[Cookie], same_site: bool, method: &Method) -> Option<HeaderValue> {
    use cookie::SameSite;
    let safe = matches!(*method, Method::GET | Method::HEAD);
    let sent: Vec<String> = cookies
        .iter()
        .filter(|c| match c.same_site() {
            Some(SameSite::None) => true,
            Some(SameSite::Strict) => same_site,
            Some(SameSite::Lax) | None => same_site || safe,
        })
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    if sent.is_empty() {
        return None;
    }
    HeaderValue::from_str(&sent.join("; ")).ok()
}

/// The start of a page, for an error.
fn start(html: &str) -> String {
    html.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// Cookies as a server set them for `http://auth.orygate.test/`.
    fn jar(set: &[&'static str]) -> Vec<Cookie> {
        let at = url("http://auth.orygate.test/");
        set.iter()
            .map(|s| Cookie::parse(*s, &at).unwrap().into_owned())
            .collect()
    }

    fn sent(cookies: &[Cookie], same_site: bool, method: &Method) -> Option<String> {
        cookie_header(cookies, same_site, method).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn a_site_is_the_scheme_and_the_last_two_labels() {
        use crate::urls::site;
        let app = site(&url("http://app.orygate.test:1/x"));
        assert_eq!(app, ("http".into(), "orygate.test".into()));
        assert_eq!(app, site(&url("http://auth.orygate.test:2/")));
        assert_ne!(app, site(&url("http://client.orygate-client.test/")));
        // Schemeful: the same name over https is another site.
        assert_ne!(app, site(&url("https://app.orygate.test/")));
        assert_eq!(site(&url("http://127.0.0.1:8/")).1, "127.0.0.1");
    }

    #[test]
    fn a_cross_site_navigation_carries_lax_cookies_on_get_only_and_strict_never() {
        let cookies = jar(&[
            "s=1; SameSite=Strict",
            "l=2; SameSite=Lax",
            "n=3; SameSite=None; Secure",
            "d=4",
        ]);
        assert_eq!(
            sent(&cookies, true, &Method::GET).as_deref(),
            Some("s=1; l=2; n=3; d=4")
        );
        assert_eq!(
            sent(&cookies, false, &Method::GET).as_deref(),
            Some("l=2; n=3; d=4")
        );
        assert_eq!(sent(&cookies, false, &Method::POST).as_deref(), Some("n=3"));
        assert_eq!(
            sent(&jar(&["s=1; SameSite=Strict"]), false, &Method::GET),
            None
        );
    }
}
