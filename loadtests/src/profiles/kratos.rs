//! Kratos' measured transactions: session checks by cookie and token,
//! login, recovery, settings, sign-up, and Kratos' own liveness.

use std::sync::Arc;

use goose::goose::{GooseUser, TransactionError, TransactionResult};
use harness::kratos::Session;
use harness::{Error, Mailbox, Result, kratos::Kratos, transport::Transport};
use scenarios::flows::{login, logout, settings};
use scenarios::{Person, User, journey};

use crate::context::Context;
use crate::glue::{custom, started};
use crate::goose_transport::GooseTransport;

/// What a user of a profile keeps between transactions.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) person: Person,
    /// Their inbox, when the stack's mail can be read.
    pub(super) mailbox: Option<Mailbox>,
    /// Set once signed in.
    pub(super) identity_id: Option<String>,
    /// A native app's session token.
    pub(super) token: Option<String>,
}

/// whoami with the user's cookie or token; the session must be the user's
/// own, not merely a 200.
pub(super) async fn whoami(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let account = account(user).await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let session = ctx.kratos.whoami(&t, account.token.as_deref()).await?;
        expect_own(&ctx.kratos, &session, &account)
    }
    .await;
    t.finish(result)
}

/// The same session two ways in one round, so that the difference is
/// what the proxy adds: whoami straight at Kratos, then the app's `/me`
/// through Oathkeeper, which checks the session with Kratos itself before
/// it forwards the request (200 from the app, or Oathkeeper's refusal).
pub(super) async fn gateway(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let account = account(user).await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let session = ctx.kratos.whoami(&t, account.token.as_deref()).await?;
        expect_own(&ctx.kratos, &session, &account)?;
        let (url, step) = ctx
            .gateway
            .as_ref()
            .ok_or_else(|| Error::unexpected("gateway", "the run has no Oathkeeper"))?;
        let mut request = t.client().get(url.clone());
        // The cookie and token variants as steps of their own.
        let step = if let Some(token) = &account.token {
            request = request.bearer_auth(token);
            step.clone().tagged("token")
        } else {
            step.clone().tagged("cookie")
        };
        let response = t.send(&step, request).await?;
        harness::response::text(&step, response).await.map(drop)
    }
    .await;
    t.finish(result)
}

/// The relationship that lets the identity `id` view a document of its
/// own: `Document:gateway-doc-<id>#viewers@<id>`.
pub(super) fn own_document(id: &str) -> harness::keto::Relationship {
    harness::keto::Relationship::new("Document", &format!("gateway-doc-{id}"), "viewers", id)
}

/// A document of the user's own, two ways in one round: Keto's check
/// straight (may `id` view it?), then `/documents/<it>` through
/// Oathkeeper, which checks the session with Kratos and asks Keto before
/// it forwards the request.
pub(super) async fn gateway_document(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let account = account(user).await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let id = account
            .identity_id
            .as_deref()
            .ok_or_else(|| Error::unexpected("gateway-keto", "the user is not signed in"))?;
        let keto = ctx
            .keto
            .as_ref()
            .ok_or_else(|| Error::unexpected("gateway-keto", "the run has no Keto"))?;
        let document = own_document(id);
        let view = harness::keto::Relationship::new("Document", &document.object, "view", id);
        if !keto.check_as(&t, &view, None, None).await? {
            return Err(Error::unexpected(
                "keto check",
                format!("{view}: Keto denies the owner's own document"),
            ));
        }
        let (me, _) = ctx
            .gateway
            .as_ref()
            .ok_or_else(|| Error::unexpected("gateway-keto", "the run has no Oathkeeper"))?;
        // Beside `/me`, under the same proxy base.
        let url = me
            .join(&format!("documents/{}", document.object))
            .map_err(|e| Error::unexpected("gateway-keto", e.to_string()))?;
        let step = harness::Step::get("oathkeeper", &url);
        let response = t.send(&step, t.client().get(url.clone())).await?;
        harness::response::text(&step, response).await.map(drop)
    }
    .await;
    t.finish(result)
}

/// `GET /health/alive` with the user's browser: a 200 and its body read.
pub(super) async fn alive(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let (url, step) = &ctx.alive;
        let response = t.send(step, t.client().get(url.clone())).await?;
        harness::response::text(step, response).await.map(drop)
    }
    .await;
    t.finish(result)
}

/// A fresh browser login, whoami, logout.
pub(super) async fn login_whoami_logout(
    user: &mut GooseUser,
    ctx: Arc<Context>,
) -> TransactionResult {
    let mut account = account(user).await?;
    let t = GooseTransport::new(user, &ctx)?;
    let kratos = &ctx.kratos;
    let result = async {
        login::browser(&t, kratos, &account.person.email, &account.person.password).await?;
        let session = kratos.whoami(&t, None).await?;
        if account.identity_id.is_none() {
            account.identity_id = Some(identity_id(kratos, &session)?);
        }
        expect_own(kratos, &session, &account)?;
        logout::browser(&t, kratos).await?;
        Ok(account)
    }
    .await;
    let finished = t.finish(result);
    keep_account(user, &ctx, finished)
}

/// Forgot the password: recovery by the mailed code, a new password in
/// settings; the account keeps the new one. The browser then holds the
/// recovery's session: it signs out for the next round.
pub(super) async fn recover(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let mut account = account(user).await?;
    let Some(mailbox) = account.mailbox.clone() else {
        return Err(custom(Error::unexpected(
            "recovery",
            "no mailbox: recovery reads codes from the stack's mail",
        )));
    };
    // A code that came too late for an earlier round must not be taken for
    // this round's.
    mailbox.clear();
    let t = GooseTransport::new(user, &ctx)?;
    let kratos = &ctx.kratos;
    let result = async {
        let password = rotate(&account.person.password);
        let person = scenarios::User {
            person: account.person.clone(),
            mailbox,
        };
        journey::browser_recovery(&t, &person, kratos, &password).await?;
        logout::browser(&t, kratos).await?;
        account.person.password = password;
        Ok(account)
    }
    .await;
    let finished = t.finish(result);
    keep_account(user, &ctx, finished)
}

/// A new password for the next round, as long as the policy asks, and
/// unlike the last.
fn rotate(password: &str) -> String {
    let round: u32 = password
        .rsplit_once('~')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0);
    let base = password.rsplit_once('~').map_or(password, |(b, _)| b);
    format!("{base}~{}", round + 1)
}

/// A signed-in browser renames its person in the settings flow.
pub(super) async fn rename(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let account = account(user).await?;
    // A different name each round, so every save is a change.
    let first = format!("{} {}", account.person.first_name, user.get_iterations());
    let t = GooseTransport::new(user, &ctx)?;
    let p = &account.person;
    let result = settings::browser_profile(
        &t,
        &ctx.kratos,
        &[
            ("traits.email", &p.email),
            ("traits.name.first", &first),
            ("traits.name.last", &p.last_name),
        ],
    )
    .await;
    t.finish(result).map(drop)
}

/// Ends a transaction that changed the account: kept for the next round on
/// success; on failure the user starts over with a new browser.
pub(super) fn keep_account(
    user: &mut GooseUser,
    ctx: &Context,
    finished: std::result::Result<Account, Box<TransactionError>>,
) -> TransactionResult {
    let account = fresh_browser_on_failure(user, ctx, finished)?;
    user.set_session_data(account);
    Ok(())
}

/// After a failed journey the browser may hold a session or a flow half
/// done (a login whose answer was lost), and every later iteration would
/// fail on it: as a person would, the user starts over with a new browser.
pub(super) fn fresh_browser_on_failure<T>(
    user: &mut GooseUser,
    ctx: &Context,
    result: std::result::Result<T, Box<TransactionError>>,
) -> std::result::Result<T, Box<TransactionError>> {
    if result.is_err() {
        let browser = ctx.browser().map_err(custom)?;
        ctx.seat(user, browser.agent());
    }
    result
}

/// The next new person for the sign-up profile `profile`; refused without
/// the stack's mail sink, which sign-up reads its codes from.
pub(super) fn newcomer(ctx: &Context, profile: &str) -> Result<User, Box<TransactionError>> {
    ctx.next_user().ok_or_else(|| {
        custom(Error::unexpected(
            profile,
            "no mail sink: sign-up reads codes from the stack's mail",
        ))
    })
}

/// The whole sign-up journey for a new person.
pub(super) async fn signup(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let person = newcomer(&ctx, "signup")?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = journey::browser_signup(&t, &person, &ctx.kratos).await;
    let finished = t.finish(result);
    fresh_browser_on_failure(user, &ctx, finished).map(drop)
}

pub(super) async fn account(
    user: &GooseUser,
) -> std::result::Result<Account, Box<TransactionError>> {
    started(user, "an account").await
}

pub(super) fn identity_id(kratos: &Kratos, session: &Session) -> Result<String> {
    session
        .identity
        .as_ref()
        .map(|i| i.id.clone())
        .ok_or_else(|| {
            Error::unexpected(kratos.whoami_step().name(), "the session has no identity")
        })
}

/// The session is the account's own.
fn expect_own(kratos: &Kratos, session: &Session, account: &Account) -> Result<()> {
    let got = identity_id(kratos, session)?;
    match &account.identity_id {
        Some(own) if *own == got => Ok(()),
        Some(own) => Err(Error::unexpected(
            kratos.whoami_step().name(),
            format!("the session is identity {got}'s, not this user's ({own})"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use scenarios::Person;

    use super::*;

    #[test]
    fn a_rotated_password_differs_each_round_and_keeps_its_length_up() {
        let first = rotate("ABCDEFGHJKLMNPQRSTUV");
        assert_eq!(first, "ABCDEFGHJKLMNPQRSTUV~1");
        assert_eq!(rotate(&first), "ABCDEFGHJKLMNPQRSTUV~2");
    }

    #[test]
    fn a_session_of_another_identity_fails_the_whoami_step() {
        let kratos = Kratos::public_only(url::Url::parse("http://127.0.0.1:4433/").unwrap());
        let session: Session = serde_json::from_value(serde_json::json!({
            "id": "s", "identity": {"id": "someone-else", "schema_id": "person", "traits": {}}
        }))
        .unwrap();
        let mut account = Account {
            person: Person::fake(1),
            mailbox: None,
            identity_id: Some("me".into()),
            token: None,
        };
        let err = expect_own(&kratos, &session, &account).unwrap_err();
        assert_eq!(err.step(), Some("kratos GET /sessions/whoami"));
        assert!(err.to_string().contains("someone-else"), "{err}");
        account.identity_id = Some("someone-else".into());
        expect_own(&kratos, &session, &account).unwrap();
    }
}
