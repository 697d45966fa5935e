//! Ory Keto: where its APIs are and the relationship calls the scenarios
//! need, as named steps through the [`Transport`].

mod models;

use reqwest::Method;
use url::Url;

use crate::error::{Error, Result};
use crate::response::{json, text};
use crate::step::{Expect, Step};
use crate::transport::{Transport, get_json};
use crate::urls::join;

pub use models::{
    Action, Page, Patch, Position, Relationship, Subject, SubjectSet, SyntaxError, Tree, TreeTuple,
    parse_relationships,
};

/// A Keto deployment, by its read and write base URLs (and its OPL
/// listener, which serves the permission model's syntax check).
#[derive(Debug, Clone)]
pub struct Keto {
    read: Url,
    write: Url,
    opl: Option<Url>,
}

#[derive(Debug, serde::Deserialize)]
struct CheckResult {
    allowed: bool,
}

/// Which relationships `GET /relation-tuples` lists or `DELETE
/// /admin/relation-tuples` removes; unset fields match anything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub object: Option<String>,
    pub relation: Option<String>,
    pub subject: Option<Subject>,
}

impl Filter {
    /// Every relationship in `namespace`.
    pub fn namespace(namespace: &str) -> Self {
        Self {
            namespace: Some(namespace.into()),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn object(mut self, object: &str) -> Self {
        self.object = Some(object.into());
        self
    }

    #[must_use]
    pub fn relation(mut self, relation: &str) -> Self {
        self.relation = Some(relation.into());
        self
    }

    #[must_use]
    pub fn subject(mut self, subject: Subject) -> Self {
        self.subject = Some(subject);
        self
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query: Vec<(&'static str, String)> = [
            ("namespace", &self.namespace),
            ("object", &self.object),
            ("relation", &self.relation),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect();
        if let Some(subject) = &self.subject {
            let whole = Relationship {
                namespace: String::new(),
                object: String::new(),
                relation: String::new(),
                subject: subject.clone(),
            };
            query.extend(whole.query().into_iter().skip(3));
        }
        query
    }
}

impl Keto {
    pub fn new(read: Url, write: Url) -> Self {
        Self {
            read,
            write,
            opl: None,
        }
    }

    /// The same deployment with its OPL listener, for [`Keto::syntax_check`].
    #[must_use]
    pub fn with_opl(mut self, opl: Url) -> Self {
        self.opl = Some(opl);
        self
    }

    /// A URL on the read API.
    pub fn read(&self, path: &str) -> Url {
        join(&self.read, path)
    }

    /// A URL on the write API.
    pub fn write(&self, path: &str) -> Url {
        join(&self.write, path)
    }

    /// `PUT /admin/relation-tuples` on the write API.
    pub async fn create<T: Transport>(&self, transport: &T, tuple: &Relationship) -> Result<()> {
        let url = self.write("admin/relation-tuples");
        let step = Step::new("keto", Method::PUT, &url, Expect::Status(201));
        transport
            .send(&step, transport.client().put(url).json(tuple))
            .await?;
        Ok(())
    }

    /// `DELETE /admin/relation-tuples` on the write API: this one
    /// relationship.
    pub async fn delete<T: Transport>(&self, transport: &T, tuple: &Relationship) -> Result<()> {
        self.delete_query(transport, &tuple.query()).await
    }

    /// `DELETE /admin/relation-tuples` on the write API: every relationship
    /// the filter matches (Keto requires its namespace).
    pub async fn delete_all<T: Transport>(&self, transport: &T, filter: &Filter) -> Result<()> {
        self.delete_query(transport, &filter.query()).await
    }

    async fn delete_query<T: Transport>(
        &self,
        transport: &T,
        query: &[(&'static str, String)],
    ) -> Result<()> {
        let url = self.write("admin/relation-tuples");
        let step = Step::new("keto", Method::DELETE, &url, Expect::Status(204));
        transport
            .send(&step, transport.client().delete(url).query(query))
            .await?;
        Ok(())
    }

    /// `PATCH /admin/relation-tuples`: inserts and deletes in one
    /// transaction.
    pub async fn patch<T: Transport>(&self, transport: &T, changes: &[Patch]) -> Result<()> {
        let url = self.write("admin/relation-tuples");
        let step = Step::new("keto", Method::PATCH, &url, Expect::Status(204));
        transport
            .send(&step, transport.client().patch(url).json(changes))
            .await?;
        Ok(())
    }

    /// Writes every relationship, in one transaction.
    pub async fn insert_all<T: Transport>(
        &self,
        transport: &T,
        tuples: &[Relationship],
    ) -> Result<()> {
        let changes: Vec<Patch> = tuples
            .iter()
            .map(|t| Patch {
                action: Action::Insert,
                relation_tuple: t.clone(),
            })
            .collect();
        self.patch(transport, &changes).await
    }

    /// `POST /relation-tuples/check/openapi` on the read API: whether the
    /// subject has the relation or permission on the object, after subject
    /// sets and permission rules. This variant always answers 200 with
    /// `allowed`.
    pub async fn check<T: Transport>(&self, transport: &T, tuple: &Relationship) -> Result<bool> {
        self.check_as(transport, tuple, None, None).await
    }

    /// [`Keto::check`] with a per-request depth limit (`max-depth`, which
    /// can only lower the server's `limit.max_read_depth`) and a tag that
    /// names the step apart (`keto POST /relation-tuples/check/openapi
    /// [inherited]`), so that load metrics keep kinds of checks apart.
    pub async fn check_as<T: Transport>(
        &self,
        transport: &T,
        tuple: &Relationship,
        max_depth: Option<u32>,
        tag: Option<&str>,
    ) -> Result<bool> {
        let mut url = self.read("relation-tuples/check/openapi");
        if let Some(depth) = max_depth {
            url.query_pairs_mut()
                .append_pair("max-depth", &depth.to_string());
        }
        let mut step = Step::new("keto", Method::POST, &url, Expect::Status(200));
        if let Some(tag) = tag {
            step = step.tagged(tag);
        }
        let request = transport.client().post(url).json(tuple);
        let result: CheckResult = json(&step, transport.send(&step, request).await?).await?;
        Ok(result.allowed)
    }

    /// `GET /relation-tuples/check` on the read API, the check that answers
    /// in its status: 200 allowed, 403 denied.
    pub async fn check_status<T: Transport>(
        &self,
        transport: &T,
        tuple: &Relationship,
    ) -> Result<bool> {
        let url = self.read("relation-tuples/check");
        let step = Step::new("keto", Method::GET, &url, Expect::OneOf(&[200, 403]));
        let request = transport.client().get(url).query(&tuple.query());
        let response = transport.send(&step, request).await?;
        let allowed = response.status().as_u16() == 200;
        let body: CheckResult = json(&step, response).await?;
        if body.allowed != allowed {
            return Err(Error::unexpected(
                step.name(),
                format!(
                    "the status says allowed={allowed}, the body {}",
                    body.allowed
                ),
            ));
        }
        Ok(allowed)
    }

    /// One page of `GET /relation-tuples` (`page_token` empty for the
    /// first).
    pub async fn list<T: Transport>(
        &self,
        transport: &T,
        filter: &Filter,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page> {
        let mut url = self.read("relation-tuples");
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in filter.query() {
                pairs.append_pair(key, &value);
            }
            pairs.append_pair("page_size", &page_size.to_string());
            if !page_token.is_empty() {
                pairs.append_pair("page_token", page_token);
            }
        }
        get_json(transport, "keto", url).await
    }

    /// Every relationship the filter matches, page by page; also the
    /// number of pages it took.
    pub async fn list_all<T: Transport>(
        &self,
        transport: &T,
        filter: &Filter,
        page_size: u32,
    ) -> Result<(Vec<Relationship>, usize)> {
        const MAX_PAGES: usize = 10_000;
        let mut all = Vec::new();
        let mut token = String::new();
        for pages in 1..=MAX_PAGES {
            let page = self.list(transport, filter, page_size, &token).await?;
            all.extend(page.relation_tuples);
            if page.next_page_token.is_empty() {
                return Ok((all, pages));
            }
            token = page.next_page_token;
        }
        Err(Error::unexpected(
            "keto GET /relation-tuples",
            format!("still more pages after {MAX_PAGES}"),
        ))
    }

    /// `GET /relation-tuples/expand`: who holds `relation` on the object,
    /// as a tree of subject sets, at most `max_depth` deep. `None` when no
    /// relationship matches (Keto answers that with a 200 whose body is a
    /// 404 document).
    pub async fn expand<T: Transport>(
        &self,
        transport: &T,
        set: &SubjectSet,
        max_depth: u32,
    ) -> Result<Option<Tree>> {
        let mut url = self.read("relation-tuples/expand");
        url.query_pairs_mut()
            .append_pair("namespace", &set.namespace)
            .append_pair("object", &set.object)
            .append_pair("relation", &set.relation)
            .append_pair("max-depth", &max_depth.to_string());
        let value: serde_json::Value = get_json(transport, "keto", url.clone()).await?;
        if value.get("type").is_none() && value.get("code").is_some() {
            return Ok(None);
        }
        serde_json::from_value(value).map(Some).map_err(|e| {
            Error::unexpected(
                Step::get("keto", &url).name(),
                format!("not an expand tree: {e}"),
            )
        })
    }

    /// `POST /opl/syntax/check` on the OPL listener: the errors Keto finds
    /// in a permission model (none for a valid one).
    pub async fn syntax_check<T: Transport>(
        &self,
        transport: &T,
        model: &str,
    ) -> Result<Vec<SyntaxError>> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            errors: Vec<SyntaxError>,
        }
        let base = self.opl.as_ref().ok_or_else(|| {
            Error::unexpected(
                "keto POST /opl/syntax/check",
                "the OPL listener's URL is unknown (Keto::with_opl)",
            )
        })?;
        let url = join(base, "opl/syntax/check");
        let step = Step::new("keto", Method::POST, &url, Expect::Status(200));
        let request = transport
            .client()
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(model.to_owned());
        let body = text(&step, transport.send(&step, request).await?).await?;
        serde_json::from_str::<Answer>(&body)
            .map(|a| a.errors)
            .map_err(|e| {
                Error::unexpected(step.name(), format!("undecodable answer ({e}): {body}"))
            })
    }
}
