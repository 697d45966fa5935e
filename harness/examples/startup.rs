//! Measures stack start-up to ready: Kratos alone, then all three services,
//! each started and removed `N` times (default 5). Prints every sample and
//! the median.
//!
//!     cargo run --release -p harness --example startup -- 5

use std::time::{Duration, Instant};

use harness::{OryStack, OryStackBuilder};

/// A named way to build a stack.
type Case = (&'static str, fn() -> OryStackBuilder);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(5), |n| n.parse())?;
    let cases: [Case; 2] = [
        ("kratos", || OryStack::builder().with_kratos()),
        ("kratos+hydra+keto", || OryStack::builder().with_all()),
    ];
    for (name, builder) in cases {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let stack = builder().start().await?;
            samples.push(started.elapsed());
            stack.stop().await?;
        }
        println!(
            "{name:<18} median {:>6.0} ms   samples (ms): {}",
            ms(median(&mut samples)),
            samples
                .iter()
                .map(|d| format!("{:.0}", ms(*d)))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
