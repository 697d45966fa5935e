//! The `keto-check` profile: each user writes relationships of its own at
//! its start, unmeasured, then checks three things per round, each its own
//! step: a direct viewer, a viewer through a team three folders up, and a
//! stranger who must be denied (a denial searches the whole tree).

use std::sync::Arc;

use goose::goose::{GooseUser, TransactionResult};
use harness::keto::Relationship;
use harness::{Error, Result, keto::Keto};

use crate::context::Context;
use crate::glue::started;
use crate::goose_transport::GooseTransport;

/// What a user checks, with the answer each must get.
#[derive(Debug, Clone)]
struct Checks {
    direct: Relationship,
    inherited: Relationship,
    stranger: Relationship,
}

/// The relationships of user `n`, in the model of `ory/keto/`: a memo
/// they view directly, and a report in a folder two folders below one
/// their team views.
fn relationships(n: u64) -> (Vec<Relationship>, Checks) {
    let rel = |text: String| {
        text.parse::<Relationship>()
            .expect("the profile's relationships are well formed")
    };
    let person = format!("load-person-{n}");
    let tuples = vec![
        rel(format!("Group:load-team-{n}#members@{person}")),
        rel(format!("Document:load-memo-{n}#viewers@{person}")),
        rel(format!(
            "Folder:load-top-{n}#viewers@Group:load-team-{n}#members"
        )),
        rel(format!("Folder:load-mid-{n}#parents@Folder:load-top-{n}")),
        rel(format!("Folder:load-low-{n}#parents@Folder:load-mid-{n}")),
        rel(format!(
            "Document:load-report-{n}#parents@Folder:load-low-{n}"
        )),
    ];
    let checks = Checks {
        direct: Relationship::new("Document", &format!("load-memo-{n}"), "view", &person),
        inherited: Relationship::new("Document", &format!("load-report-{n}"), "view", &person),
        stranger: Relationship::new(
            "Document",
            &format!("load-report-{n}"),
            "view",
            &format!("load-stranger-{n}"),
        ),
    };
    (tuples, checks)
}

fn keto(ctx: &Context) -> Result<&Keto> {
    ctx.keto
        .as_ref()
        .ok_or_else(|| Error::unexpected("keto-check", "the run has no Keto"))
}

/// A user's start: a cookie-less client, and its relationships written in
/// one transaction.
pub async fn start(user: &mut GooseUser, ctx: &Context) -> Result<()> {
    let app = ctx.app()?;
    ctx.seat(user, app.agent());
    let (tuples, checks) = relationships(ctx.next_number());
    keto(ctx)?.insert_all(&app, &tuples).await?;
    user.set_session_data(checks);
    Ok(())
}

/// The measured round: three checks, each a step named by its kind.
pub async fn checks(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let checks: Checks = started(user, "relationships").await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let keto = keto(&ctx)?;
        for (tag, check, allowed) in [
            ("direct", &checks.direct, true),
            ("inherited", &checks.inherited, true),
            ("denied", &checks.stranger, false),
        ] {
            if keto.check_as(&t, check, None, Some(tag)).await? != allowed {
                return Err(Error::unexpected(
                    format!("keto check [{tag}]"),
                    format!(
                        "{check}: Keto answers {}, the relationships say {}",
                        if allowed { "denied" } else { "allowed" },
                        if allowed { "allowed" } else { "denied" }
                    ),
                ));
            }
        }
        Ok(())
    }
    .await;
    t.finish(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_get_objects_of_their_own() {
        let (a, checks) = relationships(1);
        let (b, _) = relationships(2);
        assert!(a.iter().all(|t| !b.contains(t)));
        assert_eq!(checks.inherited.object, "load-report-1");
        assert!(a.iter().any(|t| t.object == checks.direct.object));
    }
}
