//! Keto's checks: its write API kept off the read port.

use reqwest::Method;
use serde_json::json;

use super::{Context, Evidence, Probe, Verdict};

check!(
    Keto,
    WRITE_NOT_ON_READ,
    "keto-write-not-on-read",
    "Keto's read port does not take writes",
    write_not_on_read
);

async fn write_not_on_read(cx: &Context<'_>) -> Verdict {
    let Some(keto) = &cx.deployment.keto else {
        return super::absent("keto");
    };
    let url = keto.read("admin/relation-tuples");
    let agent = cx.app.agent();
    // An empty list of changes: the write API takes it (204) and writes
    // nothing, so probing a deployment changes nothing; a read port
    // answers it 404 or 405.
    let request = agent.client().patch(url.clone()).json(&json!([]));
    match Probe::send(agent, "keto", Method::PATCH, &url, "no changes", request).await {
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
