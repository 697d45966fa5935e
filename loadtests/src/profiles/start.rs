//! A profile's users' start, unmeasured, before the window: a client of the
//! right kind with its own jar (or none) and what the profile needs (an
//! account, a session, a client, relationships), tried again after a
//! transient failure (see [`crate::setup`]).

use std::sync::Arc;

use goose::goose::{GooseUser, Transaction, TransactionFunction};
use harness::{Result, transport::Transport};
use scenarios::flows::login;
use scenarios::journey;

use super::kratos::{Account, identity_id};
use super::{hydra, keto};
use crate::context::Context;

/// How a profile's users start, unmeasured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// A browser, nothing else: every iteration is a new person.
    FreshBrowser,
    /// A browser with a verified account, signed out.
    VerifiedBrowser,
    /// A browser with a verified account, signed in (session cookie).
    SignedInBrowser,
    /// As [`Start::SignedInBrowser`], and a document of its own in Keto
    /// that it may view (`gateway-keto`).
    SignedInBrowserWithDocument,
    /// A native app with a verified account, signed in (session token).
    SignedInApp,
    /// Relationships of its own in Keto; no Kratos account.
    KetoRelationships,
    /// A verified Kratos account, signed out, and an OAuth2 client.
    OAuth2User,
    /// A confidential OAuth2 client (and an access token to introspect).
    OAuth2Service,
}

/// The user's start, unmeasured: a client of the right kind with its own
/// jar (or none) and what the profile needs, tried again after a transient
/// failure; then the wait for the window (see [`crate::setup`]).
pub(super) fn on_start(start: Start, ctx: Arc<Context>) -> Transaction {
    let function: TransactionFunction = Arc::new(move |user| {
        let ctx = Arc::clone(&ctx);
        Box::pin(async move {
            let index = user.weighted_users_index;
            // `None`: the setup was over before this start could begin (a
            // user launched late, or one that waited for its turn or its
            // next try): left out, and nothing sent during the window.
            let outcome = {
                let _turn = ctx.setup.turn().await;
                let mut attempt = 1;
                loop {
                    if !ctx.setup.is_open() {
                        break None;
                    }
                    match start_once(start, user, &ctx).await {
                        Ok(()) => break Some(Ok(())),
                        Err(e) => match ctx.setup.again(index, attempt, &e) {
                            Some(pause) => {
                                tokio::time::sleep(pause).await;
                                attempt += 1;
                            }
                            None => break Some(Err(e)),
                        },
                    }
                }
            };
            let Some(outcome) = outcome else {
                ctx.setup.leave_out(index);
                ctx.window.setup_over().await;
                return Ok(());
            };
            ctx.start_over(index, &outcome).await;
            Ok(())
        })
    });
    Transaction::new(function)
}

/// One try of a user's start; the user keeps what it made as its session
/// data.
async fn start_once(start: Start, user: &mut GooseUser, ctx: &Context) -> Result<()> {
    match start {
        Start::KetoRelationships => return keto::start(user, ctx).await,
        Start::OAuth2Service => return hydra::start_service(user, ctx).await,
        _ => {}
    }
    let account = if start == Start::SignedInApp {
        let app = ctx.app()?;
        ctx.seat(user, app.agent());
        provision(ctx, &app, start).await?
    } else {
        let browser = ctx.browser()?;
        ctx.seat(user, browser.agent());
        let account = provision(ctx, &browser, start).await?;
        if let (Start::SignedInBrowserWithDocument, Some(id)) = (
            start,
            account.as_ref().and_then(|a| a.identity_id.as_deref()),
        ) {
            let keto = ctx
                .keto
                .as_ref()
                .ok_or_else(|| harness::Error::unexpected("gateway-keto", "the run has no Keto"))?;
            keto.create(&browser, &super::kratos::own_document(id))
                .await?;
        }
        account
    };
    match (start, account) {
        (Start::OAuth2User, Some(account)) => {
            let client = hydra::register_client(ctx).await?;
            user.set_session_data(hydra::CodeUser {
                email: account.person.email,
                password: account.person.password,
                client,
            });
        }
        (_, Some(account)) => user.set_session_data(account),
        (_, None) => {}
    }
    Ok(())
}

/// Gives a starting user the account `start` asks for: signed up through
/// the flows when the stack's mail can be read, else created through the
/// admin API; then signed in if asked.
async fn provision<T: Transport>(ctx: &Context, t: &T, start: Start) -> Result<Option<Account>> {
    if start == Start::FreshBrowser {
        return Ok(None);
    }
    let kratos = &ctx.kratos;
    let (person, mailbox) = if let Some(user) = ctx.next_user() {
        if start == Start::SignedInApp {
            journey::api_register_verified(t, &user, kratos).await?;
        } else {
            journey::browser_register_verified(t, &user, kratos).await?;
        }
        (user.person, Some(user.mailbox))
    } else {
        (ctx.admin_account().await?.0, None)
    };
    let mut account = Account {
        person,
        mailbox,
        identity_id: None,
        token: None,
    };
    match start {
        Start::SignedInBrowser | Start::SignedInBrowserWithDocument => {
            login::browser(t, kratos, &account.person.email, &account.person.password).await?;
            account.identity_id = Some(identity_id(kratos, &kratos.whoami(t, None).await?)?);
        }
        Start::SignedInApp => {
            let login =
                login::api(t, kratos, &account.person.email, &account.person.password).await?;
            account.identity_id = Some(identity_id(kratos, &login.session)?);
            account.token = Some(login.session_token);
        }
        Start::VerifiedBrowser
        | Start::FreshBrowser
        | Start::KetoRelationships
        | Start::OAuth2User
        | Start::OAuth2Service => {}
    }
    Ok(Some(account))
}
