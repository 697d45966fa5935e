//! Ory Keto: where its APIs are and the relationship calls the scenarios
//! need.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Result;
use crate::kratos::join;
use crate::response::{expect_json, expect_status};
use crate::transport::Transport;

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
        let step = "keto PUT /admin/relation-tuples";
        let request = transport
            .client()
            .put(self.write("admin/relation-tuples"))
            .json(tuple);
        expect_status(step, transport.send(step, request).await?, &[201]).await?;
        Ok(())
    }

    /// `DELETE /admin/relation-tuples` on the write API.
    pub async fn delete<T: Transport>(&self, transport: &T, tuple: &Relationship) -> Result<()> {
        let step = "keto DELETE /admin/relation-tuples";
        let request = transport
            .client()
            .delete(self.write("admin/relation-tuples"))
            .query(tuple);
        expect_status(step, transport.send(step, request).await?, &[204]).await?;
        Ok(())
    }

    /// `POST /relation-tuples/check/openapi` on the read API: whether the
    /// subject has the relation or permission on the object (after
    /// subject sets and permission rules are applied).
    pub async fn check<T: Transport>(&self, transport: &T, tuple: &Relationship) -> Result<bool> {
        let step = "keto POST /relation-tuples/check/openapi";
        let request = transport
            .client()
            .post(self.read("relation-tuples/check/openapi"))
            .json(tuple);
        let result: CheckResult =
            expect_json(step, transport.send(step, request).await?, &[200]).await?;
        Ok(result.allowed)
    }
}
