//! A bounded poll: asks again at an interval until an answer settles the
//! question or the bound passes. Every wait in orygate has a bound.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Calls `attempt` every `every` until it breaks with a result, for at
/// most `bound`: `Ok` with that result, or `Err` with what the last
/// attempt saw when the bound passed.
pub async fn until<T, L, F>(
    every: Duration,
    bound: Duration,
    mut attempt: impl FnMut() -> F,
) -> Result<T, L>
where
    F: Future<Output = ControlFlow<T, L>>,
{
    let started = Instant::now();
    loop {
        match attempt().await {
            ControlFlow::Break(done) => return Ok(done),
            ControlFlow::Continue(seen) if started.elapsed() + every > bound => return Err(seen),
            ControlFlow::Continue(_) => tokio::time::sleep(every).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_stops_at_the_answer_or_the_bound() {
        let mut n = 0;
        let found = until(Duration::from_millis(1), Duration::from_secs(5), || {
            n += 1;
            let n = n;
            async move {
                if n == 3 {
                    ControlFlow::Break(n)
                } else {
                    ControlFlow::Continue(n)
                }
            }
        })
        .await;
        assert_eq!(found, Ok(3));
        let started = Instant::now();
        let never: Result<(), &str> = until(
            Duration::from_millis(10),
            Duration::from_millis(50),
            || async { ControlFlow::Continue("still queued") },
        )
        .await;
        assert_eq!(never, Err("still queued"));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
