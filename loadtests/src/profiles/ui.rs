//! The self-service UI's measured transactions: what a person's browser
//! asks for, page by page and redirect by redirect, through the app's
//! pages and Kratos behind them ([`scenarios::flows::ui`]).

use std::sync::Arc;

use goose::goose::{GooseUser, TransactionResult};
use harness::{Error, Result};
use scenarios::flows::ui;
use url::Url;

use super::kratos::{account, fresh_browser_on_failure, keep_account, newcomer};
use crate::context::Context;
use crate::goose_transport::GooseTransport;

/// The UI's origin; the run's checks refused a UI profile without one.
fn app(ctx: &Context) -> Result<&Url> {
    ctx.ui
        .as_ref()
        .ok_or_else(|| Error::unexpected("ui", "the run has no self-service UI"))
}

/// Signs in through the app's login page, lands on its welcome page (the
/// app asks Kratos who this is), signs out by its link.
pub(super) async fn login_logout(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let account = account(user).await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let app = app(&ctx)?;
        let person = &account.person;
        let welcome = ui::log_in(&t, app, &person.email, &person.password).await?;
        ui::log_out(&t, &welcome).await?;
        Ok(account)
    }
    .await;
    let finished = t.finish(result);
    keep_account(user, &ctx, finished)
}

/// A new person signs up through the app's pages, verifies by the mailed
/// code, signs in and out.
pub(super) async fn signup(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let who = newcomer(&ctx, "ui-signup")?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let app = app(&ctx)?;
        ui::sign_up(&t, app, &who).await?;
        let welcome = ui::log_in(&t, app, &who.person.email, &who.person.password).await?;
        ui::log_out(&t, &welcome).await.map(drop)
    }
    .await;
    let finished = t.finish(result);
    fresh_browser_on_failure(user, &ctx, finished)
}
