//! The results document of a run (the `reports` crate's), written to the
//! output folder as JSON and in the other formats asked for.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use reports::document::{LoadResults, Machine, MailCounts, Results, Settings};
pub use reports::{SCHEMA, VERSION};

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
/// `formats` beside it; returns the paths, the JSON first.
pub fn write(r: &Results, dir: &Path, formats: &[reports::Format]) -> Result<Vec<PathBuf>> {
    let mut stem = format!("orygate-{}", r.started_at);
    if let Some(shard) = r.settings.shard {
        let _ = write!(stem, "-shard-{}-of-{}", shard.index, shard.count);
    }
    let all = reports::Format::with_json(formats);
    reports::write(r, dir, &stem, &all).map_err(|e| Error::Report(e.to_string()))
}
