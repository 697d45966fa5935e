//! Container logs, read back when something failed.

use testcontainers::{ContainerAsync, GenericImage};

/// The last `lines` lines of a container's output (stderr, where Ory logs,
/// then stdout), each cut to a readable length.
pub(crate) async fn tail(container: &ContainerAsync<GenericImage>, lines: usize) -> String {
    let stderr = container.stderr_to_vec().await.unwrap_or_default();
    let stdout = container.stdout_to_vec().await.unwrap_or_default();
    let text = [stderr, stdout]
        .iter()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    last_lines(&text, lines)
}

fn last_lines(text: &str, lines: usize) -> String {
    const WIDTH: usize = 600;
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = kept.len().saturating_sub(lines);
    kept[start..]
        .iter()
        .map(|l| match l.char_indices().nth(WIDTH) {
            Some((cut, _)) => format!("{}…", &l[..cut]),
            None => (*l).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn keeps_the_last_non_empty_lines() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }

    #[test]
    fn cuts_long_lines() {
        let line = "x".repeat(1000);
        assert_eq!(last_lines(&line, 1).chars().count(), 601);
    }
}
