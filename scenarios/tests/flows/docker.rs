//! A Docker daemon that cannot be reached, or that hangs, fails the start
//! within seconds with a message that names its address and the fix. The
//! daemon's address is process-wide (`DOCKER_HOST`), so each case runs in a
//! process of its own.

use std::time::{Duration, Instant};

/// Runs [`docker_child`] with `DOCKER_HOST` set to `host` and returns what
/// it printed: the start's error and how long it took.
async fn start_with_docker_host(host: &str) -> (String, Duration) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                "docker::docker_child",
                "--nocapture",
            ])
            .env("DOCKER_HOST", host)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the child ends within a minute")
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("docker child: "))
        .unwrap_or_else(|| panic!("no verdict from the child:\n{text}"))
        .to_owned();
    let (ms, error) = line.split_once(' ').unwrap();
    (error.to_owned(), Duration::from_millis(ms.parse().unwrap()))
}

#[tokio::test]
async fn a_missing_daemon_names_its_socket_and_the_fix() {
    let socket =
        std::env::temp_dir().join(format!("orygate-no-docker-{}.sock", std::process::id()));
    let (error, took) = start_with_docker_host(&format!("unix://{}", socket.display())).await;
    assert!(error.contains("reach the Docker daemon"), "{error}");
    assert!(error.contains(&socket.display().to_string()), "{error}");
    assert!(error.contains("scripts/prepare.sh"), "{error}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn a_hung_daemon_fails_in_under_10_s_with_the_fix() {
    // A socket that accepts and never answers, as a hung daemon does.
    let socket =
        std::env::temp_dir().join(format!("orygate-hung-docker-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let started = Instant::now();
    let (error, took) = start_with_docker_host(&format!("unix://{}", socket.display())).await;
    held.abort();
    let _ = std::fs::remove_file(&socket);

    assert!(error.contains("seems hung"), "{error}");
    assert!(error.contains("scripts/prepare.sh"), "{error}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Starts a stack against whatever `DOCKER_HOST` says and prints
/// `docker child: <ms> <error>`.
#[tokio::test]
#[ignore = "run by the Docker tests in a process of their own"]
async fn docker_child() {
    let started = Instant::now();
    let outcome = harness::OryStack::builder().with_keto().start().await;
    let error = outcome.map_or_else(|e| e.to_string().replace('\n', " "), |_| "started".into());
    println!("docker child: {} {error}", started.elapsed().as_millis());
}
