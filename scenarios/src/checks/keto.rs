//! Keto's checks: its write API kept off the read port.

use reqwest::Method;
use serde_json::json;

use super::{Check, CheckFuture, Context, Evidence, Probe, Scope, Verdict};

pub const WRITE_NOT_ON_READ: Check = Check {
    id: "keto-write-not-on-read",
    scope: Scope::Keto,
    title: "Keto's read port does not take writes",
    run: |cx| Box::pin(write_not_on_read(cx)) as CheckFuture<'_>,
};

async fn write_not_on_read(cx: &Context<'_>) -> Verdict {
    let Some(keto) = &cx.deployment.keto else {
        return super::absent("keto");
    };
    let url = keto.read("admin/relation-tuples");
    let agent = cx.app.agent();
    // A tuple in a namespace no config has: refused even where writes are
    // taken, so probing a deployment writes nothing.
    let tuple = json!({"namespace": "orygate-gate-no-such-namespace", "object": "o", "relation": "r", "subject_id": "s"});
    let request = agent.client().put(url.clone()).json(&tuple);
    match Probe::send(agent, "keto", Method::PUT, &url, "a relationship", request).await {
        Ok(p) if matches!(p.status, 404 | 405) => {
            Verdict::Passed(format!("the read port answers a write with {}", p.status))
        }
        Ok(p) => Verdict::Failed(vec![Evidence::answer(
            &p,
            format!(
                "the read port handled a write ({}): {}",
                p.status,
                p.body_start()
            ),
        )]),
        Err(e) => Verdict::Failed(vec![e]),
    }
}
