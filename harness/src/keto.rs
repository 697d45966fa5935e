//! Ory Keto: where its APIs are and the relationship calls the scenarios
//! need.

use serde::{Deserialize, Serialize};
use url::Url;

use reqwest::Method;

use crate::error::Result;
use crate::response::json;
use crate::transport::{Expect, Step, Transport};
use crate::urls::join;

/// A Keto deployment, by its read and write base URLs.
#[derive(Debug, Clone)]
pub struct Keto {
    read: Url,
    write: Url,
}

/// A relationship: `namespace:object#relation@subject`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Relationship {
    pub namespace: String,
    pub object: String,
    pub relation: String,
    pub subject_id: String,
}

impl Relationship {
    pub fn new(namespace: &str, object: &str, relation: &str, subject_id: &str) -> Self {
        Self {
            namespace: namespace.into(),
            object: object.into(),
            relation: relation.into(),
            subject_id: subject_id.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct CheckResult {
    allowed: bool,
}

impl Keto {
    pub fn new(read: Url, write: Url) -> Self {
        Self { read, write }
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

    /// `DELETE /admin/relation-tuples` on the write API.
    pub async fn delete<T: Transport>(&self, transport: &T, tuple: &Relationship) -> Result<()> {
        let url = self.write("admin/relation-tuples");
        let step = Step::new("keto", Method::DELETE, &url, Expect::Status(204));
        transport
            .send(&step, transport.client().delete(url).query(tuple))
            .await?;
        Ok(())
    }

    /// `POST /relation-tuples/check/openapi` on the read API: whether the
    /// subject has the relation or permission on the object (after
    /// subject sets and permission rules are applied).
    pub async fn check<T: Transport>(&self, transport: &T, tuple: &Relationship) -> Result<bool> {
        let url = self.read("relation-tuples/check/openapi");
        let step = Step::new("keto", Method::POST, &url, Expect::Status(200));
        let request = transport.client().post(url).json(tuple);
        let result: CheckResult = json(&step, transport.send(&step, request).await?).await?;
        Ok(result.allowed)
    }
}
