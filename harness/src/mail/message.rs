//! A message as the sink received it, and what flows read from it: the
//! six-digit code, the links.

use mail_parser::MessageParser;
use url::Url;

/// A message as it was delivered.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope recipients (RCPT TO).
    pub recipients: Vec<String>,
    pub from: String,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl Mail {
    pub(super) fn parse(recipients: Vec<String>, from: String, raw: &[u8]) -> Self {
        let parsed = MessageParser::default().parse(raw);
        Self {
            recipients,
            from,
            subject: parsed
                .as_ref()
                .and_then(|m| m.subject())
                .unwrap_or_default()
                .to_owned(),
            text: parsed
                .as_ref()
                .and_then(|m| m.body_text(0))
                .map(std::borrow::Cow::into_owned),
            html: parsed
                .as_ref()
                .and_then(|m| m.body_html(0))
                .map(std::borrow::Cow::into_owned),
        }
    }

    /// The one-time code in the message: the first run of exactly six
    /// digits in the text body (or the HTML body if there is no text).
    pub fn code(&self) -> Option<String> {
        let body = self.text.as_deref().or(self.html.as_deref())?;
        six_digit_code(body)
    }

    /// Every link in the message: the `href`s of the HTML body, or the
    /// http(s) URLs in the text body when there is no HTML.
    pub fn links(&self) -> Vec<Url> {
        if let Some(html) = &self.html {
            let doc = scraper::Html::parse_document(html);
            let anchors = scraper::Selector::parse("a[href]").expect("a static selector parses");
            let links: Vec<Url> = doc
                .select(&anchors)
                .filter_map(|a| a.value().attr("href"))
                .filter_map(|href| Url::parse(href).ok())
                .collect();
            if !links.is_empty() {
                return links;
            }
        }
        self.text
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .filter_map(|w| Url::parse(w.trim_end_matches(['.', ',', ')', '>'])).ok())
            .collect()
    }

    /// The first link whose path starts with `path`.
    pub fn link_to(&self, path: &str) -> Option<Url> {
        self.links()
            .into_iter()
            .find(|u| u.path().starts_with(path))
    }
}

pub(super) fn six_digit_code(body: &str) -> Option<String> {
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 6 {
                return Some(body[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    None
}
