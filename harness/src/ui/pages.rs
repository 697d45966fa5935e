//! The app's pages as HTML: a Kratos flow's UI nodes as a form, its
//! messages, redirects, and the page around them.

use std::fmt::Write as _;

use http_body_util::Full;
use hyper::Response;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;
use url::Url;

/// An answer of the app's.
pub(super) type Page = Response<Full<Bytes>>;

pub(super) fn title(kind: &str) -> String {
    let mut t = kind.to_owned();
    if let Some(first) = t.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    t
}

/// A flow's UI as a form: its messages, then each node (inputs, buttons,
/// links, text), each with its own messages.
pub(super) fn form(flow: &Value) -> String {
    let ui = &flow["ui"];
    let mut out = messages(&ui["messages"]);
    let _ = write!(
        out,
        "<form action=\"{}\" method=\"{}\">",
        escape(ui["action"].as_str().unwrap_or_default()),
        escape(ui["method"].as_str().unwrap_or("POST"))
    );
    for node in ui["nodes"].as_array().into_iter().flatten() {
        let a = &node["attributes"];
        let label = node
            .pointer("/meta/label/text")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match node["type"].as_str().unwrap_or_default() {
            "input" => {
                let name = escape(a["name"].as_str().unwrap_or_default());
                let kind = a["type"].as_str().unwrap_or("text");
                let value = match &a["value"] {
                    Value::String(s) => escape(s),
                    Value::Null => String::new(),
                    other => escape(&other.to_string()),
                };
                let required = if a["required"].as_bool() == Some(true) {
                    " required"
                } else {
                    ""
                };
                match kind {
                    "submit" | "button" => {
                        let _ = write!(
                            out,
                            "<button type=\"submit\" name=\"{name}\" value=\"{value}\">{}</button>",
                            escape(label)
                        );
                    }
                    "hidden" => {
                        let _ = write!(
                            out,
                            "<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"
                        );
                    }
                    _ => {
                        let _ = write!(
                            out,
                            "<label>{} <input type=\"{}\" name=\"{name}\" value=\"{value}\"{required}></label>",
                            escape(label),
                            escape(kind)
                        );
                    }
                }
            }
            "a" => {
                let _ = write!(
                    out,
                    "<a href=\"{}\">{}</a>",
                    escape(a["href"].as_str().unwrap_or_default()),
                    escape(
                        a.pointer("/title/text")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    )
                );
            }
            "text" => {
                let _ = write!(
                    out,
                    "<p>{}</p>",
                    escape(
                        a.pointer("/text/text")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    )
                );
            }
            _ => {}
        }
        out.push_str(&messages(&node["messages"]));
    }
    out.push_str("</form>");
    out
}

pub(super) fn messages(list: &Value) -> String {
    let mut out = String::new();
    for m in list.as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "<p class=\"message {}\" data-id=\"{}\">{}</p>",
            escape(m["type"].as_str().unwrap_or("info")),
            m["id"].as_i64().unwrap_or_default(),
            escape(m["text"].as_str().unwrap_or_default())
        );
    }
    out
}

pub(super) fn redirect(to: &Url) -> Page {
    Response::builder()
        .status(303)
        .header(LOCATION, to.as_str())
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

pub(super) fn html(status: u16, title: &str, body: &str) -> Page {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(page)))
        .expect("a valid response")
}

/// One field per line, readable without a stylesheet to fetch.
const STYLE: &str = "body{font-family:sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}\
label{display:block;margin:.75rem 0}input:not([type=hidden]){display:block;width:100%;\
padding:.4rem;margin-top:.25rem;box-sizing:border-box}button{margin:.75rem .5rem 0 0;\
padding:.4rem .9rem}.message{margin:.25rem 0}.error{color:#b00020}";

/// Text for HTML, in text and in attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
