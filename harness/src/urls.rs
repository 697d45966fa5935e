//! Joining API paths onto a deployment's base URLs.

use url::Url;

/// `path` (relative; a leading `/` is ignored) under `base`, keeping every
/// segment of the base's path: `http://h/ory` and `http://h/ory/` both give
/// `http://h/ory/sessions/whoami` for `sessions/whoami`.
pub fn join(base: &Url, path: &str) -> Url {
    let mut dir = base.clone();
    if !dir.path().ends_with('/') {
        let with_slash = format!("{}/", dir.path());
        dir.set_path(&with_slash);
    }
    dir.join(path.trim_start_matches('/'))
        .expect("a relative path joins onto a base URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_base_path_with_or_without_a_trailing_slash() {
        for base in ["http://127.0.0.1:4433/ory", "http://127.0.0.1:4433/ory/"] {
            let base = Url::parse(base).unwrap();
            assert_eq!(
                join(&base, "/sessions/whoami").as_str(),
                "http://127.0.0.1:4433/ory/sessions/whoami"
            );
        }
        let root = Url::parse("http://127.0.0.1:4433").unwrap();
        assert_eq!(
            join(&root, "health/ready").as_str(),
            "http://127.0.0.1:4433/health/ready"
        );
    }
}
