//! A test process stopped by a signal leaves no container behind: Ctrl-C
//! (SIGINT), a cancelled CI job (SIGTERM), and SIGKILL, after which nothing
//! in the process can run. The harness's watcher removes them.

use std::time::{Duration, Instant};

use harness::OryStack;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::init_tracing;

#[tokio::test]
async fn a_test_killed_by_any_signal_leaves_no_container_10_s_later() {
    // A shell starts background jobs with SIGINT ignored, and children
    // inherit that: such a run cannot stop its child with SIGINT, which
    // says nothing of the harness.
    let signals: Vec<&'static str> = ["INT", "TERM", "KILL"]
        .into_iter()
        .filter(|s| *s != "INT" || !sigint_ignored())
        .collect();
    if signals.len() < 3 {
        println!("signals: SIGINT is ignored in this process (a background job): not tried");
    }
    let outcomes = futures::future::join_all(signals.into_iter().map(stop_child_with)).await;
    let mut report = Vec::new();
    for (signal, left, took) in &outcomes {
        report.push(format!("SIG{signal}: {} left after {took:?}", left.len()));
    }
    println!("signals: {}", report.join("; "));
    for (signal, left, _) in outcomes {
        assert!(left.is_empty(), "after SIG{signal}: {left:?}");
    }
}

/// Whether this process ignores SIGINT (bit 2 of `SigIgn` in
/// `/proc/self/status`), as a shell's background jobs do.
fn sigint_ignored() -> bool {
    procfs::process::Process::myself()
        .and_then(|me| me.status())
        .is_ok_and(|status| status.sigign & (1 << (2 - 1)) != 0)
}

/// Starts [`signal_child`] in a process of its own, sends it `signal` once
/// its stack is ready, and returns the stack's containers that are left
/// once they are all gone or 10 s have passed, and when that was.
async fn stop_child_with(signal: &'static str) -> (&'static str, Vec<String>, Duration) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = tokio::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "signals::signal_child",
            "--nocapture",
        ])
        // Not this run's containers: the watcher's removals here are meant.
        .env("ORYGATE_RUN", format!("signal-test-{signal}"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the child test starts");
    let pid = child.id().expect("a running child").to_string();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let stack = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(id) = line.strip_prefix("signal child: stack ready ") {
                return id.to_owned();
            }
        }
        panic!("the child ended before its stack was ready");
    })
    .await
    .expect("the child's stack is ready within a minute");
    assert_eq!(
        harness::stack_containers(&stack).await.unwrap().len(),
        1,
        "the stack runs before the signal"
    );

    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let signalled = Instant::now();
    // The process ends at once; on a machine busy starting other tests'
    // containers, its exit has been seen to take longer than 10 s.
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap_or_else(|_| panic!("the child did not end within 30 s of SIG{signal}"))
        .unwrap();
    loop {
        let left = harness::stack_containers(&stack).await.unwrap();
        if left.is_empty() || signalled.elapsed() > Duration::from_secs(10) {
            return (signal, left, signalled.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts a stack, says so, and waits to be stopped by a signal.
#[tokio::test]
#[ignore = "run by the signal test in a process of its own"]
async fn signal_child() {
    init_tracing();
    let stack = OryStack::builder()
        .with_keto()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    println!("signal child: stack ready {}", stack.id());
    tokio::time::sleep(Duration::from_secs(120)).await;
}
