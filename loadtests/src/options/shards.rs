//! Which part of a run this process is: its shard (`--shard`, or the
//! engine's index with `--shards`) and the instant its measured window
//! opens (`--start-at`, maybe after `--epoch`), shared by the shards.

use std::time::Duration;

use crate::error::{Error, Result};

use super::Options;

/// The longest a run waits for its `--start-at`.
const MAX_START_WAIT: Duration = Duration::from_secs(3600);

/// An instant as RFC 3339 with its offset (`2026-12-06T20:30:00Z`,
/// `2026-12-06T21:30:00+01:00`) or Unix seconds.
fn instant(text: &str) -> std::result::Result<std::time::SystemTime, String> {
    if let Ok(seconds) = text.trim().parse::<u64>() {
        return Ok(std::time::UNIX_EPOCH + Duration::from_secs(seconds));
    }
    text.trim()
        .parse::<jiff::Timestamp>()
        .map(std::time::SystemTime::from)
        .map_err(|e| {
            format!("{e}: write RFC 3339 with its offset (2026-12-06T20:30:00Z) or Unix seconds")
        })
}

impl Options {
    /// This process's shard: `--shard`, or the engine's index
    /// (`JOB_COMPLETION_INDEX`, from 0) of `--shards`.
    pub fn shard(&self) -> Result<Option<reports::document::Shard>> {
        self.shard_from(std::env::var("JOB_COMPLETION_INDEX").ok().as_deref())
    }

    fn shard_from(&self, index: Option<&str>) -> Result<Option<reports::document::Shard>> {
        if self.shard.is_some() {
            return Ok(self.shard);
        }
        match (index, self.shards) {
            (None, None) => Ok(None),
            (None, Some(n)) => Err(Error::Usage(format!(
                "--shards {n} needs this process's index: JOB_COMPLETION_INDEX (a Kubernetes \
                 Indexed Job sets it), or give --shard I/{n}"
            ))),
            (Some(index), None) => Err(Error::Usage(format!(
                "JOB_COMPLETION_INDEX={index} makes this process a shard: give --shards N (or \
                 ORYGATE_SHARDS), how many the run has"
            ))),
            (Some(index), Some(count)) => {
                let i: u32 = index.trim().parse().map_err(|_| {
                    Error::Usage(format!("JOB_COMPLETION_INDEX={index:?} is not a number"))
                })?;
                if i >= count {
                    return Err(Error::Usage(format!(
                        "JOB_COMPLETION_INDEX={i} is not below --shards {count} (it counts from 0)"
                    )));
                }
                Ok(Some(reports::document::Shard {
                    index: i + 1,
                    count,
                }))
            }
        }
    }

    /// When the measured window opens (`--start-at`), if asked.
    pub fn start_at(&self) -> Result<Option<std::time::SystemTime>> {
        let Some(text) = self.start_at.as_deref() else {
            return Ok(None);
        };
        let bad = |why: String| Error::Usage(format!("--start-at {text}: {why}"));
        let at = if let Some(after) = text.strip_prefix('+') {
            let after = humantime::parse_duration(after).map_err(|e| bad(e.to_string()))?;
            let epoch = self.epoch.as_deref().ok_or_else(|| {
                bad("a relative instant needs --epoch (or ORYGATE_EPOCH) to count from".into())
            })?;
            instant(epoch).map_err(|e| Error::Usage(format!("--epoch {epoch}: {e}")))? + after
        } else {
            instant(text).map_err(bad)?
        };
        let now = std::time::SystemTime::now();
        if let Ok(ahead) = at.duration_since(now)
            && ahead > MAX_START_WAIT
        {
            return Err(bad(format!(
                "{} from now: orygate waits at most {} for the window",
                humantime::format_duration(Duration::from_secs(ahead.as_secs())),
                humantime::format_duration(MAX_START_WAIT)
            )));
        }
        Ok(Some(at))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn options(args: &[&str]) -> Options {
        Options::parse_from(std::iter::once("orygate").chain(args.iter().copied()))
    }

    #[test]
    fn a_shard_comes_from_the_flag_or_the_engines_index() {
        use reports::document::Shard;
        let shard = |args: &[&str], index: Option<&str>| options(args).shard_from(index);
        assert_eq!(shard(&[], None).unwrap(), None);
        // A Kubernetes Indexed Job counts from 0; shards from 1.
        assert_eq!(
            shard(&["--shards", "3"], Some("0")).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        assert_eq!(
            shard(&["--shards", "3"], Some("2")).unwrap(),
            Some(Shard { index: 3, count: 3 })
        );
        assert_eq!(
            shard(&["--shard", "2/2", "--shards", "3"], Some("0")).unwrap(),
            Some(Shard { index: 2, count: 2 })
        );
        let err = |args: &[&str], index| shard(args, index).unwrap_err().to_string();
        assert!(err(&["--shards", "3"], Some("3")).contains("not below --shards 3"));
        assert!(err(&["--shards", "3"], Some("x")).contains("not a number"));
        assert!(err(&[], Some("1")).contains("give --shards N"));
        assert!(err(&["--shards", "2"], None).contains("JOB_COMPLETION_INDEX"));
    }

    #[test]
    fn the_start_is_an_instant_or_a_delay_after_a_shared_epoch() {
        let at = |args: &[&str]| options(args).start_at();
        assert_eq!(at(&[]).unwrap(), None);
        let soon = std::time::SystemTime::now() + Duration::from_secs(90);
        let epoch = soon
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        assert_eq!(
            at(&["--start-at", "+30s", "--epoch", &epoch]).unwrap(),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(epoch.parse::<u64>().unwrap() + 30))
        );
        assert_eq!(
            at(&["--start-at", "2026-01-02T03:04:05Z"]).unwrap(),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_767_323_045))
        );
        assert_eq!(
            at(&["--start-at", "2026-01-02T04:04:05+01:00"]).unwrap(),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_767_323_045))
        );
        let err = |args: &[&str]| at(args).unwrap_err().to_string();
        assert!(err(&["--start-at", "+30s"]).contains("needs --epoch"));
        assert!(err(&["--start-at", "tomorrow"]).contains("RFC 3339"));
        // No offset: which zone is meant cannot be known.
        assert!(err(&["--start-at", "2026-01-02T03:04:05"]).contains("with its offset"));
        assert!(err(&["--start-at", "+2h", "--epoch", &epoch]).contains("waits at most 1h"));
    }
}
