//! The results document of a run (the `reports` crate's), written to the
//! output folder as JSON and in the other formats asked for.

use std::path::{Path, PathBuf};

use reports::document::{MailCounts, Results};

use crate::error::{Error, Result};

/// What the stack's mail sink received, handed out and dropped.
pub fn mail_counts(s: harness::MailStats) -> MailCounts {
    MailCounts {
        delivered: s.delivered,
        collected: s.collected,
        waiting: s.waiting,
        dropped: s.dropped,
    }
}

/// Writes `r` as `<dir>/orygate-<started_at>[-shard-I-of-N].json` and in
/// `formats` beside it; returns the paths, the JSON first. A run that
/// started in the same second wrote there already (runs in parallel into
/// one folder): this one is `orygate-<started_at>-2[-shard-...]`, `-3`, ...
pub fn write(r: &Results, dir: &Path, formats: &[reports::Format]) -> Result<Vec<PathBuf>> {
    let shard = r
        .settings
        .shard
        .map(|s| format!("-shard-{}-of-{}", s.index, s.count))
        .unwrap_or_default();
    let stem = claim(dir, |n| match n {
        1 => format!("orygate-{}{shard}", r.started_at),
        n => format!("orygate-{}-{n}{shard}", r.started_at),
    })?;
    let all = reports::Format::with_json(formats);
    reports::write(r, dir, &stem, &all).map_err(|e| Error::Report(e.to_string()))
}

/// The first of the stems `nth(1)`, `nth(2)`, ... whose JSON file is not in
/// `dir`, claimed by creating that file (empty, until it is written): two
/// processes never get the same one.
fn claim(dir: &Path, nth: impl Fn(u32) -> String) -> Result<String> {
    let failed = |action: &str, path: &Path, e: std::io::Error| {
        Error::Report(format!("could not {action} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| failed("create", dir, e))?;
    for n in 1..=1000 {
        let stem = nth(n);
        let path = dir.join(format!("{stem}.json"));
        match std::fs::File::create_new(&path) {
            Ok(_) => return Ok(stem),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed("create", &path, e)),
        }
    }
    Err(Error::Report(format!(
        "{} and 999 more like it are taken in {}",
        nth(1),
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_that_start_in_the_same_second_get_files_of_their_own() {
        let dir = std::env::temp_dir().join(format!("orygate-claim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let nth = |n: u32| match n {
            1 => "orygate-7-shard-1-of-2".to_owned(),
            n => format!("orygate-7-{n}-shard-1-of-2"),
        };
        let stems: Vec<String> = (0..3).map(|_| claim(&dir, nth).unwrap()).collect();
        assert_eq!(
            stems,
            [
                "orygate-7-shard-1-of-2",
                "orygate-7-2-shard-1-of-2",
                "orygate-7-3-shard-1-of-2"
            ]
        );
        assert!(dir.join("orygate-7-3-shard-1-of-2.json").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
