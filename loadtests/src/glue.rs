//! Between the flows' errors and Goose's transactions: a flow's error as a
//! failed transaction, and what a user's start left it.

use goose::goose::{GooseUser, TransactionError};
use harness::Error;

/// How long a user whose start failed waits before each failed round.
const FAILED_START_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// What the user's start left it (`what`, for the message). When the start
/// failed, the round fails, after a pause: a round that fails without
/// awaiting anything would spin its worker thread and starve the run
/// (its timers, its kill switch), so that the load never ends.
pub(crate) async fn started<T: Clone + Send + Sync + 'static>(
    user: &GooseUser,
    what: &str,
) -> std::result::Result<T, Box<TransactionError>> {
    if let Some(data) = user.get_session_data::<T>() {
        return Ok(data.clone());
    }
    tokio::time::sleep(FAILED_START_PAUSE).await;
    Err(Box::new(TransactionError::Custom(format!(
        "this user has no {what}: its start failed"
    ))))
}

#[allow(clippy::needless_pass_by_value, clippy::unnecessary_box_returns)]
pub(crate) fn custom(e: Error) -> Box<TransactionError> {
    Box::new(TransactionError::Custom(e.to_string()))
}
