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
/// its scheme and registrable domain (the public suffix list's, compiled
/// in: `example.co.uk` for `auth.example.co.uk`, `orygate.test` for
/// `app.orygate.test` by the list's default rule), the name itself when
/// it is a suffix, or the address for an IP.
pub fn site(url: &Url) -> (String, String) {
    let host = match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            psl::domain_str(name).unwrap_or(name).to_owned()
        }
        Some(host) => host.to_string(),
        None => String::new(),
    };
    (url.scheme().to_owned(), host)
}

/// Whether `domain` is a public suffix (`com`, `co.uk`, `github.io`),
/// for which browsers refuse a cookie's `Domain` (RFC 6265 5.3 step 5).
pub fn is_public_suffix(domain: &str) -> bool {
    let domain = domain.trim_start_matches('.').trim_end_matches('.');
    psl::suffix_str(domain).is_some_and(|s| s.eq_ignore_ascii_case(domain))
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

    #[test]
    fn a_site_is_the_scheme_and_the_registrable_domain() {
        let url = |text: &str| Url::parse(text).unwrap();
        let app = site(&url("http://app.orygate.test:1/x"));
        assert_eq!(app, ("http".into(), "orygate.test".into()));
        assert_eq!(app, site(&url("http://auth.orygate.test:2/")));
        assert_ne!(app, site(&url("http://client.orygate-client.test/")));
        // Schemeful: the same name over https is another site.
        assert_ne!(app, site(&url("https://app.orygate.test/")));
        assert_eq!(site(&url("http://127.0.0.1:8/")).1, "127.0.0.1");
        // Two-label public suffixes and private ones are the list's.
        assert_eq!(site(&url("https://auth.example.co.uk/")).1, "example.co.uk");
        assert_ne!(
            site(&url("https://auth.example.co.uk/")),
            site(&url("https://shop.partner.co.uk/"))
        );
        assert_ne!(
            site(&url("https://a.github.io/")),
            site(&url("https://b.github.io/"))
        );
    }
}
