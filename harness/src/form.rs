//! A browser that reads pages instead of JSON: it opens a URL and follows
//! redirects hop by hop across origins (the app's, Kratos'), reads the
//! page with `scraper`, finds its form, keeps its hidden inputs (the CSRF
//! token), fills fields by name and submits as the form says. Its cookie
//! jar is the [`Browser`]'s, so what it shows is what a browser's cookies
//! make of the app and Kratos on their two hosts.

use reqwest::Method;
use reqwest::header::{ACCEPT, LOCATION};
use scraper::{Html, Selector};
use url::Url;

use crate::error::{Error, Result};
use crate::{Browser, Step};

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
    pub action: Url,
    pub method: Method,
    /// Every named input, in order (hidden ones included).
    pub fields: Vec<(String, String)>,
    /// The submit buttons' names and values.
    pub buttons: Vec<(String, String)>,
}

impl Page {
    /// Opens `url` as a browser does (asking for a page) and follows the
    /// redirects.
    pub async fn open(browser: &Browser, url: &Url) -> Result<Self> {
        navigate(browser, Method::GET, url.clone(), None).await
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
    pub async fn submit(&self, browser: &Browser, button: (&str, &str)) -> Result<Page> {
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
            return navigate(browser, Method::GET, url, None).await;
        }
        navigate(browser, Method::POST, self.action.clone(), Some(pairs)).await
    }
}

/// Sends the request and follows redirects (as GETs) to the page.
async fn navigate(
    browser: &Browser,
    method: Method,
    url: Url,
    form: Option<Vec<(String, String)>>,
) -> Result<Page> {
    let agent = browser.agent();
    let mut hops = Vec::new();
    let (mut method, mut url, mut form) = (method, url, form);
    loop {
        let mut request = agent
            .client()
            .request(method.clone(), url.clone())
            .header(ACCEPT, "text/html,application/xhtml+xml");
        if let Some(pairs) = &form {
            request = request.form(pairs);
        }
        let step = Step::new("browser", method.clone(), &url, crate::Expect::Navigate);
        let answer = agent.exchange(&step, request).await?;
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

/// The start of a page, for an error.
fn start(html: &str) -> String {
    html.chars().take(300).collect()
}
