//! Joining API paths onto a deployment's base URLs, and a URL's site.

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

/// A URL's site, as SameSite decides what is same-site (RFC 6265bis 5.2):
/// its scheme and registrable domain, or its address for an IP. The
/// registrable domain is taken as the name's last two labels, as the
/// public suffix list's default rule has it for names under `.test` and
/// `.com`-like suffixes; a name under a two-label suffix (`co.uk`) is
/// taken as its suffix's, which makes two sites under it one.
pub fn site(url: &Url) -> (String, String) {
    let host = match url.host() {
        Some(url::Host::Domain(name)) => {
            let labels: Vec<&str> = name.trim_end_matches('.').rsplit('.').take(2).collect();
            labels.into_iter().rev().collect::<Vec<_>>().join(".")
        }
        Some(host) => host.to_string(),
        None => String::new(),
    };
    (url.scheme().to_owned(), host)
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
