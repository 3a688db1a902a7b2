//! Where a request may go: the tenant's base URL, and the targets under it.

use reqwest::Url;

use super::error::ClientError;
use crate::canonical::BasePath;

/// A checked base URL: the tenant's (`https://x.atlassian.net`, `https://x.atlassian.net/wiki`)
/// or the authorization server's.
#[derive(Clone, Debug)]
pub(crate) struct ProductBase {
    /// The base URL as url serializes it, without a trailing slash.
    text: String,
    /// The parsed base, for comparing origins.
    url: Url,
    /// Its path, stripped from request paths before signing (`/wiki`).
    path: BasePath,
}

impl ProductBase {
    /// Checks a base URL: `https://`, or `http://` to a loopback address (tests); no query,
    /// fragment or credentials.
    pub(crate) fn parse(text: &str) -> Result<Self, ClientError> {
        let url = Url::parse(text).map_err(|_| ClientError::InvalidBaseUrl)?;
        let scheme_allowed =
            url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url));
        let plain = url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
            && !url.cannot_be_a_base()
            && url.host_str().is_some_and(|host| !host.is_empty());
        if !(scheme_allowed && plain) {
            return Err(ClientError::InvalidBaseUrl);
        }
        let text = url.as_str().trim_end_matches('/').to_owned();
        let path = BasePath::parse(url.path()).map_err(|_| ClientError::InvalidBaseUrl)?;
        Ok(Self { text, url, path })
    }

    /// The base URL, without a trailing slash.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The base path that signing strips (`/wiki`, or empty).
    pub(crate) fn path(&self) -> &BasePath {
        &self.path
    }

    /// Whether requests to this base bypass proxies (a loopback address).
    pub(crate) fn is_loopback(&self) -> bool {
        is_loopback(&self.url)
    }

    /// The URL of `target`: a path relative to the base URL (`/rest/api/3/myself`, with any
    /// query), or an absolute URL under it (a `self` or `next` link the product returned).
    ///
    /// The URL is parsed once here and never re-encoded later: what is signed is what is sent.
    pub(crate) fn resolve(&self, target: &str) -> Result<Url, ClientError> {
        // url would silently drop tabs and newlines, and read `\` as `/` in the path.
        if target.chars().any(char::is_control) || target.contains('#') {
            return Err(ClientError::InvalidPath);
        }
        let path_end = target.find('?').unwrap_or(target.len());
        if target[..path_end].contains('\\') {
            return Err(ClientError::InvalidPath);
        }
        // url trims trailing spaces (a query value's, say); encoding them first keeps them.
        let target = target.replace(' ', "%20");
        let url = if target.starts_with('/') {
            Url::parse(&format!("{}{target}", self.text)).map_err(|_| ClientError::InvalidPath)?
        } else if has_http_scheme(&target) {
            Url::parse(&target).map_err(|_| ClientError::InvalidPath)?
        } else {
            return Err(ClientError::InvalidPath);
        };
        self.check_under(&url)?;
        Ok(url)
    }

    /// Refuses a URL of another origin, with credentials, or outside the base path.
    fn check_under(&self, url: &Url) -> Result<(), ClientError> {
        let same_origin = url.scheme() == self.url.scheme()
            && url.host() == self.url.host()
            && url.port_or_known_default() == self.url.port_or_known_default();
        if !same_origin || !url.username().is_empty() || url.password().is_some() {
            return Err(ClientError::OutsideBaseUrl);
        }
        let base = self.path.as_str();
        let under = url
            .path()
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if under {
            Ok(())
        } else {
            Err(ClientError::OutsideBaseUrl)
        }
    }
}

fn has_http_scheme(target: &str) -> bool {
    let lower = |n: usize| target.get(..n).map(str::to_ascii_lowercase);
    lower(8).is_some_and(|p| p == "https://") || lower(7).is_some_and(|p| p == "http://")
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn resolve(base: &str, target: &str) -> Result<String, ClientError> {
        ProductBase::parse(base)?
            .resolve(target)
            .map(|url| url.to_string())
    }

    #[test]
    fn base_urls_are_checked() {
        for ok in [
            "https://x.atlassian.net",
            "https://x.atlassian.net/",
            "https://x.atlassian.net/wiki",
            "http://127.0.0.1:8080/wiki/",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(ProductBase::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://x.atlassian.net",
            "https://x.atlassian.net?x=1",
            "https://x.atlassian.net#f",
            "https://user:pw@x.atlassian.net",
            "ftp://x.atlassian.net",
            "x.atlassian.net",
            "",
            "data:text/plain,x",
        ] {
            assert_eq!(
                ProductBase::parse(bad).unwrap_err(),
                ClientError::InvalidBaseUrl,
                "{bad}"
            );
        }
        let wiki = ProductBase::parse("https://x.atlassian.net/wiki/").unwrap();
        assert_eq!(wiki.as_str(), "https://x.atlassian.net/wiki");
        assert_eq!(wiki.path().as_str(), "/wiki");
    }

    #[test]
    fn targets_resolve_under_the_base() {
        let wiki = "https://x.atlassian.net/wiki";
        assert_eq!(
            resolve(wiki, "/rest/api/space?limit=1").unwrap(),
            "https://x.atlassian.net/wiki/rest/api/space?limit=1"
        );
        assert_eq!(
            resolve(wiki, "https://X.atlassian.net:443/wiki/rest/api/content/1").unwrap(),
            "https://x.atlassian.net/wiki/rest/api/content/1"
        );
        assert_eq!(
            resolve(wiki, "/rest/a b?q=x y ").unwrap(),
            "https://x.atlassian.net/wiki/rest/a%20b?q=x%20y%20"
        );
        assert_eq!(
            resolve("https://x.atlassian.net", "/").unwrap(),
            "https://x.atlassian.net/"
        );
    }

    #[test]
    fn targets_outside_the_base_are_refused() {
        let wiki = "https://x.atlassian.net/wiki";
        for outside in [
            "https://evil.example/wiki/rest",
            "https://x.atlassian.net.evil.example/wiki/rest",
            "https://x.atlassian.net:8443/wiki/rest",
            "http://x.atlassian.net/wiki/rest",
            "https://user@x.atlassian.net/wiki/rest",
            "https://x.atlassian.net/rest/api/3/issue",
            "https://x.atlassian.net/wikipedia",
            "/../rest/api/3/issue",
            "/%2e%2e/admin",
            "/rest/../../admin",
        ] {
            assert_eq!(
                resolve(wiki, outside).unwrap_err(),
                ClientError::OutsideBaseUrl,
                "{outside}"
            );
        }
        for invalid in [
            "rest/api",
            "",
            "//evil.example/x#",
            "/p#frag",
            "/p\n",
            "/p\tq",
            "/a\\..\\b",
            "javascript:alert(1)",
            "mailto:x@y",
        ] {
            assert_eq!(
                resolve(wiki, invalid).unwrap_err(),
                ClientError::InvalidPath,
                "{invalid:?}"
            );
        }
        // A doubled slash stays a path on the tenant's host.
        assert_eq!(
            resolve("https://x.atlassian.net", "//evil.example/x").unwrap(),
            "https://x.atlassian.net//evil.example/x"
        );
    }
}
