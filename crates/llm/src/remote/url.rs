//! The endpoint's URL: normalised, and never shown with credentials.

use super::embed::EMBED_API_KEY_ENV;
use super::API_KEY_ENV;

/// `url` as it may be shown: anything before an `@` after the scheme
/// (credentials, however malformed) replaced by `***` (a spinner, an error
/// message, a record never carry them).
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    match rest.rsplit_once('@') {
        Some((_, after)) => format!("{scheme}***@{after}"),
        None => format!("{scheme}{rest}"),
    }
}

/// The base URL as used: scheme http or https, no credentials (no `@`
/// anywhere), no query or fragment, no trailing slash, `/v1` when there
/// was no path.
pub(crate) fn base_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let shown = redact(url);
    if url.contains('@') {
        return Err(format!(
            "`{shown}`: give the host without credentials (an API key goes in ${API_KEY_ENV}, or ${EMBED_API_KEY_ENV} for an embedding server)"
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{shown}` is not a URL (http://host:port/v1)"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{shown}`: only http and https are spoken"));
    }
    if rest.contains(['?', '#']) {
        return Err(format!("`{shown}`: a base URL takes no query or fragment"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the URL holds control characters or spaces".into());
    }
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err(format!("`{shown}` names no host"));
    }
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "v1" } else { path };
    Ok(format!("{scheme}://{host}/{path}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    #[test]
    fn base_urls_are_normalised_and_credentials_refused_unshown() {
        assert_eq!(
            base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(base_url("http://h:1/v1/").unwrap(), "http://h:1/v1");
        assert_eq!(
            base_url("https://api.x/openai/v1").unwrap(),
            "https://api.x/openai/v1"
        );
        assert!(base_url("ftp://h/v1").is_err());
        assert!(base_url("http://h/v1?key=1").is_err());
        assert!(base_url("h:8080").is_err());
        assert!(base_url("http://h/v1\n").is_ok());
        assert!(base_url("http://h/v 1").is_err());
        // Credentials, well-formed or not (a `/` in the password ends the
        // authority early for a naive split), are refused and never shown.
        for url in [
            "http://user:secret@h/v1",
            "http://alice:s3cr/et@127.0.0.1/v1",
            "https://a:b@c@h/v1",
        ] {
            let e = base_url(url).unwrap_err();
            assert!(e.contains(API_KEY_ENV), "{e}");
            assert!(
                !e.contains("secret") && !e.contains("s3cr") && !e.contains("a:b"),
                "{e}"
            );
        }
        assert_eq!(redact("https://a:b@h:1/v1"), "https://***@h:1/v1");
        assert_eq!(redact("h:1"), "h:1");
    }
}
