//! A browser that reads pages instead of JSON: it opens a URL and follows
//! redirects hop by hop across origins (the app's, Kratos', Hydra's, a
//! client's), reads the page with `scraper`, finds its form, keeps its
//! hidden inputs (the CSRF token), fills fields by name and submits as the
//! form says. Its cookies are the user's jar's ([`Transport::cookies_for`]),
//! chosen for each request as a browser chooses them by their SameSite
//! attribute, so what it shows is what a browser's cookies make of the
//! app and Ory on their hosts.
//!
//! SameSite, as RFC 6265bis (section 5.2) has it: every request here is a
//! top-level navigation. It is same-site when the site of the page that
//! started the navigation (the page a form or link is on; the first URL
//! for one typed in) and the site of every URL of the navigation so far,
//! redirects included, are the same (Chrome by default looks at the last
//! hop only: a chain that leaves the site and comes back is cross-site
//! here, same-site there). A same-site request carries every cookie; a
//! cross-site one `SameSite=None` cookies, and `Lax` ones only when it is
//! a GET. A cookie without the attribute counts as `Lax`, as in Chrome
//! (Firefox and Safari send it as `None`; Chrome also lets it through a
//! cross-site POST in its first two minutes); a `None` cookie without
//! `Secure` is never sent, as browsers refuse it. A site is the scheme and
//! the registrable domain ([`crate::urls::site`]).

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
        // What a browser submits (HTML's form data set): enabled controls
        // with a name; a checkbox or radio only when checked; a select's
        // selected option (else its first); a textarea's text. Submit
        // buttons go with the one clicked only.
        let controls = "input[name], button[name], select[name], textarea[name]";
        for control in form.select(&selector(controls)) {
            let e = control.value();
            if e.attr("disabled").is_some() {
                continue;
            }
            let name = e.attr("name").unwrap_or_default().to_owned();
            let kind = e.attr("type").unwrap_or_default().to_ascii_lowercase();
            let value = match e.name() {
                "textarea" => control.text().collect::<String>(),
                "select" => {
                    let options: Vec<_> = control.select(&selector("option")).collect();
                    let chosen = options
                        .iter()
                        .find(|o| o.value().attr("selected").is_some())
                        .or_else(|| options.first());
                    chosen.map_or_else(String::new, |o| {
                        o.value().attr("value").map_or_else(
                            || o.text().collect::<String>().trim().to_owned(),
                            str::to_owned,
                        )
                    })
                }
                _ => e.attr("value").unwrap_or_default().to_owned(),
            };
            match (e.name(), kind.as_str()) {
                ("button", "" | "submit") | ("input", "submit") => buttons.push((name, value)),
                ("button", _) | ("input", "button" | "reset" | "image" | "file") => {}
                ("input", "checkbox" | "radio") if e.attr("checked").is_none() => {}
                _ => fields.push((name, value)),
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
            // The form's data replaces the action's query, as browsers do.
            let mut url = self.action.clone();
            url.set_query(None);
            url.query_pairs_mut().extend_pairs(&pairs);
            return navigate(transport, &self.page, Method::GET, url, None).await;
        }
        let action = self.action.clone();
        navigate(transport, &self.page, Method::POST, action, Some(pairs)).await
    }
}

/// Sends the request of a navigation a page at `from` starts, and follows
/// the redirects (as GETs, but for 307 and 308) to the page. Each request
/// is a step of the service `browser`, expecting a page or a redirect,
/// sent through `transport` with the cookies SameSite lets through.
async fn navigate<T: Transport>(
    transport: &T,
    from: &Url,
    method: Method,
    url: Url,
    form: Option<Vec<(String, String)>>,
) -> Result<Page> {
    let mut hops: Vec<(u16, Url)> = Vec::new();
    let (mut method, mut url, mut form) = (method, url, form);
    loop {
        let chain = hops.iter().map(|(_, u)| u).chain([&url]);
        let same_site = same_site(from, chain);
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

/// Whether a navigation that a page at `initiator` started is same-site
/// at its request to the last of `chain` (the URLs it went to, redirects
/// included, in order): every one is on the initiator's site.
fn same_site<'u>(initiator: &Url, mut chain: impl Iterator<Item = &'u Url>) -> bool {
    let home = site(initiator);
    chain.all(|url| site(url) == home)
}

/// The `Cookie` header a browser sends with a top-level navigation of
/// `method`, same-site or not, from the cookies the jar matched; `None`
/// when none goes. A cookie whose name or value cannot be sent in a header
/// is left out, not the others with it.
fn cookie_header(cookies: &[Cookie], same_site: bool, method: &Method) -> Option<HeaderValue> {
    use cookie::SameSite;
    let safe = matches!(*method, Method::GET | Method::HEAD);
    let sent: Vec<String> = cookies
        .iter()
        .filter(|c| match c.same_site() {
            Some(SameSite::None) => c.secure() == Some(true),
            Some(SameSite::Strict) => same_site,
            Some(SameSite::Lax) | None => same_site || safe,
        })
        .map(|c| format!("{}={}", c.name(), c.value()))
        .filter(|pair| HeaderValue::from_str(pair).is_ok())
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

    #[test]
    fn a_same_site_post_carries_every_cookie_and_none_without_secure_never_goes() {
        let cookies = jar(&[
            "s=1; SameSite=Strict",
            "l=2; SameSite=Lax",
            "n=3; SameSite=None",
        ]);
        assert_eq!(
            sent(&cookies, true, &Method::POST).as_deref(),
            Some("s=1; l=2")
        );
        assert_eq!(sent(&cookies, false, &Method::GET).as_deref(), Some("l=2"));
    }

    #[test]
    fn a_navigation_is_same_site_while_every_url_of_it_is_on_the_initiators_site() {
        let app = url("http://app.orygate.test/login");
        let auth = url("http://auth.orygate.test/self-service/login");
        let client = url("http://client.orygate-client.test/");
        // Typed in: the first URL is the initiator.
        assert!(same_site(&client, [&client].into_iter()));
        // A form on the app posting to Kratos, redirected back to the app.
        assert!(same_site(&app, [&auth, &app].into_iter()));
        // Started on the client's site: cross-site at Kratos and after.
        assert!(!same_site(&client, [&auth].into_iter()));
        // Leaving the site and coming back is cross-site from then on.
        assert!(!same_site(&app, [&client, &app].into_iter()));
    }

    #[test]
    fn a_form_holds_what_a_browser_submits() {
        let page = Page {
            url: url("http://app.orygate.test/settings?flow=1"),
            status: 200,
            html: r#"<form action="/go?old=1" method="get">
                <input type="hidden" name="csrf_token" value="t">
                <input name="plain" value="p">
                <input type="checkbox" name="off" value="1">
                <input type="CHECKBOX" name="on" value="2" checked>
                <input name="gone" value="x" disabled>
                <select name="pick"><option value="a">A</option><option value="b" selected>B</option></select>
                <textarea name="note">hello</textarea>
                <input type="reset" name="reset" value="r">
                <button type="button" name="menu" value="m">Menu</button>
                <button name="method" value="profile">Save</button>
                <input type="SUBMIT" name="method" value="password">
            </form>"#
                .to_owned(),
            hops: Vec::new(),
        };
        let form = page.form().unwrap();
        let pairs = |list: &[(String, String)]| {
            list.iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert_eq!(
            pairs(&form.fields),
            "csrf_token=t&plain=p&on=2&pick=b&note=hello"
        );
        assert_eq!(pairs(&form.buttons), "method=profile&method=password");
        assert_eq!(form.method, Method::GET);
        assert_eq!(form.action.as_str(), "http://app.orygate.test/go?old=1");
    }
}
